"""The librdkafka backend (confluent-kafka): Helpline's default Kafka client.

Relaying a routing decision's events through kafka-python's sender (pure Python, on its own thread)
cost about 2.5 ms of CPU a contact, a quarter of the router's, and that thread's hold on the
interpreter delayed the next contact (bench/router_latency). librdkafka batches, sends, fetches and
retries in C threads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

import confluent_kafka
from confluent_kafka import admin as confluent_admin
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType
from confluent_kafka.cimpl import NewTopic as ConfluentNewTopic

from helpline.failures import OutageLog
from helpline.kafka.options import SECURITY, translate
from helpline.kafka.port import (
    Delivered,
    DeliveryError,
    KafkaError,
    NewTopic,
    Partitions,
    ProduceError,
    ProduceTimeoutError,
    Start,
    TopicPartition,
)
from helpline.records import Header, Record

# How long `send` waits for room in a full local queue before giving up, as kafka-python's
# max_block_ms did.
MAX_BLOCK_S = 60.0

# The largest record the producer sends (librdkafka's `message.max.bytes`): above the topics'
# `max.message.bytes` (helpline.topics), so the broker, whose limit is the topic's, is the one that
# refuses, and room for a dead-lettered record's extra headers.
MESSAGE_MAX_BYTES = 1_200_000

# How long a question about offsets waits for the cluster's answer.
OFFSETS_TIMEOUT_S = 10.0
# A partition's leader not known where asked yet: the answer comes once the metadata catches up.
LEADER_MOVED = frozenset(
    {
        confluent_kafka.KafkaError.NOT_LEADER_FOR_PARTITION,
        confluent_kafka.KafkaError.LEADER_NOT_AVAILABLE,
        confluent_kafka.KafkaError.UNKNOWN_TOPIC_OR_PART,
        confluent_kafka.KafkaError._UNKNOWN_PARTITION,
    }
)

_K = confluent_kafka.KafkaError
# What the broker or librdkafka answers for a record that can never be written as it is. Anything
# else (no leader, not enough in-sync replicas, a timeout, no authorization yet) can pass once the
# cluster or its configuration is mended, so it is retried rather than given up on.
PERMANENT_CODES = frozenset(
    {
        _K.MSG_SIZE_TOO_LARGE,
        _K.RECORD_LIST_TOO_LARGE,
        _K.INVALID_MSG,
        _K.INVALID_MSG_SIZE,
        _K.INVALID_RECORD,
        _K.INVALID_TIMESTAMP,
        _K._INVALID_ARG,
        _K._BAD_MSG,
    }
)


def error_of(
    error: confluent_kafka.KafkaError | None, fallback: str, kind: type[KafkaError] = KafkaError
) -> KafkaError:
    """librdkafka's error as the port's: permanent when fatal or about the record itself."""
    if error is None:
        return kind(fallback)
    permanent = error.fatal() or error.code() in PERMANENT_CODES
    return kind(f"{error.name()}: {error.str()}", code=error.code(), permanent=permanent)


def _raised(exc: confluent_kafka.KafkaException, kind: type[KafkaError] = KafkaError) -> KafkaError:
    error = exc.args[0] if exc.args and isinstance(exc.args[0], confluent_kafka.KafkaError) else None
    return error_of(error, str(exc), kind)


def producer_config(bootstrap: str, client_id: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Helpline's producer configuration with `options` (kafka-python's names) on top."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": 120_000,
        # Through Python's logging (JSON, levels) instead of librdkafka's own lines on stderr.
        "logger": logging.getLogger("helpline.kafka.librdkafka"),
        # kafka-python's and the Java client's key hash: a key lands on the same partition whoever
        # writes it (librdkafka's own default hashes with CRC32).
        "partitioner": "murmur2_random",
        "message.max.bytes": MESSAGE_MAX_BYTES,
    }
    return config | translate(options, SECURITY | {"linger_ms": "linger.ms"})


class ConfluentDelivery:
    """A record's outcome. librdkafka reports it to whichever thread serves the producer's
    callbacks; `get` serves them itself while it waits.

    Done is a plain attribute, written once by the callback after the outcome: nobody waits on it
    (`get` waits in the producer's poll), and a threading.Event (a Condition and its lock) built
    for every record was a sixth of the producer path's Python."""

    __slots__ = ("_delivered", "_done", "_error", "_producer")

    def __init__(self, producer: confluent_kafka.Producer) -> None:
        self._producer = producer
        self._done = False
        self._error: confluent_kafka.KafkaError | None = None
        self._delivered: Delivered | None = None

    def report(self, error: confluent_kafka.KafkaError | None, message: confluent_kafka.Message) -> None:
        self._error = error
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if error is None and topic is not None and partition is not None and offset is not None:
            self._delivered = Delivered(topic, partition, offset)
        self._done = True

    @property
    def done(self) -> bool:
        return self._done

    @property
    def succeeded(self) -> bool:
        return self._delivered is not None

    def get(self, timeout: float = 30.0) -> Delivered:
        deadline = time.monotonic() + timeout
        while not self._done:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProduceTimeoutError(f"no ack from Kafka within {timeout} s")
            self._producer.poll(min(left, 0.1))
        if self._delivered is None:
            raise error_of(self._error, "no delivery report", DeliveryError)
        return self._delivered


class ConfluentProducer:
    def __init__(self, bootstrap: str, client_id: str, **options: Any) -> None:
        self._producer = confluent_kafka.Producer(producer_config(bootstrap, client_id, options))

    def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Sequence[Header] = ()
    ) -> ConfluentDelivery:
        delivery = ConfluentDelivery(self._producer)
        deadline = time.monotonic() + MAX_BLOCK_S
        while True:
            try:
                self._producer.produce(
                    topic, value, key, headers=list(headers) or None, on_delivery=delivery.report
                )
                break
            except BufferError:
                # The local queue is full: serve acks to make room, as kafka-python's send blocked.
                if time.monotonic() > deadline:
                    raise ProduceTimeoutError(
                        f"the producer's queue stayed full for {MAX_BLOCK_S} s"
                    ) from None
                self._producer.poll(0.1)
            except confluent_kafka.KafkaException as exc:
                raise _raised(exc, ProduceError) from exc
        # Serves the callbacks of records acked meanwhile, so their Deliveries complete.
        self._producer.poll(0)
        return delivery

    def prepare(self, topic: str, timeout: float = 10.0) -> None:
        try:
            self._producer.list_topics(topic, timeout)
        except confluent_kafka.KafkaException as exc:
            raise _raised(exc) from exc

    def flush(self, timeout: float = 30.0) -> None:
        # linger.ms is ignored by a flush.
        left = self._producer.flush(timeout)
        if left:
            # librdkafka counts its own requests still queued (the idempotent producer's id) with
            # the records: the number is an upper bound on the records not acked.
            raise ProduceTimeoutError(f"records not acked within {timeout} s ({left} still queued)")

    def close(self, timeout: float = 10.0) -> None:
        # librdkafka's threads end when the producer is collected.
        self.flush(timeout)


def record_of(message: confluent_kafka.Message) -> Record:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("a consumed message without its coordinates")
    # Helpline consumers never set a header deserialiser: values are the bytes sent.
    headers = cast(list[Header], message.headers() or [])
    return Record(topic, partition, offset, message.key(), message.value(), headers)


def _partitions(handler: Partitions) -> Any:
    def called(_consumer: confluent_kafka.Consumer, partitions: list[confluent_kafka.TopicPartition]) -> None:
        handler([TopicPartition(p.topic, p.partition) for p in partitions])

    return called


class ConfluentConsumer:
    def __init__(self, bootstrap: str, client_id: str, group_id: str | None = None, **options: Any) -> None:
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            # librdkafka wants a group even for a consumer only assigned partitions; it joins none.
            "group.id": group_id or f"{client_id}-unassigned",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "logger": logging.getLogger("helpline.kafka.librdkafka"),
        }
        self._consumer = confluent_kafka.Consumer(config | translate(options))
        self._errors = OutageLog(f"consumer {group_id or client_id}")

    def subscribe(
        self, topics: Sequence[str], *, on_assign: Partitions, on_revoke: Partitions, on_lost: Partitions
    ) -> None:
        self._consumer.subscribe(
            list(topics),
            on_assign=_partitions(on_assign),
            on_revoke=_partitions(on_revoke),
            on_lost=_partitions(on_lost),
        )

    def partitions_of(self, topic: str, timeout: float = 10.0) -> list[int]:
        try:
            found = self._consumer.list_topics(topic, timeout).topics.get(topic)
        except confluent_kafka.KafkaException as exc:
            raise _raised(exc) from exc
        if found is None or found.error is not None:
            return []
        return sorted(found.partitions)

    def assign(self, partitions: Sequence[TopicPartition], start: Start) -> None:
        if start is Start.BEGINNING:
            offsets = dict.fromkeys(partitions, confluent_kafka.OFFSET_BEGINNING)
        else:
            # The end as it is now: librdkafka's logical OFFSET_END is looked up only when fetching
            # starts, and would skip what is written meanwhile.
            offsets = self.end_offsets(partitions)
        self._consumer.assign([confluent_kafka.TopicPartition(t, p, o) for (t, p), o in offsets.items()])

    def poll(self, timeout_s: float, max_records: int) -> list[Record]:
        # `consume` would wait for a full batch or the timeout: the first message as soon as it comes.
        first = self._consumer.poll(timeout_s)
        if first is None:
            return []
        messages = [first, *self._consumer.consume(max_records - 1, 0)] if max_records > 1 else [first]
        records = []
        for message in messages:
            error = message.error()
            if error is None:
                records.append(record_of(message))
                self._errors.recovered()
            elif error.fatal():
                raise error_of(error, "fatal consumer error")
            else:
                # Transient (a broker away, a topic not created yet): librdkafka retries by itself.
                self._errors.failed(error_of(error, "consumer error"))
        return records

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        try:
            self._consumer.commit(
                offsets=[confluent_kafka.TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                asynchronous=False,
            )
        except confluent_kafka.KafkaException as exc:
            raise _raised(exc) from exc

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self._consumer.seek(confluent_kafka.TopicPartition(partition.topic, partition.partition, offset))

    def pause(self) -> None:
        self._consumer.pause(self._consumer.assignment())

    def resume(self) -> None:
        self._consumer.resume(self._consumer.assignment())

    def _watermarks(self, partition: TopicPartition) -> tuple[int, int]:
        # librdkafka answers at once what a leader just elected or moved says, where kafka-python
        # and the Java client retry: so does this, within the timeout.
        deadline = time.monotonic() + OFFSETS_TIMEOUT_S
        while True:
            try:
                low, high = self._consumer.get_watermark_offsets(
                    confluent_kafka.TopicPartition(*partition), timeout=OFFSETS_TIMEOUT_S
                )
            except confluent_kafka.KafkaException as exc:
                error = _raised(exc)
                if error.code not in LEADER_MOVED or time.monotonic() > deadline:
                    raise error from exc
                time.sleep(0.1)
                continue
            return int(low), int(high)

    def beginning_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {p: self._watermarks(p)[0] for p in partitions}

    def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {p: self._watermarks(p)[1] for p in partitions}

    def committed(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        try:
            found = self._consumer.committed(
                [confluent_kafka.TopicPartition(*p) for p in partitions], timeout=OFFSETS_TIMEOUT_S
            )
        except confluent_kafka.KafkaException as exc:
            raise _raised(exc) from exc
        # A partition without a commit comes back with a negative (logical) offset.
        return {TopicPartition(p.topic, p.partition): max(p.offset, 0) for p in found}

    def lag(self) -> dict[str, int]:
        by_topic: dict[str, int] = {}
        for position in self._consumer.position(self._consumer.assignment()):
            # The high watermark of the partition's last fetch; negative (unknown) before any.
            _, end = self._consumer.get_watermark_offsets(position, cached=True)
            if end < 0 or position.offset < 0:
                continue
            by_topic[position.topic] = by_topic.get(position.topic, 0) + max(0, end - position.offset)
        return by_topic

    def close(self) -> None:
        self._consumer.close()


class ConfluentAdmin:
    def __init__(self, bootstrap: str, client_id: str, timeout_s: float = 5.0, **options: Any) -> None:
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            "logger": logging.getLogger("helpline.kafka.librdkafka"),
        }
        self._admin = confluent_admin.AdminClient(config | translate(options))
        self._timeout_s = timeout_s

    def _metadata(self) -> Any:
        try:
            return self._admin.list_topics(timeout=self._timeout_s)
        except confluent_kafka.KafkaException as exc:
            raise _raised(exc) from exc

    def topics(self) -> dict[str, int]:
        return {name: len(topic.partitions) for name, topic in self._metadata().topics.items()}

    def create_topics(self, topics: Sequence[NewTopic], timeout: float = 30.0) -> list[str]:
        if not topics:
            return []
        futures = self._admin.create_topics(
            [
                ConfluentNewTopic(t.name, t.partitions, t.replication_factor, config=dict(t.configs))
                for t in topics
            ],
            operation_timeout=timeout,
            request_timeout=timeout,
        )
        created = []
        for name, future in futures.items():
            try:
                future.result()
            except confluent_kafka.KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if not isinstance(error, confluent_kafka.KafkaError):
                    raise _raised(exc) from exc
                if error.code() == _K.TOPIC_ALREADY_EXISTS:
                    continue
                # The broker's answer for this topic (an invalid configuration, a replication factor
                # above the brokers there are) stands unless librdkafka marks it worth retrying.
                raise KafkaError(
                    f"creating topic {name} failed: {error.name()}: {error.str()}",
                    code=error.code(),
                    permanent=not error.retriable(),
                ) from exc
            created.append(name)
        self._wait_for([t.name for t in topics], timeout)
        return created

    def _wait_for(self, names: Sequence[str], timeout: float) -> None:
        """Until every partition of each topic has a leader in the metadata, as producers and
        consumers need it to."""
        deadline = time.monotonic() + timeout
        while True:
            found = self._metadata().topics
            missing = [
                n
                for n in names
                if n not in found
                or found[n].error is not None
                or not found[n].partitions
                or any(p.leader < 0 for p in found[n].partitions.values())
            ]
            if not missing:
                return
            if time.monotonic() > deadline:
                raise KafkaError(f"topics {sorted(missing)} not in the cluster's metadata after {timeout} s")
            time.sleep(0.1)

    def configs(self, topic: str) -> dict[str, str]:
        resource = ConfigResource(ResourceType.TOPIC, topic)
        try:
            entries = self._admin.describe_configs([resource])[resource].result(timeout=self._timeout_s)
        except confluent_kafka.KafkaException as exc:
            raise _raised(exc) from exc
        return {name: entry.value for name, entry in entries.items()}

    def brokers(self) -> int:
        return len(self._metadata().brokers)

    def close(self) -> None:
        # The AdminClient holds no connection that outlives it: librdkafka's threads end when it is collected.
        pass
