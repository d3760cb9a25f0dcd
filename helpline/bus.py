"""Kafka producer and consumer, the way every Helpline service uses them.

Delivery is at least once: the producer waits for all in-sync replicas with idempotence on; the
consumer commits an offset only after its handler succeeded for that record, retries a failing
record a bounded number of times, then writes it to `<topic>.dlq` with the error and its original
coordinates in headers, and goes on. Handlers must be idempotent (by event id or entity version).

A consumer may also take a batch handler, given the records of a poll at once so that they can
share one round trip to a store. It handles them in order and returns how many it handled: all of
them, or those before the first it could not handle, which then gets the record handler, with its
retries and DLQ, before the batch handler is given the records after it. One that raises handled
none, and the poll's records go to the record handler one by one. What a batch handler did not
count as handled it must leave without an effect that a second handling would count twice, beyond
what the record handler's own idempotence absorbs.
"""

from __future__ import annotations

import collections
import json
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.errors import CommitFailedError, KafkaError, KafkaTimeoutError
from kafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from helpline.logging import get_logger
from helpline.topics import dlq_topic

log = get_logger(__name__)

# How long a stopping consumer waits for its last commit and for leaving the group.
STOP_TIMEOUT_MS = 5000
# Records handled since the last commit are redelivered after a crash: handlers are idempotent, and
# this bounds how many.
COMMIT_INTERVAL_S = 0.2
LAG_REPORT_INTERVAL_S = 1.0

Header = tuple[str, bytes]
Handler = Callable[[ConsumerRecord], None]
# Handles records in order and returns how many it handled.
BatchHandler = Callable[[Sequence[ConsumerRecord]], int]
Polled = Mapping[TopicPartition, Sequence[ConsumerRecord]]

# The `type` label of a record whose CloudEvents type is missing, unreadable or not a Helpline event.
UNKNOWN_EVENT_TYPE = "unknown"

DLQ_HEADERS = (
    "dlq_error",
    "dlq_error_type",
    "dlq_topic",
    "dlq_partition",
    "dlq_offset",
    "dlq_group",
    "dlq_attempts",
    "dlq_failed_at",
)


class PermanentError(Exception):
    """A record that can never succeed (undecodable, invalid): skip the retries, go to the DLQ."""


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    value: bytes
    key: bytes | None = None
    headers: list[Header] = field(default_factory=list)


def make_producer(bootstrap: str, client_id: str, **overrides: Any) -> KafkaProducer:
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "retries": 2**31 - 1,
        "delivery_timeout_ms": 120_000,
    }
    config.update(overrides)
    return KafkaProducer(**config)


def send(producer: KafkaProducer, record: OutgoingRecord) -> Any:
    """Queue a record; returns kafka-python's future (`.get(timeout)` waits for the broker's ack)."""
    return producer.send(record.topic, value=record.value, key=record.key, headers=list(record.headers))


def publish(producer: KafkaProducer, record: OutgoingRecord, timeout: float = 30.0) -> Any:
    """Send and wait for the ack: the record is durable when this returns."""
    return send(producer, record).get(timeout=timeout)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_ms: int = 200
    max_backoff_ms: int = 5_000

    def delay(self, attempt: int) -> float:
        return float(min(self.backoff_ms * 2 ** (attempt - 1), self.max_backoff_ms)) / 1000.0


class BusMetrics:
    """Consumer-side platform metrics; the registry is injected so tests stay isolated.

    Records are labelled with their CloudEvents type only when the event registry knows it, so a
    producer cannot mint label values; anything else is `unknown`.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        # Imported here because helpline.events imports this module.
        from helpline.events import STRUCTURED_JSON
        from helpline.events import registry as event_registry

        self._structured = STRUCTURED_JSON.encode()
        self._known_types = frozenset(event_registry().types())
        self.handled = Counter(
            "helpline_events_handled_total",
            "Records handled by event type and outcome (ok, dlq).",
            ["topic", "type", "outcome"],
            registry=registry,
        )
        self.retries = Counter(
            "helpline_event_retries_total",
            "Handler failures that were retried, by event type.",
            ["topic", "type"],
            registry=registry,
        )
        self.dlq_writes = Counter(
            "helpline_dlq_writes_total",
            "Records written to a dead-letter topic, by event type.",
            ["topic", "type"],
            registry=registry,
        )
        self.handle_seconds = Histogram(
            "helpline_event_handle_seconds",
            # Not by type: a histogram per type of every topic a service reads would be hundreds of series.
            "Time to handle one record, retries included.",
            ["topic"],
            registry=registry,
        )
        self.lag = Gauge(
            "helpline_consumer_lag",
            "Records behind the end of the log, summed over assigned partitions.",
            ["topic", "group"],
            registry=registry,
        )

    def event_type(self, record: ConsumerRecord) -> str:
        """The record's CloudEvents type for the `type` label, read where helpline.events reads it:
        the structured JSON when the content type says so, else the `ce_type` header."""
        try:
            found = self._read_type(record)
        # Whatever the record holds, labelling it must not fail it: the handler decides its fate.
        except Exception:
            return UNKNOWN_EVENT_TYPE
        return found if isinstance(found, str) and found in self._known_types else UNKNOWN_EVENT_TYPE

    def count_batch(self, records: Sequence[ConsumerRecord], seconds: float) -> None:
        """A batch handled at once: each record counted ok, and timed as its share of the batch."""
        for (topic, event_type), count in collections.Counter(
            (r.topic, self.event_type(r)) for r in records
        ).items():
            self.handled.labels(topic, event_type, "ok").inc(count)
        share = seconds / len(records)
        for topic, count in collections.Counter(r.topic for r in records).items():
            timer = self.handle_seconds.labels(topic)
            for _ in range(count):
                timer.observe(share)

    def _read_type(self, record: ConsumerRecord) -> object:
        # The last header of a name counts, as in helpline.events' map of them; read from the end
        # without building that map, since every record pays for this.
        content_type = event_type = None
        for name, raw in reversed(record.headers or ()):
            lowered = name.lower()
            if lowered == "ce_type" and event_type is None:
                event_type = raw
            elif lowered == "content-type" and content_type is None:
                content_type = raw
            if content_type is not None and event_type is not None:
                break
        if content_type is not None and content_type.startswith(self._structured):
            # A second parse of the value (the handler parses it too), paid only by structured
            # ingress events; Helpline's own binary events need just the header.
            return json.loads(record.value).get("type")
        return (event_type or b"").decode()


class _CommitOnRevoke(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """kafka-python 3 calls rebalance listeners on its IO thread, where a blocking commit raises:
    the async listener awaits the commit there instead. The consumer thread is inside poll() while
    it runs, so the handled offsets are not being written meanwhile."""

    def __init__(self, loop: ConsumerLoop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        # Whatever was handled on a partition we lose is committed now, so its new owner starts after it.
        offsets = self.loop.take_handled(set(revoked))
        if not offsets:
            return
        try:
            # The awaitable form of KafkaConsumer.commit(), which is not public in kafka-python 3.0.
            await self.loop.consumer._coordinator._commit_offsets_sync_async(offsets, STOP_TIMEOUT_MS)
        except KafkaError as exc:
            log.warning("commit on revoke failed; records will be redelivered", error=str(exc))

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self.log_assigned(assigned)

    def log_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        log.info(
            "partitions assigned",
            group=self.loop.group_id,
            partitions=[f"{p.topic}/{p.partition}" for p in assigned],
        )


class ConsumerLoop:
    """Poll, handle each record with bounded retries, DLQ what still fails, commit what was handled.

    With a `batch_handler`, each poll's records go to it at once, and to `handler` only the one it
    could not handle, or all of them when it failed."""

    def __init__(
        self,
        *,
        bootstrap: str,
        group_id: str,
        topics: Sequence[str],
        handler: Handler,
        dlq_producer: KafkaProducer,
        retry: RetryPolicy | None = None,
        client_id: str = "helpline",
        metrics: BusMetrics | None = None,
        max_poll_records: int = 200,
        poll_timeout_ms: int = 500,
        batch_handler: BatchHandler | None = None,
        **consumer_overrides: Any,
    ) -> None:
        self.group_id = group_id
        self.topics = list(topics)
        self.handler = handler
        self.batch_handler = batch_handler
        self.dlq_producer = dlq_producer
        self.retry = retry or RetryPolicy()
        self.metrics = metrics
        self.poll_timeout_ms = poll_timeout_ms
        self._stop = threading.Event()
        self._handled: dict[TopicPartition, OffsetAndMetadata] = {}
        config: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "group_id": group_id,
            "client_id": client_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "max_poll_records": max_poll_records,
            "isolation_level": "read_committed",
        }
        config.update(consumer_overrides)
        self._config = config
        # Connected in run(), so a loop that is built but never run (a service wired up in a test)
        # leaves no client thread behind.
        self.consumer: KafkaConsumer
        self.assigned = threading.Event()

    def stop(self) -> None:
        """Ask the loop to finish the record (or batch) in hand, commit and return; safe from any thread."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        log.info("consuming", group=self.group_id, topics=self.topics)
        self.consumer = KafkaConsumer(**self._config)
        self.consumer.subscribe(self.topics, listener=_CommitOnRevoke(self))
        committed_at = reported_at = time.monotonic()
        try:
            while not self._stop.is_set():
                batches = self.consumer.poll(timeout_ms=self._poll_timeout(committed_at))
                if self.consumer.assignment():
                    self.assigned.set()
                try:
                    self._handle(batches)
                except _InterruptedError:
                    return
                now = time.monotonic()
                # A commit is a broker round trip the next record would wait behind: under steady
                # traffic, one per interval; when the traffic pauses, at once.
                if not batches or now - committed_at >= COMMIT_INTERVAL_S:
                    self.commit()
                    committed_at = now
                if now - reported_at >= LAG_REPORT_INTERVAL_S:
                    self._report_lag()
                    reported_at = now
        finally:
            # Bounded: a group stuck rebalancing (a dead member not yet expired) would otherwise
            # hold the stop past the orchestrator's grace period; an uncommitted record is redelivered.
            self.commit(timeout_ms=STOP_TIMEOUT_MS)
            self.consumer.close(autocommit=False, timeout_ms=STOP_TIMEOUT_MS)
            log.info("consumer stopped", group=self.group_id)

    def _poll_timeout(self, committed_at: float) -> int:
        """A poll waits no longer than until the next commit is due: what was handled just before the
        traffic paused is committed within the interval, not a whole poll timeout later."""
        if not self._handled:
            return self.poll_timeout_ms
        due = committed_at + COMMIT_INTERVAL_S - time.monotonic()
        return max(0, min(self.poll_timeout_ms, int(due * 1000)))

    def take_handled(
        self, only: set[TopicPartition] | None = None
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """The offsets handled since the last commit (of `only` those partitions), forgotten here:
        the caller commits them."""
        offsets = {tp: om for tp, om in self._handled.items() if only is None or tp in only}
        for tp in offsets:
            self._handled.pop(tp, None)
        return offsets

    def commit(self, timeout_ms: int | None = None) -> None:
        offsets = self.take_handled()
        if not offsets:
            return
        try:
            self.consumer.commit(offsets, timeout_ms=timeout_ms)
        except (CommitFailedError, KafkaTimeoutError) as exc:
            # The group rebalanced under us, or would not settle in time: these records will be
            # handled again by whoever owns their partitions next.
            log.warning("commit failed; records will be redelivered", error=str(exc), group=self.group_id)

    def _handle(self, batches: Polled) -> None:
        records = [record for batch in batches.values() for record in batch]
        if self.batch_handler is None:
            self._handle_one_by_one(records)
        else:
            self._handle_batches(self.batch_handler, records)

    def _handle_batches(self, handle: BatchHandler, records: Sequence[ConsumerRecord]) -> None:
        while records and not self._stop.is_set():
            started = time.monotonic()
            try:
                done = handle(records)
            # Whatever failed (the store away, most likely), the records get their own handling and
            # retries, and the batch handler is not tried again before the next poll.
            except Exception as exc:
                log.warning(
                    "batch failed; handling its records one by one",
                    group=self.group_id,
                    records=len(records),
                    error=repr(exc),
                )
                self._handle_one_by_one(records)
                return
            if done:
                self._mark_handled(records[:done])
                if self.metrics:
                    self.metrics.count_batch(records[:done], time.monotonic() - started)
            self._handle_one_by_one(records[done : done + 1])
            records = records[done + 1 :]

    def _handle_one_by_one(self, records: Sequence[ConsumerRecord]) -> None:
        for record in records:
            if self._stop.is_set():
                return
            self._process(record)
            self._mark_handled((record,))

    def _mark_handled(self, records: Sequence[ConsumerRecord]) -> None:
        last: dict[tuple[str, int], int] = {}
        for record in records:
            last[(record.topic, record.partition)] = record.offset
        for (topic, partition), offset in last.items():
            self._handled[TopicPartition(topic, partition)] = OffsetAndMetadata(offset + 1, "", -1)

    def _process(self, record: ConsumerRecord) -> None:
        started = time.monotonic()
        event_type = self.metrics.event_type(record) if self.metrics else UNKNOWN_EVENT_TYPE
        attempt = 0
        while True:
            attempt += 1
            try:
                self.handler(record)
            except PermanentError as exc:
                self._dead_letter(record, exc, attempt, event_type)
                break
            except Exception as exc:  # a handler failure of any kind is retried, then dead-lettered
                if attempt > self.retry.max_retries or self._stop.is_set():
                    if self._stop.is_set():
                        # Shutting down: leave it uncommitted so the next owner tries again.
                        raise _InterruptedError from exc
                    self._dead_letter(record, exc, attempt, event_type)
                    break
                if self.metrics:
                    self.metrics.retries.labels(record.topic, event_type).inc()
                log.warning(
                    "handler failed, retrying",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    attempt=attempt,
                    error=repr(exc),
                )
                self._stop.wait(self.retry.delay(attempt))
            else:
                if self.metrics:
                    self.metrics.handled.labels(record.topic, event_type, "ok").inc()
                break
        if self.metrics:
            self.metrics.handle_seconds.labels(record.topic).observe(time.monotonic() - started)

    def _dead_letter(
        self, record: ConsumerRecord, exc: BaseException, attempts: int, event_type: str
    ) -> None:
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        headers = [(k, v) for k, v in (record.headers or []) if k not in DLQ_HEADERS]
        headers += [
            ("dlq_error", error.encode()[:4000]),
            ("dlq_error_type", type(exc).__name__.encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_group", self.group_id.encode()),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        target = dlq_topic(record.topic)
        # Waiting for the ack keeps "nothing lost": if the DLQ write fails the offset is not committed.
        publish(self.dlq_producer, OutgoingRecord(target, record.value or b"", record.key, headers))
        log.error(
            "record dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            dlq=target,
            error=error,
            attempts=attempts,
        )
        if self.metrics:
            self.metrics.dlq_writes.labels(record.topic, event_type).inc()
            self.metrics.handled.labels(record.topic, event_type, "dlq").inc()

    def _report_lag(self) -> None:
        if not self.metrics:
            return
        by_topic: dict[str, int] = {}
        for tp in self.consumer.assignment():
            end = self.consumer.highwater(tp)
            if end is None:
                continue
            try:
                position = self.consumer.position(tp, timeout_ms=100)
            except KafkaError:
                continue
            if position is None:
                continue
            by_topic[tp.topic] = by_topic.get(tp.topic, 0) + max(0, end - position)
        for topic, lag in by_topic.items():
            self.metrics.lag.labels(topic, self.group_id).set(lag)


class _InterruptedError(Exception):
    """The loop was stopped while a record was being retried; it stays uncommitted."""
