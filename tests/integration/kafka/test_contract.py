"""The port's contract, held by both backends on the real broker: idempotent produce in key order,
ordered consume, commit after effect, rebalance, the DLQ, errors classified alike; and one service
round trip on kafka-python (a round trip over SASL_SSL on both: test_sasl_ssl.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from helpline.bus import ConsumerLoop, RetryPolicy, publish
from helpline.failures import is_transient
from helpline.kafka import clients
from helpline.kafka.options import BACKENDS
from helpline.kafka.port import KafkaError, NewTopic, ProduceError, Start, TopicPartition
from helpline.kafka.reading import read, reader
from helpline.records import OutgoingRecord, PermanentError, Record
from helpline.topics import DLQ_SUFFIX
from tests.integration.helpers import make_topic, wait_until
from tests.integration.test_service_runtime import round_trip


@pytest.fixture(params=BACKENDS)
def client(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def topic(kafka_bootstrap: str, unique: str) -> str:
    name = make_topic(kafka_bootstrap, f"test.contract.{unique}", partitions=3)
    make_topic(kafka_bootstrap, name + DLQ_SUFFIX, partitions=3)
    return name


class Running:
    """A consumer loop on its own thread, stopped at the end."""

    def __init__(self, loop: ConsumerLoop) -> None:
        self.loop = loop
        self.thread = threading.Thread(target=loop.run)

    def __enter__(self) -> ConsumerLoop:
        self.thread.start()
        return self.loop

    def __exit__(self, *_: object) -> None:
        self.loop.stop()
        self.thread.join(30)


def _loop(bootstrap: str, client: str, group: str, topic: str, handler: Any, **kw: Any) -> ConsumerLoop:
    return ConsumerLoop(
        bootstrap=bootstrap,
        group_id=group,
        topics=[topic],
        handler=handler,
        dlq_producer=clients.producer(bootstrap, "test-dlq", client=client),
        client=client,
        **kw,
    )


@pytest.fixture
def producer(kafka_bootstrap: str, client: str) -> Iterator[Any]:
    made = clients.producer(kafka_bootstrap, "test-contract", client=client)
    yield made
    made.close()


def test_a_key_keeps_its_order_and_lands_where_the_other_backend_puts_it(
    kafka_bootstrap: str, client: str, topic: str, producer: Any
) -> None:
    keys = [f"k{i}".encode() for i in range(12)]
    sent = [producer.send(topic, f"{key.decode()}-{n}".encode(), key) for n in range(3) for key in keys]
    producer.flush()
    assert all(d.done and d.succeeded for d in sent)
    delivered = [d.get() for d in sent]
    records = read(kafka_bootstrap, [topic], expected=len(sent))
    assert len(records) == len(sent)
    by_key: dict[bytes | None, list[bytes | None]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_key.setdefault(record.key, []).append(record.value)
    assert by_key == {key: [f"{key.decode()}-{n}".encode() for n in range(3)] for key in keys}
    # Murmur2 on both backends, as the Java client: a key's partition does not depend on the client.
    other = clients.producer(kafka_bootstrap, "test-other", client=next(b for b in BACKENDS if b != client))
    try:
        again = other.send(topic, b"x", keys[0])
        other.flush()
        assert again.get().partition == delivered[0].partition
    finally:
        other.close()


def test_a_record_larger_than_any_topic_takes_is_refused_as_permanent(topic: str, producer: Any) -> None:
    with pytest.raises(ProduceError) as refused:
        producer.send(topic, b"x" * 1_300_000).get(10)
    assert not is_transient(refused.value)


def test_no_broker_is_transient(client: str) -> None:
    admin = clients.admin("127.0.0.1:1", "test-away", timeout_s=1, client=client)
    with pytest.raises(KafkaError) as away:
        admin.topics()
    assert is_transient(away.value)


def test_the_admin_creates_topics_once_and_says_what_the_broker_has(
    kafka_bootstrap: str, client: str, unique: str
) -> None:
    admin = clients.admin(kafka_bootstrap, "test-admin", client=client)
    try:
        wanted = NewTopic(f"test.admin.{unique}", 2, configs={"retention.ms": "60000"})
        assert admin.create_topics([wanted]) == [wanted.name]
        assert admin.create_topics([wanted]) == []
        assert admin.topics()[wanted.name] == 2
        assert admin.configs(wanted.name)["retention.ms"] == "60000"
        assert admin.brokers() == 1
    finally:
        admin.close()


def test_the_bus_handles_in_order_commits_after_the_effect_and_dead_letters(
    kafka_bootstrap: str, client: str, topic: str, producer: Any, unique: str
) -> None:
    for n in range(20):
        publish(producer, OutgoingRecord(topic, str(n).encode(), b"one-key"))
    publish(producer, OutgoingRecord(topic, b"poison", b"one-key", [("h", b"v")]))
    seen: list[bytes] = []

    def handle(record: Record) -> None:
        if record.value == b"poison":
            raise PermanentError("cannot be handled")
        seen.append(record.value or b"")

    group = f"g-{unique}"
    with Running(_loop(kafka_bootstrap, client, group, topic, handle)) as loop:
        wait_until(lambda: len(seen) == 20, what="every record handled")
        dead = read(kafka_bootstrap, [topic + DLQ_SUFFIX], expected=1)
        wait_until(lambda: not loop._handled, what="the commit")
    assert seen == [str(n).encode() for n in range(20)]
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert (dead[0].value, headers["h"], headers["dlq_group"]) == (b"poison", b"v", group.encode())
    probe = clients.consumer(kafka_bootstrap, "test-probe", group, client=client)
    try:
        held = [TopicPartition(topic, p) for p in probe.partitions_of(topic)]
        assert probe.committed(held) == probe.end_offsets(held)
    finally:
        probe.close()


def test_a_record_whose_handler_fails_is_not_committed(
    kafka_bootstrap: str, client: str, topic: str, producer: Any, unique: str
) -> None:
    publish(producer, OutgoingRecord(topic, b"first", b"k"))
    tried = threading.Event()

    def fail(record: Record) -> None:
        tried.set()
        raise ConnectionError("the store is away")

    group = f"g-{unique}"
    with Running(_loop(kafka_bootstrap, client, group, topic, fail)):
        wait_until(tried.is_set, what="the first try")
    again: list[bytes] = []
    with Running(_loop(kafka_bootstrap, client, group, topic, lambda r: again.append(r.value or b""))):
        wait_until(lambda: again == [b"first"], what="the redelivery")


def test_two_members_share_the_partitions_and_handle_each_record_once(
    kafka_bootstrap: str, client: str, topic: str, producer: Any, unique: str
) -> None:
    handled: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def handler(name: str) -> Any:
        def handle(record: Record) -> None:
            with lock:
                handled.append((name, record.value or b""))

        return handle

    group = f"g-{unique}"
    with Running(_loop(kafka_bootstrap, client, group, topic, handler("a"))) as first:
        wait_until(first.assigned.is_set, what="the first member's partitions")
        with Running(_loop(kafka_bootstrap, client, group, topic, handler("b"))) as second:
            wait_until(second.assigned.is_set, what="the second member's partitions")
            for n in range(60):
                publish(producer, OutgoingRecord(topic, str(n).encode(), f"k{n}".encode()))
            wait_until(lambda: len(handled) >= 60, what="every record handled")
    values = sorted(int(v) for _, v in handled)
    assert values == list(range(60))
    assert {name for name, _ in handled} == {"a", "b"}


def test_a_commit_in_the_revoke_callback_is_made_before_the_partitions_move(
    kafka_bootstrap: str, client: str, topic: str, unique: str
) -> None:
    """What ConsumerLoop does on a revoke: commit what it handled, from inside the callback (on
    kafka-python 3 the callback runs where the client cannot block)."""
    group = f"g-{unique}"
    first = clients.consumer(kafka_bootstrap, "test-first", group, client=client)
    second = clients.consumer(kafka_bootstrap, "test-second", group, client=client)
    owned: dict[str, set[TopicPartition]] = {"first": set(), "second": set()}
    revoked: list[TopicPartition] = []

    def on_revoke(partitions: list[TopicPartition]) -> None:
        revoked.extend(partitions)
        first.commit(dict.fromkeys(partitions, 7))

    def joined(name: str, consumer: Any, on_revoke: Any) -> None:
        consumer.subscribe(
            [topic], on_assign=owned[name].update, on_revoke=on_revoke, on_lost=lambda _p: None
        )

    try:
        joined("first", first, on_revoke)
        _poll_until([first], lambda: len(owned["first"]) == 3, "the first member's partitions")
        joined("second", second, lambda _p: None)
        _poll_until([first, second], lambda: bool(owned["second"]), "the second member's partitions")
        assert revoked
        held = sorted(set(revoked))
        assert second.committed(held) == dict.fromkeys(held, 7)
    finally:
        first.close()
        second.close()


def _poll_until(consumers: list[Any], done: Any, what: str) -> None:
    """Poll every member (a rebalance goes on inside their polls) until `done()`."""

    def polled() -> bool:
        for consumer in consumers:
            consumer.poll(0.2, 10)
        return bool(done())

    wait_until(polled, what=what)


def test_partitions_revoked_during_an_outage_are_handled_by_their_new_owner(
    kafka_bootstrap: str, client: str, producer: Any, unique: str
) -> None:
    """The first member rides out its store's outage, paused on its first record; a second joins,
    takes a partition from it mid-retry, and starts where nothing was committed: every record is
    handled, each partition in order, none dead-lettered."""
    topic = make_topic(kafka_bootstrap, f"test.contract.outage.{unique}", partitions=2)
    make_topic(kafka_bootstrap, topic + DLQ_SUFFIX, partitions=2)
    for n in range(40):
        producer.send(topic, str(n).encode(), str(n % 4).encode())
    producer.flush()
    handled: dict[str, list[tuple[int, int]]] = {"first": [], "second": []}
    outage = threading.Event()
    outage.set()

    def handler(name: str) -> Any:
        def handle(record: Record) -> None:
            if name == "first" and outage.is_set():
                raise ConnectionError("the store is away")
            handled[name].append((record.partition, record.offset))

        return handle

    group = f"g-{unique}"
    retry = RetryPolicy(max_retries=0, backoff_ms=50, max_backoff_ms=200)
    with Running(_loop(kafka_bootstrap, client, group, topic, handler("first"), retry=retry)) as first:
        wait_until(lambda: first.paused, what="the first member to ride out the outage")
        with Running(_loop(kafka_bootstrap, client, group, topic, handler("second"), retry=retry)):
            wait_until(lambda: len(handled["second"]) >= 1, what="the second member to take a partition")
            outage.clear()
            wait_until(
                lambda: (
                    {r for rs in handled.values() for r in rs} >= {(p, o) for p in (0, 1) for o in range(20)}
                ),
                what="every record, by one member or the other",
            )
    for records in handled.values():
        for partition in (0, 1):
            offsets = [o for p, o in records if p == partition]
            assert offsets == sorted(offsets)
    assert read(kafka_bootstrap, [topic + DLQ_SUFFIX], expected=1, timeout=2) == []


def test_a_reader_from_the_end_sees_only_what_comes_after(
    kafka_bootstrap: str, client: str, topic: str, producer: Any
) -> None:
    publish(producer, OutgoingRecord(topic, b"before", b"k"))
    with reader(kafka_bootstrap, [topic], Start.END, client=client) as consumer:
        publish(producer, OutgoingRecord(topic, b"after", b"k"))
        found: list[Record] = []

        def polled() -> bool:
            found.extend(consumer.poll(0.5, 10))
            return bool(found)

        wait_until(polled, what="the record after")
    assert [r.value for r in found] == [b"after"]


def test_a_service_round_trip_on_kafka_python(kafka_bootstrap: str, redis_url: str, unique: str) -> None:
    round_trip(kafka_bootstrap, redis_url, unique, kafka_client="kafka-python")
