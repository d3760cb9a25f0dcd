"""Outages ridden out by the bus and the relay, on real processes: a frozen Redis under a consumer
and under a relay, records Kafka refuses for good (a rebalance in the middle of an outage, on both
backends: kafka/test_contract.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from helpline import cli
from helpline.bus import BusMetrics, ConsumerLoop, RetryPolicy, make_producer
from helpline.cli import app
from helpline.events import event_type_label
from helpline.kafka.confluent import MESSAGE_MAX_BYTES
from helpline.outbox import OutboxMetrics, OutboxRelay, OutboxScript, dead_letter_stream, requeue_dead_letters
from helpline.records import OutgoingRecord
from helpline.redis_client import connect
from helpline.settings import Settings
from tests.integration.helpers import make_topic, read_all, wait_until
from tests.integration.private_stack import PrivateStack

# Applies a record once, whatever the redelivery: a command sent just before Redis froze is run
# when it thaws, after the client gave up on it and sent it again.
_APPLY_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX') then
  redis.call('RPUSH', KEYS[2], ARGV[1])
end
return 1
"""

_APPEND = "emit_all() return {'ok'}"


def _client(url: str) -> redis.Redis:
    return connect(url, Settings(redis_socket_timeout_seconds=2, redis_pool_timeout_seconds=1))


def _running(loop: ConsumerLoop | OutboxRelay) -> threading.Thread:
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    return thread


def test_a_consumer_rides_out_a_frozen_redis_in_order_and_dead_letters_nothing(
    kafka_bootstrap: str,
    private_stack: PrivateStack,
    unique: str,
) -> None:
    private_stack.start("redis")
    store = _client(private_stack.redis_url)
    apply_once = store.register_script(_APPLY_ONCE)
    topic = make_topic(kafka_bootstrap, f"test.outage.{unique}", partitions=1)
    producer = make_producer(kafka_bootstrap, "test")

    def send(values: range) -> None:
        for i in values:
            producer.send(topic, str(i).encode(), b"k")
        producer.flush()

    registry = CollectorRegistry()
    loop = ConsumerLoop(
        bootstrap=kafka_bootstrap,
        group_id=f"g-{unique}",
        topics=[topic],
        handler=lambda record: apply_once(
            keys=[f"seen:{record.offset}", "order"], args=[record.value or b""]
        ),
        dlq_producer=producer,
        retry=RetryPolicy(max_retries=1, backoff_ms=100, max_backoff_ms=1000),
        metrics=BusMetrics(registry, event_type_label),
    )
    thread = _running(loop)
    try:
        send(range(20))
        wait_until(lambda: store.llen("order") == 20, what="the first records")
        private_stack.freeze("redis")
        send(range(20, 60))
        wait_until(lambda: loop.paused, what="the consumer to pause", timeout=20)
        # Far past the retries an unexpected failure gets: an outage is never dead-lettered.
        time.sleep(8)
        assert thread.is_alive()
        private_stack.thaw("redis")
        wait_until(lambda: store.llen("order") == 60, what="every record after the outage")
        assert not loop.paused
    finally:
        private_stack.thaw("redis") if private_stack.stack.running_pid("redis") else None
        loop.stop()
        thread.join(30)
    assert [int(v) for v in store.lrange("order", 0, -1)] == list(range(60))
    assert registry.get_sample_value("helpline_event_retries_total", {"topic": topic, "type": "unknown"})
    assert registry.get_sample_value("helpline_dlq_writes_total", {"topic": topic, "type": "unknown"}) is None
    assert read_all(kafka_bootstrap, f"{topic}.dlq", expected=1, timeout=2) == []
    producer.close()


def test_the_relay_dead_letters_what_kafka_refuses_for_good_and_publishes_the_rest_in_order(
    kafka_bootstrap: str, redis_client: redis.Redis, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = make_topic(kafka_bootstrap, f"test.outbox.refused.{unique}", partitions=1)
    stream = f"outbox:{unique}"
    append = OutboxScript(redis_client, stream, _APPEND)
    values = [
        b"first",
        # Over the topic's max.message.bytes: the broker refuses it.
        b"b" * 1_100_000,
        b"second",
        # Over what the producer sends at all: librdkafka refuses it before sending.
        b"p" * (MESSAGE_MAX_BYTES + 1),
        b"third",
    ]
    for value in values:
        append(records=[OutgoingRecord(topic, value, b"same-key")])
    producer = make_producer(kafka_bootstrap, "relay")
    registry = CollectorRegistry()
    relay = OutboxRelay(redis_client, stream, producer, block_ms=50, metrics=OutboxMetrics(registry))
    thread = _running(relay)
    try:
        wait_until(lambda: redis_client.xlen(stream) == 0, what="the outbox to drain")
    finally:
        relay.stop()
        thread.join(30)
    assert thread.is_alive() is False
    published = read_all(kafka_bootstrap, topic, expected=3)
    assert [r.value for r in published] == [b"first", b"second", b"third"]
    # redis-py types every reply shape at once; this one is [(id, {field: value})].
    dead: Any = redis_client.xrange(dead_letter_stream(stream))
    assert [len(fields[b"v"]) for _, fields in dead] == [1_100_000, MESSAGE_MAX_BYTES + 1]
    assert all(b"MSG_SIZE_TOO_LARGE" in fields[b"error"] for _, fields in dead)
    assert all(fields[b"t"] == topic.encode() for _, fields in dead)
    assert registry.get_sample_value("helpline_outbox_dead_letters_total", {"stream": stream}) == 2
    assert registry.get_sample_value("helpline_outbox_published_total", {"stream": stream}) == 3

    # The operator's view, and a requeue once the cause is mended (here it is not: they come back).
    url = redis_client.connection_pool.connection_kwargs
    # Wide enough for the error in one piece: the command's console took its width (COLUMNS, else
    # 80 off a terminal) when helpline.cli was imported, whichever test did that first.
    monkeypatch.setattr(cli.out, "width", 300)
    listed = CliRunner().invoke(
        app, ["outbox", "dead", stream, "--redis-url", f"redis://{url['host']}:{url['port']}/{url['db']}"]
    )
    assert listed.exit_code == 0, listed.output
    assert "MSG_SIZE_TOO_LARGE" in listed.output
    assert requeue_dead_letters(redis_client, stream) == 2
    assert (redis_client.xlen(dead_letter_stream(stream)), redis_client.xlen(stream)) == (0, 2)
    relay = OutboxRelay(redis_client, stream, producer, block_ms=50)
    thread = _running(relay)
    try:
        wait_until(lambda: redis_client.xlen(dead_letter_stream(stream)) == 2, what="the second refusal")
    finally:
        relay.stop()
        thread.join(30)
    producer.close()


def test_the_relay_rides_out_a_frozen_redis_and_publishes_everything_in_order(
    kafka_bootstrap: str,
    private_stack: PrivateStack,
    unique: str,
) -> None:
    private_stack.start("redis")
    store = _client(private_stack.redis_url)
    topic = make_topic(kafka_bootstrap, f"test.outbox.frozen.{unique}", partitions=1)
    stream = f"outbox:{unique}"
    append = OutboxScript(store, stream, _APPEND)

    def add(values: range) -> None:
        for i in values:
            append(records=[OutgoingRecord(topic, str(i).encode(), b"k")])

    producer = make_producer(kafka_bootstrap, "relay")
    relay = OutboxRelay(store, stream, producer, block_ms=100)
    thread = _running(relay)
    try:
        add(range(10))
        wait_until(lambda: store.xlen(stream) == 0, what="the first entries")
        private_stack.freeze("redis")
        # The outage lasts on purpose: the relay's riding it out is the subject.
        time.sleep(6)
        assert thread.is_alive(), "the relay must not exit while Redis is frozen"
        private_stack.thaw("redis")
        add(range(10, 30))
        wait_until(lambda: store.xlen(stream) == 0, what="the entries after the outage")
    finally:
        relay.stop()
        thread.join(30)
    values = [int(r.value or b"") for r in read_all(kafka_bootstrap, topic, expected=30)]
    assert values == list(range(30))
    producer.close()


def test_the_relay_rides_out_kafka_away_and_publishes_in_order_once_it_is_back(
    private_stack: PrivateStack,
    unique: str,
) -> None:
    private_stack.start("redis")
    private_stack.start("kafka")
    bootstrap = private_stack.kafka_bootstrap
    store = _client(private_stack.redis_url)
    topic = make_topic(bootstrap, f"test.outbox.kafka-away.{unique}", partitions=1)
    stream = f"outbox:{unique}"
    append = OutboxScript(store, stream, _APPEND)
    producer = make_producer(bootstrap, "relay")
    relay = OutboxRelay(store, stream, producer, block_ms=100)
    thread = _running(relay)
    try:
        for i in range(10):
            append(records=[OutgoingRecord(topic, str(i).encode(), b"k")])
        wait_until(lambda: store.xlen(stream) == 0, what="the first entries")
        private_stack.stop("kafka")
        for i in range(10, 40):
            append(records=[OutgoingRecord(topic, str(i).encode(), b"k")])
        # The outage lasts on purpose: the relay's riding it out is the subject.
        time.sleep(10)
        assert thread.is_alive(), "the relay must not exit while Kafka is away"
        assert store.xlen(stream) == 30
        private_stack.start("kafka")
        wait_until(lambda: store.xlen(stream) == 0, what="the entries after Kafka came back", timeout=120)
    finally:
        relay.stop()
        thread.join(30)
    values = [int(r.value or b"") for r in read_all(bootstrap, topic, expected=40)]
    # At least once: a record sent just before the broker stopped may come twice, never out of order.
    assert list(dict.fromkeys(values)) == list(range(40))
    producer.close()
