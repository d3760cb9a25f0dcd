"""An outbox relay process that dies (SIGKILL) after Kafka acked a batch but before its XACK:
the worst moment, when the events are published and Redis still says they are not."""

from __future__ import annotations

import os
import signal
import sys

import redis

from helpline.bus import make_producer
from helpline.kafka.port import ProduceError
from helpline.outbox import Entry, OutboxRelay


class CrashBeforeAck(OutboxRelay):
    def _settle(self, published: list[bytes], dead: list[tuple[Entry, ProduceError]]) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    bootstrap, redis_url, stream, consumer_name = sys.argv[1:5]
    relay = CrashBeforeAck(
        redis.Redis.from_url(redis_url),
        stream,
        make_producer(bootstrap, "crashing-relay"),
        consumer_name=consumer_name,
        batch=7,
    )
    relay.run()


if __name__ == "__main__":
    main()
