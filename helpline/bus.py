"""Kafka producer and consumer, the way every Helpline service uses them.

Delivery is at least once: the producer waits for all in-sync replicas with idempotence on; the
consumer commits an offset only after its handler succeeded for that record. A record that fails
transiently (a dependency away: helpline.failures) is retried, its partitions paused, for as long as
the outage lasts; one that can never succeed is written to `<topic>.dlq` with the error and its
original coordinates in headers, and the loop goes on. Handlers must be idempotent (by event id or
entity version).

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
import functools
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from helpline.failures import Backoff, OutageLog, is_transient
from helpline.kafka import clients
from helpline.kafka.options import check
from helpline.kafka.port import Consumer, Delivered, Delivery, KafkaError, Producer, TopicPartition
from helpline.logging import get_logger
from helpline.records import OutgoingRecord, PermanentError, Record
from helpline.topics import dlq_topic

log = get_logger(__name__)

# Records handled since the last commit are redelivered after a crash: handlers are idempotent, and
# this bounds how many.
COMMIT_INTERVAL_S = 0.2
LAG_REPORT_INTERVAL_S = 1.0


Handler = Callable[[Record], None]
# Handles records in order and returns how many it handled.
BatchHandler = Callable[[Sequence[Record]], int]

DLQ_HEADERS = (
    "dlq_error",
    "dlq_error_type",
    "dlq_topic",
    "dlq_partition",
    "dlq_offset",
    "dlq_group",
    "dlq_attempts",
    "dlq_failed_at",
    "dlq_reason",
)


def make_producer(bootstrap: str, client_id: str, **overrides: Any) -> Producer:
    """Helpline's producer (helpline.kafka.clients); `overrides` take kafka-python's option names."""
    return clients.producer(bootstrap, client_id, **overrides)


def send(producer: Producer, record: OutgoingRecord) -> Delivery:
    """Queue a record; `.get(timeout)` on the result waits for the broker's ack."""
    return producer.send(record.topic, value=record.value, key=record.key, headers=record.headers)


def publish(producer: Producer, record: OutgoingRecord, timeout: float = 30.0) -> Delivered:
    """Send and wait for the ack: the record is durable when this returns."""
    delivery = send(producer, record)
    producer.flush(timeout)
    return delivery.get(timeout=timeout)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of a failing record: an unexpected failure `max_retries` times before the DLQ, a
    transient one for as long as it lasts; both wait `backoff_ms`, doubling up to `max_backoff_ms`."""

    max_retries: int = 3
    backoff_ms: int = 200
    max_backoff_ms: int = 5_000

    def delay(self, attempt: int) -> float:
        return float(min(self.backoff_ms * 2 ** (attempt - 1), self.max_backoff_ms)) / 1000.0

    def outage_delay(self, attempt: int) -> float:
        return Backoff(self.backoff_ms / 1000, self.max_backoff_ms / 1000).delay(attempt)


class BusMetrics:
    """Consumer-side platform metrics; the registry is injected so tests stay isolated.

    `event_type` names a record's event type for the `type` label (helpline.events.event_type_label:
    the type when the event registry knows it, so a producer cannot mint label values); the
    transport reads no envelope itself.
    """

    def __init__(self, registry: CollectorRegistry, event_type: Callable[[Record], str]) -> None:
        self.event_type = event_type
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

        # The labelled children every record updates, kept: finding one through `labels` cost more
        # than the update itself. As many as topics read times event types the registry knows.
        self._ok: dict[tuple[str, str], Counter] = {}
        self._timers: dict[str, Histogram] = {}

    def count_ok(self, topic: str, event_type: str, seconds: float, count: int = 1) -> None:
        """`count` records of a type handled, each in `seconds`."""
        ok = self._ok.get((topic, event_type))
        if ok is None:
            ok = self._ok[(topic, event_type)] = self.handled.labels(topic, event_type, "ok")
        ok.inc(count)
        timer = self._timers.get(topic)
        if timer is None:
            timer = self._timers[topic] = self.handle_seconds.labels(topic)
        for _ in range(count):
            timer.observe(seconds)

    def count_batch(self, records: Sequence[Record], seconds: float) -> None:
        """A batch handled at once: each record counted ok, and timed as its share of the batch."""
        share = seconds / len(records)
        for (topic, event_type), count in collections.Counter(
            (r.topic, self.event_type(r)) for r in records
        ).items():
            self.count_ok(topic, event_type, share, count)


class ConsumerLoop:
    """Poll, handle each record, DLQ what can never succeed, commit what was handled.

    A transient failure (helpline.failures: Redis or Kafka away, slow, full or contended) is ridden
    out: the loop pauses its partitions, keeps polling so it stays in the group, and retries the
    same record with capped exponential backoff for as long as the outage lasts; the records
    behind it wait in order. A permanent one (undecodable, refused by the domain) goes to the DLQ at
    once; an unexpected one (a bug) after `retry.max_retries` retries, so the partition moves on and
    the record can be replayed once the bug is fixed.

    With a `batch_handler`, each poll's records go to it at once, and to `handler` only the one it
    could not handle, or all of them when it failed.

    The client comes through helpline.kafka: its rebalance callbacks run on this loop's thread
    inside `poll`, between records, so the commit on revoke needs no hand-off."""

    def __init__(
        self,
        *,
        bootstrap: str,
        group_id: str,
        topics: Sequence[str],
        handler: Handler,
        dlq_producer: Producer,
        retry: RetryPolicy | None = None,
        client_id: str = "helpline",
        metrics: BusMetrics | None = None,
        max_poll_records: int = 200,
        poll_timeout_ms: int = 500,
        batch_handler: BatchHandler | None = None,
        before_commit: Callable[[], None] = lambda: None,
        replay_unkept: bool = True,
        **options: Any,
    ) -> None:
        self.group_id = group_id
        # Passed before each commit (helpline.durability): an offset is committed only once the
        # writes its records made would survive a Redis failover.
        self._before_commit = before_commit
        # When it refuses, those writes may exist only on a primary about to die, and a commit made
        # once a promoted replica passes it would skip records whose effects died with the old one:
        # the records since the last commit are handled again instead (idempotent handlers apply
        # each once, on whichever primary holds their marks). A handler with effects outside Redis,
        # which a second handling would repeat, is not replayed: its offsets wait for the barrier.
        self._replay_unkept = replay_unkept
        self.topics = list(topics)
        self.handler = handler
        self.batch_handler = batch_handler
        self.dlq_producer = dlq_producer
        self.retry = retry or RetryPolicy()
        self.metrics = metrics
        self.max_poll_records = max_poll_records
        self.poll_timeout_ms = poll_timeout_ms
        self._stop = threading.Event()
        self._handled: dict[TopicPartition, int] = {}
        # The first record handled since the last commit, by partition: where a replay starts.
        self._since: dict[TopicPartition, int] = {}
        self._partitions: dict[tuple[str, int], TopicPartition] = {}
        # Records polled and not yet handled, in the order they came: a poll's batch, kept while an
        # outage is ridden out.
        self._pending: collections.deque[Record] = collections.deque()
        self._paused = False
        self._assigned_since_poll = False
        check(options)
        self._connect: Callable[[], Consumer] = functools.partial(
            clients.consumer, bootstrap, client_id, group_id, **options
        )
        # Connected in run(), so a loop that is built but never run (a service wired up in a test)
        # leaves no client thread behind.
        self.consumer: Consumer
        self.assigned = threading.Event()

    def stop(self) -> None:
        """Ask the loop to finish the record (or batch) in hand, commit and return; safe from any thread."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        """Riding out an outage: the partitions are paused while a record is retried."""
        return self._paused

    def run(self) -> None:
        log.info("consuming", group=self.group_id, topics=self.topics)
        self.consumer = self._connect()
        self.consumer.subscribe(
            self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        self._pending.clear()
        committed_at = reported_at = time.monotonic()
        try:
            while not self._stop.is_set():
                polled = 0
                if not self._pending:
                    records = self.consumer.poll(
                        self._poll_timeout(committed_at) / 1000, self.max_poll_records
                    )
                    polled = len(records)
                    self._pending.extend(records)
                    if self._assigned_since_poll:
                        self._assigned_since_poll = False
                        # While the loop holds a record it pauses whatever is assigned itself, and
                        # resumes it all when it lets go.
                        if not self._paused:
                            self.consumer.resume()
                try:
                    self._drain()
                except _InterruptedError:
                    return
                now = time.monotonic()
                # A commit is a broker round trip the next record would wait behind: under steady
                # traffic, one per interval; when the traffic pauses, at once.
                if not polled or now - committed_at >= COMMIT_INTERVAL_S:
                    self.commit()
                    committed_at = now
                if now - reported_at >= LAG_REPORT_INTERVAL_S:
                    self._report_lag()
                    reported_at = now
        finally:
            self.commit()
            # Leaves the group, so the partitions move at once instead of after the session timeout.
            self.consumer.close()
            log.info("consumer stopped", group=self.group_id)

    def _on_assign(self, assigned: list[TopicPartition]) -> None:
        log.info(
            "partitions assigned",
            group=self.group_id,
            partitions=[f"{topic}/{partition}" for topic, partition in assigned],
        )
        if assigned:
            self.assigned.set()
        # Both clients keep a partition's pause across a rebalance: one paused while an outage was
        # ridden out and assigned again after the loop let go (its revoke ended the wait before
        # this assignment came) would never be fetched again. Resumed once the poll returns, when
        # the client has applied the assignment (librdkafka applies it after this callback).
        self._assigned_since_poll = True

    def _on_revoke(self, revoked: list[TopicPartition]) -> None:
        # Whatever was handled on a partition we lose is committed now, so its new owner starts after
        # it, and what was not handled yet is left to that owner.
        gone = set(revoked)
        self.commit(gone)
        self._forget_pending(gone)

    def _on_lost(self, lost: list[TopicPartition]) -> None:
        # Another member owns them already: a commit would be refused, and they are redelivered there.
        gone = set(lost)
        self.take_handled(gone)
        self._forget_pending(gone)

    def _forget_pending(self, gone: set[TopicPartition]) -> None:
        kept = [r for r in self._pending if (r.topic, r.partition) not in gone]
        if len(kept) != len(self._pending):
            self._pending = collections.deque(kept)

    def _poll_timeout(self, committed_at: float) -> int:
        """A poll waits no longer than until the next commit is due: what was handled just before the
        traffic paused is committed within the interval, not a whole poll timeout later."""
        if not self._handled:
            return self.poll_timeout_ms
        due = committed_at + COMMIT_INTERVAL_S - time.monotonic()
        return max(0, min(self.poll_timeout_ms, int(due * 1000)))

    def take_handled(self, only: set[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """The next offsets after what was handled since the last commit, by (topic, partition), of
        `only` those partitions; forgotten here: the caller commits them."""
        offsets = {tp: offset for tp, offset in self._handled.items() if only is None or tp in only}
        for tp in offsets:
            self._handled.pop(tp, None)
            self._since.pop(tp, None)
        return offsets

    def commit(self, only: set[TopicPartition] | None = None) -> None:
        if not any(only is None or tp in only for tp in self._handled):
            return
        try:
            self._before_commit()
        except Exception as exc:
            if not is_transient(exc):
                raise
            # Left uncommitted: handled again by this loop (a replay) or by the partitions' next
            # owner, or, without a replay, committed on a later round.
            log.warning("commit deferred: writes not durable yet", error=str(exc), group=self.group_id)
            if only is not None:
                self.take_handled(only)
            elif self._replay_unkept and not self._stop.is_set():
                self._replay()
            return
        offsets = self.take_handled(only)
        try:
            self.consumer.commit(offsets)
        except KafkaError as exc:
            # The group rebalanced under us, or the coordinator is away: these records will be
            # handled again by whoever owns their partitions next.
            log.warning("commit failed; records will be redelivered", error=str(exc), group=self.group_id)

    def _replay(self) -> None:
        """Handle again every record handled since the last commit: each partition is sought back to
        the first of them, and the records fetched behind it are fetched again."""
        since = dict(self._since)
        # Forgotten before seeking: if a seek fails, nothing past it can be committed by this loop.
        self.take_handled(set(since))
        self._forget_pending(set(since))
        for partition, offset in since.items():
            self.consumer.seek(partition, offset)

    # -- handling -------------------------------------------------------------------------------

    def _drain(self) -> None:
        """Handle the pending records in order, until none is left or the loop stops."""
        if self.batch_handler is not None:
            self._drain_batches(self.batch_handler)
        while self._pending and not self._stop.is_set():
            self._handle_first()

    def _drain_batches(self, handle: BatchHandler) -> None:
        while self._pending and not self._stop.is_set():
            records = list(self._pending)
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
                return
            if done:
                self._mark_handled(records[:done])
                for _ in range(done):
                    self._pending.popleft()
                if self.metrics:
                    self.metrics.count_batch(records[:done], time.monotonic() - started)
            if self._pending:
                self._handle_first()

    def _handle_first(self) -> None:
        record = self._pending[0]
        self._process(record)
        # Not first any more when its partition was revoked while an outage was ridden out: its
        # new owner handles it from the last commit.
        if self._pending and self._pending[0] is record:
            self._pending.popleft()
            self._mark_handled((record,))

    def _mark_handled(self, records: Sequence[Record]) -> None:
        partitions = self._partitions
        for record in records:
            key = (record.topic, record.partition)
            # One TopicPartition per partition, reused: building a named tuple for every record
            # was a third of this loop's own cost per record.
            partition = partitions.get(key)
            if partition is None:
                partition = partitions[key] = TopicPartition(*key)
            self._handled[partition] = record.offset + 1
            self._since.setdefault(partition, record.offset)

    def _process(self, record: Record) -> None:
        """Handle the first pending record to its end (handled or dead-lettered), or until its
        partition is taken from this consumer while an outage is ridden out."""
        started = time.monotonic()
        metrics = self.metrics
        event_type = metrics.event_type(record) if metrics else ""
        # The first attempt apart from the retries: every record pays for it, few for the rest.
        try:
            self.handler(record)
        except Exception as exc:
            if not self._retry(record, exc, event_type):
                return
            if metrics:
                metrics.handle_seconds.labels(record.topic).observe(time.monotonic() - started)
        else:
            if metrics:
                metrics.count_ok(record.topic, event_type, time.monotonic() - started)

    def _retry(self, record: Record, failure: Exception, event_type: str) -> bool:
        """Retry a record whose handling failed until it is handled or dead-lettered (True), or its
        partition is taken from this consumer meanwhile (False)."""
        outage = OutageLog(f"handler of {record.topic}")
        failures = 0
        while True:
            if isinstance(failure, PermanentError):
                self._dead_letter(record, failure, failures + 1, event_type)
                break
            if self._stop.is_set():
                # Shutting down: leave it uncommitted so the next owner tries again.
                raise _InterruptedError from failure
            if is_transient(failure):
                outage.failed(failure, partition=record.partition, offset=record.offset)
                delay = self.retry.outage_delay(outage.failures)
            else:
                failures += 1
                if failures > self.retry.max_retries:
                    self._dead_letter(record, failure, failures, event_type)
                    break
                log.warning(
                    "handler failed, retrying",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    attempt=failures,
                    error=repr(failure),
                )
                delay = self.retry.delay(failures)
            if self.metrics:
                self.metrics.retries.labels(record.topic, event_type).inc()
            if not self._wait_holding(record, delay):
                self._resume()
                return False
            try:
                self.handler(record)
            except Exception as exc:
                failure = exc
            else:
                if self.metrics:
                    self.metrics.handled.labels(record.topic, event_type, "ok").inc()
                break
        outage.recovered(topic=record.topic, partition=record.partition, offset=record.offset)
        self._resume()
        return True

    def _wait_holding(self, record: Record, delay_s: float) -> bool:
        """Wait `delay_s` before `record` is tried again, with every partition paused and the group
        membership kept (the client ends it when `poll` is not called within max.poll.interval.ms).
        False when the record's partition was revoked meanwhile; raises _InterruptedError on stop."""
        deadline = time.monotonic() + delay_s
        while True:
            # Again on every step: a rebalance meanwhile may have assigned partitions not paused yet.
            self.consumer.pause()
            self._paused = True
            if self._stop.is_set():
                raise _InterruptedError
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            # Fetched for a partition assigned in this poll, before the pause above reached it:
            # it is that partition's first record here, so it goes last in order.
            self._pending.extend(self.consumer.poll(min(left, 0.5), 1))
            if not self._pending or self._pending[0] is not record:
                return False

    def _resume(self) -> None:
        if self._paused:
            # Fetching goes on from the position after the last record polled: those polled before
            # the pause are still in `_pending`, so nothing is skipped or fetched twice.
            self.consumer.resume()
            self._paused = False

    def _dead_letter(self, record: Record, exc: BaseException, attempts: int, event_type: str) -> None:
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
        if isinstance(exc, PermanentError) and exc.reason:
            headers.append(("dlq_reason", exc.reason.encode()))
        target = dlq_topic(record.topic)
        outgoing = OutgoingRecord(target, record.value or b"", record.key, headers)
        outage = OutageLog(f"dead-letter writer of {record.topic}")
        while True:
            try:
                # Waiting for the ack keeps "nothing lost": the offset is committed only after it.
                publish(self.dlq_producer, outgoing)
                break
            except Exception as failed:
                if not is_transient(failed):
                    raise
                outage.failed(failed, dlq=target)
                if not self._wait_holding(record, self.retry.outage_delay(outage.failures)):
                    self._resume()
                    return
        outage.recovered()
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
        for topic, lag in self.consumer.lag().items():
            self.metrics.lag.labels(topic, self.group_id).set(lag)


class _InterruptedError(Exception):
    """The loop was stopped while a record was being retried; it stays uncommitted."""
