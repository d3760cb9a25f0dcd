"""The kafka-python backend: a pure-Python client, for where librdkafka's wheel is not wanted.

Its sender and fetcher run on Python threads that hold the interpreter the handlers need
(helpline.kafka.confluent says what that cost the router); it is chosen with
HELPLINE_KAFKA_CLIENT=kafka-python. Options take their names as they are.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import kafka
import kafka.errors
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.producer.future import FutureRecordMetadata
from kafka.structs import OffsetAndMetadata

from helpline.kafka.options import SECURITY, check
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
from helpline.logging import get_logger
from helpline.records import Header, Record

log = get_logger(__name__)

# The librdkafka backend's limits and timeouts, so either backend refuses and gives up alike.
MESSAGE_MAX_BYTES = 1_200_000
DELIVERY_TIMEOUT_MS = 120_000
# What the broker answers for a record that can never be written as it is.
RECORD_ERRORS = (
    kafka.errors.MessageSizeTooLargeError,
    kafka.errors.RecordListTooLargeError,
    kafka.errors.InvalidRecordError,
    kafka.errors.CorruptRecordError,
    kafka.errors.InvalidTimestampError,
)


def error_of(exc: BaseException, kind: type[KafkaError] = KafkaError) -> KafkaError:
    """kafka-python's error as the port's: permanent when it is about the record, or when the
    client does not mark it retriable (a broker away, a timeout: transient)."""
    if isinstance(exc, RECORD_ERRORS):
        permanent = True
    else:
        transient = getattr(exc, "retriable", False) or isinstance(
            exc,
            kafka.errors.BrokerNotAvailableError | kafka.errors.KafkaConnectionError,
        )
        permanent = not transient
    return kind(f"{type(exc).__name__}: {exc}", code=getattr(exc, "errno", None), permanent=permanent)


class KafkaPythonDelivery:
    def __init__(self, future: FutureRecordMetadata) -> None:
        self._future = future

    @property
    def done(self) -> bool:
        return bool(self._future.is_done)

    @property
    def succeeded(self) -> bool:
        return bool(self._future.is_done and self._future.succeeded())

    def get(self, timeout: float = 30.0) -> Delivered:
        try:
            metadata = self._future.get(timeout=timeout)
        except kafka.errors.KafkaError as exc:
            if not self._future.is_done:
                raise ProduceTimeoutError(f"no ack from Kafka within {timeout} s") from exc
            raise error_of(exc, DeliveryError) from exc
        return Delivered(metadata.topic, metadata.partition, metadata.offset)


class KafkaPythonProducer:
    def __init__(self, bootstrap: str, client_id: str, **options: Any) -> None:
        check(options, SECURITY | {"linger_ms": "linger_ms"})
        self._producer = kafka.KafkaProducer(
            **(
                {
                    "bootstrap_servers": bootstrap,
                    "client_id": client_id,
                    "acks": "all",
                    "enable_idempotence": True,
                    "linger_ms": 5,
                    "delivery_timeout_ms": DELIVERY_TIMEOUT_MS,
                    "max_request_size": MESSAGE_MAX_BYTES,
                }
                | options
            )
        )

    def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Sequence[Header] = ()
    ) -> KafkaPythonDelivery:
        try:
            future = self._producer.send(topic, value=value, key=key, headers=list(headers))
        except kafka.errors.KafkaTimeoutError as exc:
            raise ProduceTimeoutError(f"no room in the producer's queue: {exc}") from exc
        except kafka.errors.KafkaError as exc:
            raise error_of(exc, ProduceError) from exc
        return KafkaPythonDelivery(future)

    def prepare(self, topic: str, timeout: float = 10.0) -> None:
        try:
            self._producer.partitions_for(topic)
        except kafka.errors.KafkaError as exc:
            raise error_of(exc) from exc

    def flush(self, timeout: float = 30.0) -> None:
        try:
            self._producer.flush(timeout=timeout)
        except kafka.errors.KafkaTimeoutError as exc:
            raise ProduceTimeoutError(f"records not acked within {timeout} s") from exc

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        self._producer.close(timeout=timeout)


class _Listener(kafka.AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """The port's rebalance semantics on kafka-python 3, whose listener runs on the client's IO
    thread (the polling thread waits inside `poll` meanwhile), where no blocking client call is
    allowed:

    - a commit the revoke callback makes (ConsumerLoop commits what it handled) is collected, then
      awaited here before the rebalance goes on, as librdkafka's commit in its callback is;
    - a partition revoked and assigned again in one rebalance keeps its fetch position in
      kafka-python; the port fetches every assigned partition from its committed offset, as
      librdkafka does, so what the owner polled and left unhandled at the revoke (ConsumerLoop
      forgets it then) comes again.

    The awaited calls are the coordinator's async variants of `commit` and `committed`, which the
    client's public API offers only as blocking calls."""

    def __init__(
        self, consumer: KafkaPythonConsumer, on_assign: Partitions, on_revoke: Partitions, on_lost: Partitions
    ) -> None:
        self._consumer = consumer
        self._calls = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}
        self._released: set[kafka.TopicPartition] = set()

    async def _call(self, which: str, partitions: Any) -> None:
        with self._consumer.collecting_commits() as collected:
            self._calls[which]([TopicPartition(p.topic, p.partition) for p in partitions])
        if collected:
            try:
                await self._consumer.coordinator._commit_offsets_sync_async(collected)
            except kafka.errors.KafkaError as exc:
                log.warning("commit on revoke failed; records will be redelivered", error=str(exc))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        retained = self._released & set(assigned)
        self._released = set()
        if retained:
            committed = await self._consumer.coordinator.fetch_committed_offsets_async(list(retained))
            for tp in retained:
                if tp in committed:
                    self._consumer.client.seek(tp, committed[tp].offset)
                else:
                    self._consumer.client.seek_to_beginning(tp)
        await self._call("assign", assigned)

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._released |= set(revoked)
        await self._call("revoke", revoked)

    async def on_partitions_lost(self, lost: Any) -> None:
        self._released |= set(lost)
        await self._call("lost", lost)


def _tp(partition: TopicPartition) -> kafka.TopicPartition:
    return kafka.TopicPartition(partition.topic, partition.partition)


def _wrapped(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except kafka.errors.KafkaError as exc:
        raise error_of(exc) from exc


class KafkaPythonConsumer:
    def __init__(self, bootstrap: str, client_id: str, group_id: str | None = None, **options: Any) -> None:
        check(options)
        self._consumer = kafka.KafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            **options,
        )
        # Commits a rebalance callback makes, for its listener to await (None: none is running).
        self._collected: dict[kafka.TopicPartition, OffsetAndMetadata] | None = None

    @property
    def client(self) -> kafka.KafkaConsumer:
        return self._consumer

    @property
    def coordinator(self) -> Any:
        return self._consumer._coordinator

    @contextlib.contextmanager
    def collecting_commits(self) -> Iterator[dict[kafka.TopicPartition, OffsetAndMetadata]]:
        """While a rebalance callback runs on the IO thread: its commits, collected, not made."""
        collected: dict[kafka.TopicPartition, OffsetAndMetadata] = {}
        self._collected = collected
        try:
            yield collected
        finally:
            self._collected = None

    def subscribe(
        self, topics: Sequence[str], *, on_assign: Partitions, on_revoke: Partitions, on_lost: Partitions
    ) -> None:
        self._consumer.subscribe(list(topics), listener=_Listener(self, on_assign, on_revoke, on_lost))

    def partitions_of(self, topic: str, timeout: float = 10.0) -> list[int]:
        return sorted(_wrapped(lambda: self._consumer.partitions_for_topic(topic)) or ())

    def assign(self, partitions: Sequence[TopicPartition], start: Start) -> None:
        # The end as it is now, not when fetching starts: what is written meanwhile is read.
        offsets = (
            self.beginning_offsets(partitions) if start is Start.BEGINNING else self.end_offsets(partitions)
        )
        self._consumer.assign([_tp(p) for p in partitions])
        for partition, offset in offsets.items():
            self._consumer.seek(_tp(partition), offset)

    def poll(self, timeout_s: float, max_records: int) -> list[Record]:
        batches = _wrapped(
            lambda: self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        )
        return [
            Record(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers or []))
            for batch in batches.values()
            for r in batch
        ]

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        meta = {_tp(p): OffsetAndMetadata(offset, "", -1) for p, offset in offsets.items()}
        if self._collected is not None:
            self._collected.update(meta)
            return
        _wrapped(lambda: self._consumer.commit(meta))

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self._consumer.seek(_tp(partition), offset)

    def pause(self) -> None:
        self._consumer.pause(*self._consumer.assignment())

    def resume(self) -> None:
        self._consumer.resume(*self._consumer.assignment())

    def beginning_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        found = _wrapped(lambda: self._consumer.beginning_offsets([_tp(p) for p in partitions]))
        return {TopicPartition(tp.topic, tp.partition): offset for tp, offset in found.items()}

    def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        found = _wrapped(lambda: self._consumer.end_offsets([_tp(p) for p in partitions]))
        return {TopicPartition(tp.topic, tp.partition): offset for tp, offset in found.items()}

    def committed(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {p: self._committed(p) for p in partitions}

    def _committed(self, partition: TopicPartition) -> int:
        # None where the group committed nothing.
        return int(_wrapped(lambda: self._consumer.committed(_tp(partition))) or 0)

    def lag(self) -> dict[str, int]:
        by_topic: dict[str, int] = {}
        for tp in self._consumer.assignment():
            # The high watermark of the partition's last fetch; None before any.
            end = self._consumer.highwater(tp)
            if end is None:
                continue
            position = self._consumer.position(tp)
            by_topic[tp.topic] = by_topic.get(tp.topic, 0) + max(0, end - position)
        return by_topic

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class KafkaPythonAdmin:
    """Connects on first use: kafka-python's admin client bootstraps when it is built."""

    def __init__(self, bootstrap: str, client_id: str, timeout_s: float = 5.0, **options: Any) -> None:
        check(options)
        self._config = {
            "bootstrap_servers": bootstrap,
            "client_id": client_id,
            "request_timeout_ms": int(timeout_s * 1000),
            "bootstrap_timeout_ms": int(timeout_s * 1000),
        } | options
        self._admin: kafka.KafkaAdminClient | None = None

    def _client(self) -> kafka.KafkaAdminClient:
        if self._admin is None:
            self._admin = _wrapped(lambda: kafka.KafkaAdminClient(**self._config))
        return self._admin

    def topics(self) -> dict[str, int]:
        described = _wrapped(lambda: self._client().describe_topics())
        return {t["name"]: len(t["partitions"]) for t in described}

    def create_topics(self, topics: Sequence[NewTopic], timeout: float = 30.0) -> list[str]:
        if not topics:
            return []
        wanted = {
            t.name: {
                "num_partitions": t.partitions,
                "replication_factor": t.replication_factor,
                "configs": dict(t.configs),
            }
            for t in topics
        }
        result = _wrapped(lambda: self._client().create_topics(wanted, raise_errors=False))
        created = []
        for topic in result["topics"]:
            code = topic.get("error_code", 0)
            if code == 0:
                created.append(topic["name"])
            elif code != kafka.errors.TopicAlreadyExistsError.errno:
                raise KafkaError(
                    f"creating topic {topic['name']} failed: error {code} {topic.get('error_message')}",
                    code=code,
                    permanent=not kafka.errors.for_code(code).retriable,
                )
        _wrapped(lambda: self._client().wait_for_topics(list(wanted), timeout_ms=int(timeout * 1000)))
        return created

    def configs(self, topic: str) -> dict[str, str]:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic)
        found = _wrapped(lambda: self._client().describe_configs([resource], config_filter="all"))
        (by_name,) = found.values()
        return {name: entry["value"] for name, entry in by_name[topic].items()}

    def brokers(self) -> int:
        cluster = _wrapped(lambda: self._client().describe_cluster())
        return sum(1 for broker in cluster["brokers"] if not broker.get("is_fenced"))

    def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            admin.close()
