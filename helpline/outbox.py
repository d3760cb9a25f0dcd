"""The transactional outbox: a state change and the events it emits are written by one Lua script,
the events into a Redis stream; a relay publishes the stream to Kafka at least once.

No dual writes: a service never writes Redis and then Kafka (a crash between the two would lose or
invent a fact). The relay reads with a consumer group, waits for Kafka's ack, then XACKs and
deletes; entries left pending by a dead relay are taken over with XAUTOCLAIM. A relay killed
between Kafka's ack and its XACK publishes that entry again, so consumers drop duplicates by
event id (`helpline.idempotency`).

An entry Kafka refuses for good (too large, invalid) moves to the stream's dead letters
(`<stream>:dead`, with the error) and the relay goes on: one bad record must not stop every
tenant's events. Redis or Kafka away, slow or without replicas is ridden out: the relay backs off
and publishes the same entries again, in order, for as long as it takes, and never exits.

Of a service's replicas, one relay at a time publishes a stream: it holds a lease in Redis and
renews it every round. Several relays reading one group at once would publish neighbouring
entries in parallel, so a contact's "offered" could reach Kafka after its "rejected"; one
publisher keeps the stream's order, which is the order of the commits. A relay that takes the
lease over first publishes what the previous holder left pending, oldest first.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, Gauge

from helpline.bus import send
from helpline.failures import Backoff, OutageLog, StoppedError, is_transient, until_available
from helpline.kafka.port import Delivery, ProduceError, Producer
from helpline.logging import get_logger
from helpline.records import OutgoingRecord

log = get_logger(__name__)

RELAY_GROUP = "relay"
DEAD_SUFFIX = ":dead"
# Gauges are scraped every few seconds: refreshing them more often only costs round trips.
REPORT_INTERVAL_S = 1.0

# Take the lease if it is free, renew it if it is ours; 1 when we hold it after the call.
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# Wraps a service's script. The caller appends the outbox stream to KEYS and the encoded records
# plus their count to ARGV; the wrapper takes them off again, so the body sees its own KEYS and ARGV
# (as function parameters: Redis 7 forbids reassigning the globals) and calls emit_all() (or
# emit(i), 1-based) once its change is applied.
_PRELUDE = """
local __n = tonumber(ARGV[#ARGV])
local __outbox = KEYS[#KEYS]
local __base = #ARGV - 1 - 4 * __n
local __argv = ARGV
local function emit(i)
  local at = __base + 4 * (i - 1)
  return redis.call('XADD', __outbox, '*', 't', __argv[at + 1], 'k', __argv[at + 2],
                    'v', __argv[at + 3], 'h', __argv[at + 4])
end
local function emit_all()
  for i = 1, __n do emit(i) end
end
local __body = function(KEYS, ARGV)
__BODY__
end
return __body({unpack(KEYS, 1, #KEYS - 1)}, {unpack(ARGV, 1, __base)})
"""


def encode_headers(headers: Sequence[tuple[str, bytes]]) -> bytes:
    # Headers are ASCII names with arbitrary byte values; latin-1 maps bytes to code points 1:1.
    return json.dumps([[name, value.decode("latin-1")] for name, value in headers]).encode()


def decode_headers(raw: bytes) -> list[tuple[str, bytes]]:
    return [(name, value.encode("latin-1")) for name, value in json.loads(raw)]


class OutboxScript:
    """A service's state-changing Lua script that may emit events through the outbox atomically."""

    def __init__(self, client: redis.Redis, stream: str, body: str) -> None:
        self.stream = stream
        self._script = client.register_script(_PRELUDE.replace("__BODY__", body))

    def __call__(
        self,
        keys: Sequence[str] = (),
        args: Sequence[Any] = (),
        records: Sequence[OutgoingRecord] = (),
        client: redis.Redis | None = None,
    ) -> Any:
        tail: list[Any] = []
        for r in records:
            tail += [r.topic, r.key or b"", r.value, encode_headers(r.headers)]
        return self._script(
            keys=[*keys, self.stream],
            args=[*args, *tail, len(records)],
            client=client,
        )


def dead_letter_stream(stream: str) -> str:
    """Where a stream's entries Kafka refused for good are kept, with the error, for an operator."""
    return f"{stream}{DEAD_SUFFIX}"


class OutboxMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "helpline_outbox_published_total",
            "Outbox entries published to Kafka.",
            ["stream"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "helpline_outbox_dead_letters_total",
            "Outbox entries Kafka refused for good (too large, invalid), moved to <stream>:dead.",
            ["stream"],
            registry=registry,
        )
        self.backlog = Gauge(
            "helpline_outbox_backlog",
            "Outbox entries not yet published.",
            ["stream"],
            registry=registry,
        )


Entry = tuple[bytes, dict[bytes, bytes]]


class OutboxRelay:
    """Moves one outbox stream to Kafka, at least once, in order per stream.

    Not a helpline.polling.PollingWorker, on purpose: its wait is inside the round, a blocking
    XREADGROUP that returns as soon as an entry is appended (a poller's sleep between rounds would
    add its interval to every event's latency), and it rides out a transient Redis or Kafka failure
    itself, with its own backoff, outage log and lease state (a round that failed re-reads every
    pending entry, oldest first), rather than raising to the runtime's worker restart: tests and the
    crash-test relay run it outside a ServiceRuntime, through the same outages."""

    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        producer: Producer,
        *,
        consumer_name: str | None = None,
        batch: int = 100,
        claim_idle_ms: int = 30_000,
        block_ms: int = 500,
        lease_ms: int = 5_000,
        dead_letter_maxlen: int = 10_000,
        backoff: Backoff | None = None,
        metrics: OutboxMetrics | None = None,
        barrier: Callable[[], None] = lambda: None,
    ) -> None:
        self.client = client
        # Passed before each batch is published (helpline.durability): an event never reaches Kafka
        # while the write that made it could still be lost in a Redis failover.
        self._barrier = barrier
        self.stream = stream
        self.dead_stream = dead_letter_stream(stream)
        self.producer = producer
        # A stable name (the pod's hostname) lets a restarted relay find its own pending entries at once.
        self.consumer_name = consumer_name or socket.gethostname()
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.metrics = metrics
        self.lease_ms = lease_ms
        self.dead_letter_maxlen = dead_letter_maxlen
        self.backoff = backoff or Backoff(initial_s=0.1, cap_s=5.0)
        # Kafka's acks are awaited for at most half the lease: a round that outlasted the lease
        # would let another replica's relay publish the same entries beside this one.
        self._ack_timeout_s = lease_ms / 2000
        # Unique per process: replicas on one host share the consumer name.
        self._holder = f"{self.consumer_name}:{uuid.uuid4()}"
        self._lease = client.register_script(_LEASE)
        self._holding = False
        # Sent and not yet settled, by entry id: an entry retried after a timeout waits for its
        # send still under way in the Kafka client instead of queueing another copy each round.
        self._in_flight: dict[bytes, Delivery] = {}
        # Monotonic seconds of the last idle-entry sweep and backlog report: both cost Redis round
        # trips that a relay publishing one batch per contact must not pay every round.
        self._swept_at = 0.0
        self._reported_at = 0.0
        self._stop = threading.Event()
        self._outage = OutageLog(f"outbox relay {stream}")
        self._group_ready = False

    def _ensure_group(self) -> None:
        try:
            # "0", not "$": entries appended before the first relay started must be published too.
            self.client.xgroup_create(self.stream, RELAY_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        log.info("outbox relay running", stream=self.stream, consumer=self.consumer_name)
        try:
            until_available(self._ensure_group, f"outbox relay {self.stream}", self._stop, self.backoff)
        except StoppedError:
            return
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self._outage.failed(exc)
                # Whatever this round read stays pending; the next round that holds the lease takes
                # every pending entry again, oldest first, so order holds across the outage.
                self._holding = False
                self._stop.wait(self.backoff.delay(self._outage.failures))
            else:
                self._outage.recovered()
        log.info("outbox relay stopped", stream=self.stream)

    def run_once(self) -> int:
        """One round: take over entries a dead relay left idle, then read new ones; returns how many
        were published. A relay without the lease waits a round instead."""
        if not self._group_ready:
            self._ensure_group()
        if not self._lease(keys=[f"{self.stream}:relay-lease"], args=[self._holder, self.lease_ms]):
            self._holding = False
            self._in_flight.clear()
            self._stop.wait(self.block_ms / 1000)
            return 0
        # The previous holder's pending entries are older than any new one: they go first, and
        # all of them when the lease just changed hands or a round failed.
        now = time.monotonic()
        published = 0
        if not self._holding:
            published = self._claim(0)
            self._swept_at = now
        elif now - self._swept_at >= self.claim_idle_ms / 2000:
            published = self._claim(self.claim_idle_ms)
            self._swept_at = now
        self._holding = True
        entries = self._read(">", block=self.block_ms)
        if entries:
            published += self._publish(entries)
        if self.metrics and now - self._reported_at >= REPORT_INTERVAL_S:
            self.metrics.backlog.labels(self.stream).set(self.backlog())
            self._reported_at = now
        return published

    def _claim(self, min_idle_ms: int) -> int:
        published = 0
        start = "0-0"
        while True:
            start, claimed, *_ = self.client.xautoclaim(
                self.stream,
                RELAY_GROUP,
                self.consumer_name,
                min_idle_time=min_idle_ms,
                start_id=start,
                count=self.batch,
            )
            entries = [e for e in claimed if e[1]]
            if entries:
                published += self._publish(entries)
            if start in (b"0-0", "0-0") or not claimed:
                return published

    def backlog(self) -> int:
        info = self.client.xinfo_groups(self.stream)
        for group in info:
            if group["name"] in (RELAY_GROUP, RELAY_GROUP.encode()):
                lag = group.get("lag")
                return int(group.get("pending", 0)) + int(lag or 0)
        return int(self.client.xlen(self.stream))

    def _read(self, start: str, block: int | None = None) -> list[Entry]:
        # redis-py types every reply shape at once; this call returns [[stream, [(id, fields), ...]]].
        response: Any = self.client.xreadgroup(
            RELAY_GROUP,
            self.consumer_name,
            {self.stream: start},
            count=self.batch,
            block=block,
        )
        if not response:
            return []
        _stream, entries = response[0]
        return [e for e in entries if e[1]]

    def _publish(self, entries: list[Entry]) -> int:
        """Publish `entries` in order and settle them; raises the first transient failure after
        settling what came before it, so the rest is published again, still in order."""
        self._barrier()
        sent: list[tuple[Entry, Delivery | ProduceError]] = []
        for entry in entries:
            sent.append((entry, self._send(entry)))
        # A flush that times out says nothing per record: the deliveries below do.
        with contextlib.suppress(ProduceError):
            self.producer.flush(self._ack_timeout_s)
        published: list[bytes] = []
        dead: list[tuple[Entry, ProduceError]] = []
        failure: ProduceError | None = None
        for entry, outcome in sent:
            try:
                if isinstance(outcome, ProduceError):
                    raise outcome
                outcome.get(timeout=0.5)
            except ProduceError as exc:
                if not exc.permanent:
                    failure = exc
                    break
                dead.append((entry, exc))
            else:
                published.append(entry[0])
        self._settle(published, dead)
        if failure is not None:
            raise failure
        return len(published)

    def _send(self, entry: Entry) -> Delivery | ProduceError:
        entry_id, fields = entry
        earlier = self._in_flight.get(entry_id)
        if earlier is not None and (not earlier.done or earlier.succeeded):
            return earlier
        record = OutgoingRecord(
            topic=fields[b"t"].decode(),
            key=fields[b"k"] or None,
            value=fields[b"v"],
            headers=decode_headers(fields[b"h"]),
        )
        try:
            delivery = send(self.producer, record)
        except ProduceError as exc:
            if not exc.permanent:
                raise
            return exc
        self._in_flight[entry_id] = delivery
        return delivery

    def _settle(self, published: list[bytes], dead: list[tuple[Entry, ProduceError]]) -> None:
        """Acknowledge and delete what Kafka took, and move what it refused to the dead letters,
        in one transaction."""
        if not published and not dead:
            return
        pipe = self.client.pipeline(transaction=True)
        failed_at = datetime.now(UTC).isoformat()
        for (entry_id, fields), error in dead:
            kept: dict[Any, Any] = {**fields, b"entry": entry_id, b"error": str(error)}
            kept[b"failed_at"] = failed_at
            pipe.xadd(
                self.dead_stream,
                kept,
                maxlen=self.dead_letter_maxlen,
                approximate=True,
            )
        ids = published + [entry_id for (entry_id, _), _ in dead]
        pipe.xack(self.stream, RELAY_GROUP, *ids)
        pipe.xdel(self.stream, *ids)
        pipe.execute()
        for entry_id in ids:
            self._in_flight.pop(entry_id, None)
        for (entry_id, fields), error in dead:
            log.error(
                "outbox entry refused by Kafka, moved to the dead letters",
                stream=self.stream,
                dead_letters=self.dead_stream,
                entry=entry_id.decode(),
                topic=fields[b"t"].decode(errors="replace"),
                bytes=len(fields[b"v"]),
                error=str(error),
            )
        if self.metrics:
            self.metrics.published.labels(self.stream).inc(len(published))
            if dead:
                self.metrics.dead_letters.labels(self.stream).inc(len(dead))


@dataclass(frozen=True)
class DeadLetter:
    """An outbox entry Kafka refused for good, as `<stream>:dead` keeps it."""

    entry_id: str
    topic: str
    size: int
    error: str
    failed_at: str


def dead_letters(client: redis.Redis, stream: str, count: int = 100) -> list[DeadLetter]:
    """The oldest `count` dead letters of a stream."""
    found: Any = client.xrange(dead_letter_stream(stream), count=count)
    return [
        DeadLetter(
            entry_id=entry_id.decode(),
            topic=fields[b"t"].decode(errors="replace"),
            size=len(fields[b"v"]),
            error=fields.get(b"error", b"").decode(errors="replace"),
            failed_at=fields.get(b"failed_at", b"").decode(),
        )
        for entry_id, fields in found
    ]


# KEYS: the dead letters, the outbox. ARGV: the dead entry ids, or none for all of them.
_REQUEUE = """
local entries
if #ARGV == 0 then
  entries = redis.call('XRANGE', KEYS[1], '-', '+')
else
  entries = {}
  for i = 1, #ARGV do
    local found = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
    if found[1] then entries[#entries + 1] = found[1] end
  end
end
for _, entry in ipairs(entries) do
  local fields, kept = entry[2], {}
  for i = 1, #fields, 2 do
    if fields[i] == 't' or fields[i] == 'k' or fields[i] == 'v' or fields[i] == 'h' then
      kept[#kept + 1] = fields[i]
      kept[#kept + 1] = fields[i + 1]
    end
  end
  redis.call('XADD', KEYS[2], '*', unpack(kept))
  redis.call('XDEL', KEYS[1], entry[1])
end
return #entries
"""


def requeue_dead_letters(client: redis.Redis, stream: str, entry_ids: Sequence[str] = ()) -> int:
    """Put dead letters back at the end of the outbox, atomically, for the relay to publish again
    (once what refused them is mended: a topic's max.message.bytes raised, say). Returns how many."""
    requeue = client.register_script(_REQUEUE)
    return int(requeue(keys=[dead_letter_stream(stream), stream], args=list(entry_ids)))
