"""A consumer process for the crash tests: applies each record's effect once (by its `id` header),
logs every delivery, and SIGKILLs itself in the middle of a batch when told to."""

from __future__ import annotations

import os
import signal
import sys

import redis

from helpline.bus import ConsumerLoop, make_producer
from helpline.idempotency import ApplyOnce

EFFECT = "redis.call('HINCRBY', KEYS[1], ARGV[1], 1) return redis.call('HLEN', KEYS[1])"


def main() -> None:
    bootstrap, redis_url, topic, group, ns, crash_after = sys.argv[1:7]
    crash_at = int(crash_after)
    client = redis.Redis.from_url(redis_url)
    apply_once = ApplyOnce(client, EFFECT, namespace=ns)

    def handle(record) -> None:  # type: ignore[no-untyped-def]
        event_id = dict(record.headers)["id"].decode()
        deliveries = client.rpush(f"{ns}:deliveries", event_id)
        apply_once(event_id, keys=[f"{ns}:effects"], args=[event_id])
        if crash_at and deliveries == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)

    producer = make_producer(bootstrap, "counting-consumer-dlq")
    loop = ConsumerLoop(
        bootstrap=bootstrap,
        group_id=group,
        topics=[topic],
        handler=handle,
        dlq_producer=producer,
        max_poll_records=50,
    )
    signal.signal(signal.SIGTERM, lambda *_: loop.stop())
    loop.run()
    producer.close()


if __name__ == "__main__":
    main()
