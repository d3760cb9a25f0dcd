"""The outbox on the real broker and Redis: atomic state + event, and at-least-once relaying that
survives a relay killed between Kafka's ack and its own acknowledgement."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest
import redis

from devstack.local_stack import REPO_ROOT
from helpline.bus import make_producer
from helpline.durability import ReplicaLagError
from helpline.idempotency import DUPLICATE, ApplyOnce
from helpline.outbox import RELAY_GROUP, OutboxRelay, OutboxScript
from helpline.records import OutgoingRecord
from tests.integration.helpers import make_topic, read_all, text, wait_until

# Sets a field only if the expected version matches, and emits only when it wrote.
SET_IF_VERSION = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= tonumber(ARGV[1]) then return {'conflict', current} end
redis.call('HSET', KEYS[1], 'value', ARGV[2], 'version', current + 1)
emit_all()
return {'ok', current + 1}
"""


def test_state_change_and_event_are_written_together(redis_client: redis.Redis, unique: str) -> None:
    stream = f"outbox:{unique}"
    script = OutboxScript(redis_client, stream, SET_IF_VERSION)
    record = OutgoingRecord("t", b"payload", b"key", [("ce_id", b"1"), ("bin", bytes(range(256)))])

    assert script(keys=[f"entity:{unique}"], args=[0, "a"], records=[record]) == [b"ok", 1]
    # A stale version changes nothing and emits nothing.
    assert script(keys=[f"entity:{unique}"], args=[0, "b"], records=[record]) == [b"conflict", 1]

    assert redis_client.hget(f"entity:{unique}", "value") == b"a"
    # redis-py types every reply shape at once; this one is [(id, {field: value})].
    entries: Any = redis_client.xrange(stream)
    assert len(entries) == 1
    fields = entries[0][1]
    assert fields[b"t"] == b"t"
    assert fields[b"v"] == b"payload"
    from helpline.outbox import decode_headers

    assert decode_headers(fields[b"h"]) == record.headers


@pytest.mark.parametrize("restart_as", ["same-relay", "another-relay"])
def test_relay_killed_between_publish_and_ack_still_delivers_once_in_effect(
    kafka_bootstrap: str, redis_url: str, unique: str, restart_as: str
) -> None:
    topic = make_topic(kafka_bootstrap, f"test.outbox.{unique}")
    client = redis.Redis.from_url(redis_url)
    stream = f"outbox:{unique}"
    script = OutboxScript(client, stream, SET_IF_VERSION)
    total = 20
    for i in range(total):
        rec = OutgoingRecord(topic, f"v{i}".encode(), f"k{i}".encode(), [("ce_id", f"evt-{i}".encode())])
        assert script(keys=[f"entity:{unique}:{i}"], args=[0, f"v{i}"], records=[rec])[0] == b"ok"

    # Appended, not yet published: nothing on Kafka until a relay runs.
    assert read_all(kafka_bootstrap, topic, expected=1, timeout=3) == []

    crashed = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.workers.crashing_relay",
            kafka_bootstrap,
            redis_url,
            stream,
            "relay-a",
        ],
        cwd=REPO_ROOT,
    )
    assert crashed.wait(120) == -9
    # Its batch reached Kafka but is still pending in Redis.
    assert len(read_all(kafka_bootstrap, topic, expected=7, timeout=20)) == 7
    assert client.xpending(stream, "relay")["pending"] == 7

    producer = make_producer(kafka_bootstrap, "relay-b")
    name = "relay-a" if restart_as == "same-relay" else "relay-b"
    relay = OutboxRelay(client, stream, producer, consumer_name=name, claim_idle_ms=500, block_ms=200)
    thread = threading.Thread(target=relay.run)
    thread.start()
    try:
        wait_until(lambda: client.xlen(stream) == 0, what="the outbox to drain")
    finally:
        relay.stop()
        thread.join(30)
    producer.close()

    records = read_all(kafka_bootstrap, topic, expected=total + 7)
    ids = [dict(r.headers)["ce_id"].decode() for r in records]
    assert len(ids) == total + 7, "the crashed batch is published twice: at least once, not exactly once"
    assert set(ids) == {f"evt-{i}" for i in range(total)}

    # Consumers drop the duplicates by event id: each effect lands once.
    apply_once = ApplyOnce(client, "return redis.call('HINCRBY', KEYS[1], ARGV[1], 1)", namespace=unique)
    outcomes = [apply_once(event_id, keys=[f"effects:{unique}"], args=[event_id]) for event_id in ids]
    assert outcomes.count(DUPLICATE) == 7
    effects = {text(k): int(v) for k, v in client.hgetall(f"effects:{unique}").items()}
    assert effects == {f"evt-{i}": 1 for i in range(total)}
    assert client.xpending(stream, "relay")["pending"] == 0


def test_one_relay_at_a_time_publishes_a_stream_in_commit_order(
    kafka_bootstrap: str, redis_client: redis.Redis, unique: str
) -> None:
    topic = make_topic(kafka_bootstrap, f"test.outbox.lease.{unique}")
    stream = f"outbox:{unique}"
    script = OutboxScript(redis_client, stream, SET_IF_VERSION)
    producer = make_producer(kafka_bootstrap, "relay-lease")
    first = OutboxRelay(redis_client, stream, producer, consumer_name="host", block_ms=50, lease_ms=60_000)
    second = OutboxRelay(redis_client, stream, producer, consumer_name="host", block_ms=50, lease_ms=60_000)

    def append(i: int) -> None:
        record = OutgoingRecord(topic, f"v{i}".encode(), b"same-key", [("ce_id", f"evt-{i}".encode())])
        script(keys=[f"entity:{unique}:{i}"], args=[0, f"v{i}"], records=[record])

    for i in range(3):
        append(i)
    assert first.run_once() == 3
    append(3)
    # Same host name, other process: the lease, not the consumer name, decides who publishes.
    assert second.run_once() == 0
    assert first.run_once() == 1
    redis_client.delete(f"{stream}:relay-lease")
    append(4)
    assert second.run_once() == 1
    producer.close()
    values = [r.value for r in read_all(kafka_bootstrap, topic, expected=5)]
    assert values == [f"v{i}".encode() for i in range(5)]


def test_the_relay_publishes_nothing_the_replicas_do_not_hold_yet(
    kafka_bootstrap: str, redis_client: redis.Redis, unique: str
) -> None:
    """Behind a lagging replica barrier (helpline.durability) a round publishes nothing and keeps the
    entries pending; once the barrier passes, they go out in order, each once."""
    topic = make_topic(kafka_bootstrap, f"test.outbox.barrier.{unique}")
    stream = f"outbox:{unique}"
    script = OutboxScript(redis_client, stream, SET_IF_VERSION)
    producer = make_producer(kafka_bootstrap, "relay-barrier")
    lagging = True
    refused: list[int] = []

    def barrier() -> None:
        if lagging:
            refused.append(1)
            raise ReplicaLagError("0 of 1 Redis replicas acknowledged within 10 ms")

    def pending() -> int:
        try:
            return int(redis_client.xpending(stream, RELAY_GROUP)["pending"])
        except redis.ResponseError:  # NOGROUP: the relay has not created its group yet
            return 0

    relay = OutboxRelay(redis_client, stream, producer, block_ms=50, barrier=barrier)
    for i in range(3):
        record = OutgoingRecord(topic, f"v{i}".encode(), b"key", [("ce_id", f"evt-{i}".encode())])
        script(keys=[f"entity:{unique}:{i}"], args=[0, f"v{i}"], records=[record])
    thread = threading.Thread(target=relay.run)
    thread.start()
    try:
        wait_until(lambda: pending() == 3, what="a round to read the entries")
        # Rounds that tried to publish them, each held back by the barrier.
        wait_until(lambda: len(refused) >= 2, what="the barrier to refuse two rounds")
        assert relay.backlog() == 3
        lagging = False
        wait_until(lambda: relay.backlog() == 0, what="the entries to be published")
    finally:
        relay.stop()
        thread.join(30)
    producer.close()
    assert [r.value for r in read_all(kafka_bootstrap, topic, expected=3)] == [b"v0", b"v1", b"v2"]
