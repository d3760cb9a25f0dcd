"""The transactional outbox: a state change and the events it emits are written by one Lua script,
the events into a Redis stream; a relay publishes the stream to Kafka at least once.

No dual writes: a service never writes Redis and then Kafka (a crash between the two would lose or
invent a fact). The relay reads with a consumer group, waits for Kafka's ack, then XACKs and
deletes; entries left pending by a dead relay are taken over with XAUTOCLAIM. A relay killed
between Kafka's ack and its XACK publishes that entry again, so consumers drop duplicates by
event id (`helpline.idempotency`).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Sequence
from typing import Any

import redis
from kafka import KafkaProducer
from prometheus_client import CollectorRegistry, Counter, Gauge

from helpline.bus import OutgoingRecord, send
from helpline.logging import get_logger

log = get_logger(__name__)

RELAY_GROUP = "relay"

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
        producer: KafkaProducer,
        *,
        consumer_name: str | None = None,
        batch: int = 100,
        claim_idle_ms: int = 30_000,
        block_ms: int = 500,
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
        self.publish_pending()
        while not self._stop.is_set():
            self.run_once()
        log.info("outbox relay stopped", stream=self.stream)

    def publish_pending(self) -> int:
        """Entries this consumer read but never acknowledged (it died mid-way): publish them first."""
        total = 0
        while True:
            entries = self._read("0")
            if not entries:
                return total
            total += self._publish(entries)

    def run_once(self) -> int:
        """One round: take over entries a dead relay left idle, then read new ones; returns how many
        were published."""
        published = 0
        _next, claimed, *_ = self.client.xautoclaim(
            self.stream,
            RELAY_GROUP,
            self.consumer_name,
            min_idle_time=self.claim_idle_ms,
            start_id="0-0",
            count=self.batch,
        )
        if claimed:
            published += self._publish([e for e in claimed if e[1]])
        entries = self._read(">", block=self.block_ms)
        if entries:
            published += self._publish(entries)
        if self.metrics:
            self.metrics.backlog.labels(self.stream).set(self.backlog())
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
