"""The bus on the real broker: dead-lettering, commits after success, crash recovery, and the
platform metrics by event type."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable

import pytest
import redis
from prometheus_client import CollectorRegistry

from devstack.local_stack import REPO_ROOT
from helpline.bus import BusMetrics, ConsumerLoop, RetryPolicy, make_producer, publish
from helpline.durability import ReplicaLagError
from helpline.events import STRUCTURED_JSON, event_type_label, new_event, to_record, to_structured_json
from helpline.kafka.port import Producer
from helpline.records import OutgoingRecord, PermanentError, Record
from helpline.v1 import contact_events_pb2
from tests.integration.helpers import make_topic, read_all, text, wait_until

# Sent after a new member joined, to know when it got all it would (see redelivered); enough keys
# that the partitioner puts some on every partition.
MARKER = b"marker"
MARKERS = 32


def test_poison_message_goes_to_dlq_and_the_next_is_processed(kafka_bootstrap: str, unique: str) -> None:
    topic = make_topic(kafka_bootstrap, f"test.poison.{unique}", partitions=1)
    producer = make_producer(kafka_bootstrap, "test")
    for value in (b"good-1", b"poison", b"good-2", b"transient"):
        publish(producer, OutgoingRecord(topic, value, key=b"k", headers=[("ce_id", value)]))

    handled: list[bytes] = []
    transient_attempts = []

    def handler(record) -> None:  # type: ignore[no-untyped-def]
        if record.value == b"poison":
            raise ValueError("cannot parse this payload")
        if record.value == b"transient":
            transient_attempts.append(1)
            if len(transient_attempts) < 3:
                raise ConnectionError("downstream briefly away")
        handled.append(record.value)

    loop = ConsumerLoop(
        bootstrap=kafka_bootstrap,
        group_id=f"g-{unique}",
        topics=[topic],
        handler=handler,
        dlq_producer=producer,
        retry=RetryPolicy(max_retries=3, backoff_ms=10),
    )
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        wait_until(lambda: len(handled) == 3, what="the three good records")
    finally:
        loop.stop()
        thread.join(30)
    assert handled == [b"good-1", b"good-2", b"transient"]
    assert len(transient_attempts) == 3

    dead = read_all(kafka_bootstrap, f"{topic}.dlq", expected=1)
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert dead[0].value == b"poison"
    assert dead[0].key == b"k"
    assert b"ValueError: cannot parse this payload" in headers["dlq_error"]
    assert headers["dlq_topic"] == topic.encode()
    assert headers["dlq_offset"] == b"1"
    assert headers["dlq_partition"] == b"0"
    assert headers["dlq_attempts"] == b"4"
    assert headers["ce_id"] == b"poison"

    # Everything, the poison message included, was committed: a new consumer of the group gets nothing.
    assert redelivered(kafka_bootstrap, f"g-{unique}", topic, producer) == []
    producer.close()


def test_permanent_error_skips_retries(kafka_bootstrap: str, unique: str) -> None:
    topic = make_topic(kafka_bootstrap, f"test.permanent.{unique}", partitions=1)
    producer = make_producer(kafka_bootstrap, "test")
    publish(producer, OutgoingRecord(topic, b"bad"))
    calls = []

    def handler(record) -> None:  # type: ignore[no-untyped-def]
        calls.append(record.offset)
        raise PermanentError("schema violation")

    loop = ConsumerLoop(
        bootstrap=kafka_bootstrap,
        group_id=f"g-{unique}",
        topics=[topic],
        handler=handler,
        dlq_producer=producer,
    )
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        dead = read_all(kafka_bootstrap, f"{topic}.dlq", expected=1)
    finally:
        loop.stop()
        thread.join(30)
    assert calls == [0]
    assert dict(dead[0].headers)["dlq_attempts"] == b"1"
    producer.close()


def test_records_are_counted_by_event_type(kafka_bootstrap: str, unique: str) -> None:
    topic = make_topic(kafka_bootstrap, f"test.typed.{unique}", partitions=1)
    producer = make_producer(kafka_bootstrap, "test")
    received = new_event(
        contact_events_pb2.ContactReceived(tenant_id="acme", contact_id="c-1"), source="/test"
    )
    accepted = new_event(
        contact_events_pb2.ContactAccepted(tenant_id="acme", contact_id="c-1"), source="/test"
    )
    structured = [("content-type", STRUCTURED_JSON.encode())]
    # The key tells the handler what to do with each record.
    for record in (
        to_record(received, topic, key=b"ok"),
        to_record(received, topic, key=b"flaky"),
        to_record(received, topic, key=b"poison"),
        OutgoingRecord(topic, to_structured_json(accepted), b"ok", structured),
        OutgoingRecord(topic, b"{}", b"ok", [("ce_type", b"helpline.made_up.v1")]),
        OutgoingRecord(topic, b"no headers at all", b"poison"),
        OutgoingRecord(topic, b"not json", b"poison", structured),
    ):
        publish(producer, record)

    flaky_attempts: list[int] = []

    def handler(record) -> None:  # type: ignore[no-untyped-def]
        if record.key == b"poison":
            raise PermanentError("cannot be handled")
        if record.key == b"flaky" and not flaky_attempts:
            flaky_attempts.append(1)
            raise ConnectionError("downstream briefly away")

    registry = CollectorRegistry()
    loop = ConsumerLoop(
        bootstrap=kafka_bootstrap,
        group_id=f"g-{unique}",
        topics=[topic],
        handler=handler,
        dlq_producer=producer,
        retry=RetryPolicy(max_retries=3, backoff_ms=10),
        metrics=BusMetrics(registry, event_type_label),
    )

    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, {"topic": topic, **labels}) or 0.0

    def handled(event_type: str, outcome: str) -> float:
        return value("helpline_events_handled_total", type=event_type, outcome=outcome)

    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        wait_until(
            lambda: (
                sum(handled(t, o) for t in (received.type, accepted.type, "unknown") for o in ("ok", "dlq"))
                == 7
            ),
            what="the seven records",
        )
    finally:
        loop.stop()
        thread.join(30)
    producer.close()

    assert received.type == "helpline.contact.received.v1"
    assert handled(received.type, "ok") == 2
    assert handled(received.type, "dlq") == 1
    assert value("helpline_event_retries_total", type=received.type) == 1
    assert value("helpline_dlq_writes_total", type=received.type) == 1
    # Structured mode is labelled from the type in its JSON.
    assert handled(accepted.type, "ok") == 1
    # A type the event registry does not know, no CloudEvent at all, undecodable JSON: "unknown".
    assert handled("unknown", "ok") == 1
    assert handled("unknown", "dlq") == 2
    assert value("helpline_dlq_writes_total", type="unknown") == 2
    assert value("helpline_events_handled_total", type="helpline.made_up.v1", outcome="ok") == 0


def redelivered(
    bootstrap: str, group: str, topic: str, producer: Producer, partitions: int = 1
) -> list[bytes]:
    """What a new member of the group gets before markers sent once it joined: nothing, once all is
    committed. A record left uncommitted on a partition comes before that partition's markers, so
    once every marker is in (and they reached every partition), all there was to redeliver was."""
    again: list[Record] = []
    loop = ConsumerLoop(
        bootstrap=bootstrap,
        group_id=group,
        topics=[topic],
        handler=again.append,
        dlq_producer=producer,
    )
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        wait_until(loop.assigned.is_set, what="assignment")
        keys = [f"marker-{n}".encode() for n in range(MARKERS)]
        for key in keys:
            producer.send(topic, value=MARKER, key=key)
        producer.flush()
        wait_until(lambda: sum(record.value == MARKER for record in again) >= len(keys), what="every marker")
    finally:
        loop.stop()
        thread.join(30)
    assert len({record.partition for record in again if record.value == MARKER}) == partitions
    return [record.value for record in again if record.value != MARKER and record.value is not None]


def run_worker(module: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO_ROOT)


def test_consumer_killed_mid_batch_applies_every_effect_once(
    kafka_bootstrap: str, redis_url: str, unique: str
) -> None:
    topic = make_topic(kafka_bootstrap, f"test.crash.{unique}", partitions=2)
    producer = make_producer(kafka_bootstrap, "test")
    total = 300
    for i in range(total):
        producer.send(
            topic, value=f"v{i}".encode(), key=str(i % 7).encode(), headers=[("id", f"e{i}".encode())]
        )
    producer.flush()
    producer.close()
    ns = f"crash:{unique}"
    group = f"g-{unique}"
    client = redis.Redis.from_url(redis_url)

    worker = "tests.integration.workers.counting_consumer"
    first = run_worker(worker, kafka_bootstrap, redis_url, topic, group, ns, "120")
    assert first.wait(120) == -9, "the worker should have killed itself mid-batch"
    assert client.hlen(f"{ns}:effects") < total

    second = run_worker(worker, kafka_bootstrap, redis_url, topic, group, ns, "0")
    try:
        wait_until(lambda: client.hlen(f"{ns}:effects") == total, what="every effect")
    finally:
        second.terminate()
        assert second.wait(60) == 0, "SIGTERM should stop the consumer cleanly"

    effects = {text(k): int(v) for k, v in client.hgetall(f"{ns}:effects").items()}
    assert effects == {f"e{i}": 1 for i in range(total)}
    deliveries = client.lrange(f"{ns}:deliveries", 0, -1)
    # The batch in hand when the first worker died was never committed, so it came again...
    assert len(deliveries) > total
    # ...and every event was delivered at least once.
    assert {text(d) for d in deliveries} == set(effects)


def test_a_batch_handler_takes_each_poll_whole_and_its_offsets_are_committed(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = make_topic(kafka_bootstrap, f"test.batch.{unique}", partitions=2)
    producer = make_producer(kafka_bootstrap, "test")
    received = new_event(
        contact_events_pb2.ContactReceived(tenant_id="acme", contact_id="c-1"), source="/test"
    )
    total = 60
    for i in range(total):
        publish(producer, to_record(received, topic, key=str(i).encode()))
    batches: list[list[bytes]] = []
    one_by_one: list[bytes | None] = []

    def handle_batch(records) -> int:  # type: ignore[no-untyped-def]
        batches.append([r.key for r in records])
        return len(records)

    registry = CollectorRegistry()
    loop = ConsumerLoop(
        bootstrap=kafka_bootstrap,
        group_id=f"g-{unique}",
        topics=[topic],
        handler=lambda r: one_by_one.append(r.key),
        batch_handler=handle_batch,
        dlq_producer=producer,
        metrics=BusMetrics(registry, event_type_label),
    )
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        wait_until(lambda: sum(map(len, batches)) == total, what="every record in a batch")
    finally:
        loop.stop()
        thread.join(30)
    assert one_by_one == []
    assert sorted(key for batch in batches for key in batch) == sorted(str(i).encode() for i in range(total))
    labels = {"topic": topic, "type": received.type, "outcome": "ok"}
    assert registry.get_sample_value("helpline_events_handled_total", labels) == total
    assert registry.get_sample_value("helpline_event_handle_seconds_count", {"topic": topic}) == total

    # Everything was committed: a new consumer of the group gets nothing.
    assert redelivered(kafka_bootstrap, f"g-{unique}", topic, producer, partitions=2) == []
    producer.close()


def _run_until(loop: ConsumerLoop, done: Callable[[], bool], what: str) -> None:
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        wait_until(done, what=what)
    finally:
        loop.stop()
        thread.join(30)


def test_the_record_a_batch_handler_stops_at_is_dead_lettered_and_the_rest_batched_again(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = make_topic(kafka_bootstrap, f"test.batchstop.{unique}", partitions=1)
    producer = make_producer(kafka_bootstrap, "test")
    values = [b"good-1", b"good-2", b"poison", b"good-3", b"good-4"]
    for value in values:
        publish(producer, OutgoingRecord(topic, value, key=b"k"))
    in_batches: list[bytes] = []
    one_by_one: list[bytes] = []

    def handle_batch(records) -> int:  # type: ignore[no-untyped-def]
        for done, record in enumerate(records):
            if record.value == b"poison":
                return done
            in_batches.append(record.value)
        return len(records)

    def handle(record) -> None:  # type: ignore[no-untyped-def]
        if record.value == b"poison":
            raise PermanentError("cannot parse this payload")
        one_by_one.append(record.value)

    loop = ConsumerLoop(
        bootstrap=kafka_bootstrap,
        group_id=f"g-{unique}",
        topics=[topic],
        handler=handle,
        batch_handler=handle_batch,
        dlq_producer=producer,
    )
    _run_until(loop, lambda: len(in_batches) + len(one_by_one) == 4, "the four good records")
    dead = read_all(kafka_bootstrap, f"{topic}.dlq", expected=1)
    producer.close()
    assert in_batches == [b"good-1", b"good-2", b"good-3", b"good-4"]
    assert one_by_one == []
    assert [(d.value, dict(d.headers)["dlq_attempts"]) for d in dead] == [(b"poison", b"1")]


def test_the_records_of_a_failed_batch_are_handled_one_by_one_with_retries(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = make_topic(kafka_bootstrap, f"test.batchfail.{unique}", partitions=1)
    producer = make_producer(kafka_bootstrap, "test")
    for value in (b"first", b"second", b"third"):
        publish(producer, OutgoingRecord(topic, value, key=b"k"))
    in_batches: list[bytes] = []
    one_by_one: list[bytes] = []
    failures: list[bytes] = []

    def handle_batch(records) -> int:  # type: ignore[no-untyped-def]
        # The store is away until the first record has failed once on its own.
        if not failures:
            raise ConnectionError("store away")
        in_batches.extend(r.value for r in records)
        return len(records)

    def handle(record) -> None:  # type: ignore[no-untyped-def]
        if not failures:
            failures.append(record.value)
            raise ConnectionError("store away")
        one_by_one.append(record.value)

    loop = ConsumerLoop(
        bootstrap=kafka_bootstrap,
        group_id=f"g-{unique}",
        topics=[topic],
        handler=handle,
        batch_handler=handle_batch,
        dlq_producer=producer,
        retry=RetryPolicy(max_retries=3, backoff_ms=10),
    )
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        wait_until(lambda: len(in_batches) + len(one_by_one) == 3, what="the three records")
        # The store is back: the next poll's records are a batch again.
        publish(producer, OutgoingRecord(topic, b"fourth", key=b"k"))
        wait_until(lambda: in_batches[-1:] == [b"fourth"], what="the fourth record in a batch")
    finally:
        loop.stop()
        thread.join(30)
    producer.close()
    assert failures == [b"first"]
    assert one_by_one[0] == b"first"
    assert one_by_one + in_batches[:-1] == [b"first", b"second", b"third"]


def test_offsets_wait_for_the_replica_barrier(kafka_bootstrap: str, unique: str) -> None:
    """A commit waits for the barrier (helpline.durability): while the replicas lag, nothing is
    committed and the records come again to the group; once it passes, they are committed."""
    topic = make_topic(kafka_bootstrap, f"test.barrier.{unique}", partitions=1)
    producer = make_producer(kafka_bootstrap, "test")
    received = new_event(
        contact_events_pb2.ContactReceived(tenant_id="acme", contact_id="c-1"), source="/test"
    )

    def consume_five(barrier: Callable[[], None]) -> list[bytes]:
        """Publish five records, let a loop behind `barrier` handle them, then ask the group again."""
        for i in range(5):
            publish(producer, to_record(received, topic, key=str(i).encode()))
        handled: list[bytes | None] = []
        loop = ConsumerLoop(
            bootstrap=kafka_bootstrap,
            group_id=f"g-{unique}",
            topics=[topic],
            handler=lambda r: handled.append(r.key),
            dlq_producer=producer,
            before_commit=barrier,
        )
        # While the barrier refuses, the loop hands the records again (test_replays_...).
        _run_until(loop, lambda: len(handled) >= 5, "every record handled")
        return redelivered(kafka_bootstrap, f"g-{unique}", topic, producer)

    def lagging() -> None:
        raise ReplicaLagError("0 of 1 Redis replicas acknowledged within 10 ms")

    assert len(consume_five(lagging)) == 5
    assert consume_five(lambda: None) == []
    producer.close()


@pytest.mark.parametrize("replay", [True, False])
def test_replays_what_it_handled_when_the_barrier_refuses_a_commit(
    kafka_bootstrap: str, unique: str, replay: bool
) -> None:
    """The records handled since the last commit whose writes no replica acknowledged may die with
    the Redis primary: the loop handles them again (its handlers are idempotent), from the first,
    before anything is committed. A loop told not to (a handler with effects outside Redis) keeps
    them and commits once the barrier passes."""
    topic = make_topic(kafka_bootstrap, f"test.replay.{unique}", partitions=1)
    producer = make_producer(kafka_bootstrap, "test")
    for i in range(5):
        publish(producer, OutgoingRecord(topic, str(i).encode(), key=b"k"))
    handled: list[bytes | None] = []
    refused_after: list[int] = []

    def barrier() -> None:
        # Refuses once, after however many records the loop handled before its first commit.
        if not refused_after:
            refused_after.append(len(handled))
            raise ReplicaLagError("0 of 1 Redis replicas acknowledged within 10 ms")

    loop = ConsumerLoop(
        bootstrap=kafka_bootstrap,
        group_id=f"g-{unique}",
        topics=[topic],
        handler=lambda r: handled.append(r.value),
        dlq_producer=producer,
        before_commit=barrier,
        replay_unkept=replay,
    )
    values = [str(i).encode() for i in range(5)]

    def done() -> bool:
        return bool(refused_after) and len(handled) >= (refused_after[0] if replay else 0) + 5

    _run_until(loop, done, "every record handled after the refusal")
    again = values[: refused_after[0]] if replay else []
    assert handled == again + values
    assert redelivered(kafka_bootstrap, f"g-{unique}", topic, producer) == []
    producer.close()
