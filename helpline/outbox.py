"""The transactional outbox: a state change and the events it emits are written by one Lua script,
the events into a Redis stream; a relay publishes the stream to Kafka at least once.

No dual writes: a service never writes Redis and then Kafka (a crash between the two would lose or
invent a fact). The relay reads with a consumer group, waits for Kafka's ack, then XACKs and
deletes; entries left pending by a dead relay are taken over with XAUTOCLAIM. A relay killed
between Kafka's ack and its XACK publishes that entry again, so consumers drop duplicates by
event id (`helpline.idempotency`).

Of a service's replicas, one relay at a time publishes a stream: it holds a lease in Redis and
renews it every round. Several relays reading one group at once would publish neighbouring
entries in parallel, so a contact's "offered" could reach Kafka after its "rejected"; one
publisher keeps the stream's order, which is the order of the commits. A relay that takes the
lease over first publishes what the previous holder left pending, oldest first.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, Gauge

from helpline.bus import OutgoingRecord, send
from helpline.logging import get_logger
from helpline.producer import Producer

log = get_logger(__name__)

RELAY_GROUP = "relay"
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


class OutboxMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "helpline_outbox_published_total",
            "Outbox entries published to Kafka.",
            ["stream"],
            registry=registry,
        )
        self.backlog = Gauge(
            "helpline_outbox_backlog",
            "Outbox entries not yet published.",
            ["stream"],
            registry=registry,
        )


class OutboxRelay:
    """Moves one outbox stream to Kafka, at least once, in order per stream."""

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
        metrics: OutboxMetrics | None = None,
    ) -> None:
        self.client = client
        self.stream = stream
        self.producer = producer
        # A stable name (the pod's hostname) lets a restarted relay find its own pending entries at once.
        self.consumer_name = consumer_name or socket.gethostname()
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.metrics = metrics
        self.lease_ms = lease_ms
        # Unique per process: replicas on one host share the consumer name.
        self._holder = f"{self.consumer_name}:{uuid.uuid4()}"
        self._lease = client.register_script(_LEASE)
        self._holding = False
        # Monotonic seconds of the last idle-entry sweep and backlog report: both cost Redis round
        # trips that a relay publishing one batch per contact must not pay every round.
        self._swept_at = 0.0
        self._reported_at = 0.0
        self._stop = threading.Event()
        self._ensure_group()

    def _ensure_group(self) -> None:
        try:
            # "0", not "$": entries appended before the first relay started must be published too.
            self.client.xgroup_create(self.stream, RELAY_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        log.info("outbox relay running", stream=self.stream, consumer=self.consumer_name)
        while not self._stop.is_set():
            self.run_once()
        log.info("outbox relay stopped", stream=self.stream)

    def run_once(self) -> int:
        """One round: take over entries a dead relay left idle, then read new ones; returns how many
        were published. A relay without the lease waits a round instead."""
        if not self._lease(keys=[f"{self.stream}:relay-lease"], args=[self._holder, self.lease_ms]):
            self._holding = False
            self._stop.wait(self.block_ms / 1000)
            return 0
        # The previous holder's pending entries are older than any new one: they go first, and
        # all of them when the lease just changed hands.
        now = time.monotonic()
        published = 0
        if not self._holding:
            published = self._claim(0)
            self._swept_at = now
        elif now - self._swept_at >= self.claim_idle_ms / 2000:
            # Entries this relay read but could not publish (Kafka refused) wait here to be retried.
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

    def _read(self, start: str, block: int | None = None) -> list[tuple[bytes, dict[bytes, bytes]]]:
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

    def _publish(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> int:
        futures = []
        for _entry_id, fields in entries:
            record = OutgoingRecord(
                topic=fields[b"t"].decode(),
                key=fields[b"k"] or None,
                value=fields[b"v"],
                headers=decode_headers(fields[b"h"]),
            )
            futures.append(send(self.producer, record))
        self.producer.flush()
        for future in futures:
            # Raises if Kafka refused: the entries stay pending and are published again.
            future.get(timeout=30)
        ids = [entry_id for entry_id, _ in entries]
        self._acknowledge(ids)
        if self.metrics:
            self.metrics.published.labels(self.stream).inc(len(ids))
        return len(ids)

    def _acknowledge(self, ids: list[bytes]) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.stream, RELAY_GROUP, *ids)
        pipe.xdel(self.stream, *ids)
        pipe.execute()
