"""A second consumer joining the group mid-stream takes partitions over without losing a record,
and the records the first one handled before the revocation are not applied twice."""

from __future__ import annotations

import threading
import time

import redis

from helpline.bus import ConsumerLoop, make_producer
from helpline.idempotency import DUPLICATE, ApplyOnce
from tests.integration.helpers import make_topic, text, wait_until


def test_rebalance_mid_stream_loses_nothing(kafka_bootstrap: str, redis_url: str, unique: str) -> None:
    topic = make_topic(kafka_bootstrap, f"test.rebalance.{unique}", partitions=6)
    # Long enough (about 7 s of handling) that the second member always joins before the end.
    total = 1500
    producer = make_producer(kafka_bootstrap, "test")
    for i in range(total):
        producer.send(topic, value=b"x", key=str(i).encode(), headers=[("id", f"e{i}".encode())])
    producer.flush()

    client = redis.Redis.from_url(redis_url)
    apply_once = ApplyOnce(client, "return redis.call('HINCRBY', KEYS[1], ARGV[1], 1)", namespace=unique)
    duplicates = []
    members: dict[str, set[int]] = {"a": set(), "b": set()}

    def handler_for(name: str):  # type: ignore[no-untyped-def]
        def handle(record) -> None:  # type: ignore[no-untyped-def]
            members[name].add(record.partition)
            event_id = dict(record.headers)["id"].decode()
            if apply_once(event_id, keys=[f"{unique}:effects"], args=[event_id]) is DUPLICATE:
                duplicates.append(event_id)
            time.sleep(0.005)

        return handle

    group = f"g-{unique}"
    loops = {
        name: ConsumerLoop(
            bootstrap=kafka_bootstrap,
            group_id=group,
            topics=[topic],
            handler=handler_for(name),
            dlq_producer=producer,
            max_poll_records=20,
            client_id=name,
        )
        for name in ("a", "b")
    }
    threads = {name: threading.Thread(target=loop.run) for name, loop in loops.items()}
    threads["a"].start()
    try:
        wait_until(lambda: client.hlen(f"{unique}:effects") >= 100, what="the first consumer to start")
        threads["b"].start()
        wait_until(lambda: client.hlen(f"{unique}:effects") == total, timeout=120, what="every record")
    finally:
        for loop in loops.values():
            loop.stop()
        for thread in threads.values():
            if thread.is_alive() or thread.ident:
                thread.join(30)
    producer.close()

    effects = {text(k): int(v) for k, v in client.hgetall(f"{unique}:effects").items()}
    assert effects == {f"e{i}": 1 for i in range(total)}
    assert members["b"], "the second consumer should have been given partitions"
    # Commit-on-revoke hands partitions over after what was handled; only a batch whose commit the
    # rebalance itself refused (CommitFailedError) comes again: at most one poll's worth.
    assert len(duplicates) <= 20
