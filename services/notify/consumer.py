"""The consumer of Helpline's event topics: each event of a tenant becomes one delivery for each of
the tenant's enabled subscriptions that takes its type, enqueued in the lane of its Kafka key.

It reads the platform's facts (every non-ingress topic but the audit trail and the service's own
`helpline.webhooks`, so a failing target cannot feed on its own failures). The enqueueing is one
script per event and idempotent by delivery id, so an event read twice is delivered once. A poll's
events are enqueued together, their scripts on one round trip to Redis; an event that cannot be
read ends the batch before it, and the bus hands it to the one-event handler, which dead-letters it.

A tenant's subscriptions are read from Redis at most every `cache_s` seconds per replica, so a new
or changed subscription takes events within that time (at once on the replica that changed it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from prometheus_client import Counter

from helpline.bus import BatchHandler
from helpline.clock import Clock
from helpline.events import Envelope, EventError, Proof, read_event
from helpline.logging import get_logger, handled, handling
from helpline.polling import Wake
from services.notify.domain.delivery import Delivery, Status, cloudevent_body, delivery_id, lane_of
from services.notify.domain.schedule import RetrySchedule
from services.notify.domain.subscription import Subscription
from services.notify.facts import dead_lettered
from services.notify.store import Enqueued, NotifyStore, Placed

log = get_logger(__name__)

GROUP = "notify"
TOPICS = (
    "helpline.contacts",
    "helpline.agents",
    "helpline.queues",
    "helpline.tickets",
    "helpline.sla",
    "helpline.feedback",
)
FULL_BACKLOG_ERROR = "refused: the subscription's backlog of waiting deliveries is full"
# Tenants whose subscriptions one replica keeps in memory; past it the cache starts over.
MAX_CACHED_TENANTS = 10_000


class SubscriptionCache:
    def __init__(self, store: NotifyStore, cache_s: float) -> None:
        self.store = store
        self.cache_s = cache_s
        self._lock = threading.Lock()
        self._by_tenant: dict[str, tuple[float, list[Subscription]]] = {}

    def get(self, tenant_id: str) -> list[Subscription]:
        now = time.monotonic()
        with self._lock:
            found = self._by_tenant.get(tenant_id)
        if found is not None and found[0] > now:
            return found[1]
        subs = [stored.subscription for stored in self.store.subscriptions(tenant_id)]
        with self._lock:
            if len(self._by_tenant) >= MAX_CACHED_TENANTS:
                self._by_tenant.clear()
            self._by_tenant[tenant_id] = (now + self.cache_s, subs)
        return subs

    def forget(self, tenant_id: str) -> None:
        with self._lock:
            self._by_tenant.pop(tenant_id, None)


class WebhookEvents:
    def __init__(
        self,
        store: NotifyStore,
        cache: SubscriptionCache,
        clock: Clock,
        schedule: RetrySchedule,
        *,
        retention: timedelta,
        log_max: int,
        max_pending: int,
        dead_letters: Counter,
        wake: Wake,
    ) -> None:
        self.store = store
        self.cache = cache
        self.clock = clock
        self.schedule = schedule
        self.retention_ms = int(retention.total_seconds() * 1000)
        self.log_max = log_max
        self.max_pending = max_pending
        # The deliveries metric's dead_lettered child: a refusal is a dead letter too, and its alert.
        self.dead_letters = dead_letters
        # The replica's idle delivery workers, woken when deliveries are enqueued, instead of each
        # finding them at its next poll (HELPLINE_WEBHOOK_POLL_SECONDS, most of a delivery's latency).
        self.wake = wake

    def handler(self, proof: Proof) -> Callable[[Any], None]:
        """The bus handler: decode (undecodable records and unproven outside events go to the DLQ),
        bind the event to the log lines, and enqueue by the record's key."""

        def handle(record: Any) -> None:
            envelope = read_event(record, proof)
            token = handling(envelope)
            try:
                self.enqueue(envelope, record.key)
            finally:
                handled(token)

        return handle

    def batch_handler(self, proof: Proof) -> BatchHandler:
        """The bus's batch handler: the poll's events up to the first that cannot be read, each
        with its deliveries, enqueued on one round trip; returns how many events it took."""

        def handle(records: Sequence[Any]) -> int:
            planned: list[tuple[str, list[Enqueued]]] = []
            taken = 0
            for record in records:
                try:
                    envelope = read_event(record, proof)
                except EventError:
                    break
                taken += 1
                items = self._plan(envelope, record.key)
                if items:
                    planned.append((envelope.tenant_id, items))
            if planned:
                placed = self.store.enqueue_many(
                    planned, self.clock.now(), self.retention_ms, self.log_max, self.max_pending
                )
                self._settle(sum(len(items) for _, items in planned), placed)
            return taken

        return handle

    def enqueue(self, envelope: Envelope, key: bytes | None) -> int:
        items = self._plan(envelope, key)
        if not items:
            return 0
        placed = self.store.enqueue(
            envelope.tenant_id, items, self.clock.now(), self.retention_ms, self.log_max, self.max_pending
        )
        self._settle(len(items), [placed])
        return placed.added

    def _settle(self, planned: int, placed: Sequence[Placed]) -> None:
        """Wake idle workers for the deliveries enqueued, and announce those refused for a full
        backlog: each dead, with its event, built only now (an enqueue that refuses none builds
        none)."""
        added = sum(p.added for p in placed)
        if added:
            self.wake.nudge(added)
        now = self.clock.now()
        refused = []
        for delivery in (d for p in placed for d in p.refused):
            dead = replace(delivery, status=Status.DEAD, next_attempt_at=None, last_error=FULL_BACKLOG_ERROR)
            refused.append((dead, dead_lettered(dead, now)))
        if refused:
            self.store.announce_refused(refused)
            self.dead_letters.inc(len(refused))
            log.warning(
                "deliveries dead-lettered: their subscription's backlog is full", deliveries=len(refused)
            )
        skipped = planned - added - len(refused)
        if skipped:
            log.info(
                "deliveries not enqueued: already there, or the subscription gone or disabled",
                skipped=skipped,
            )

    def _plan(self, envelope: Envelope, key: bytes | None) -> list[Enqueued]:
        """The event's deliveries: one for each of its tenant's subscriptions that takes its type."""
        tenant_id = envelope.tenant_id
        if not tenant_id:
            return []
        subs = [sub for sub in self.cache.get(tenant_id) if sub.takes(envelope.type)]
        if not subs:
            return []
        body = cloudevent_body(
            event_id=envelope.id,
            source=envelope.source,
            event_type=envelope.type,
            time=envelope.time,
            subject=envelope.subject,
            message=envelope.message,
        )
        now = self.clock.now()
        lane_key = key if key is not None else (envelope.subject or "").encode()
        items = []
        for sub in subs:
            delivery = Delivery(
                id=delivery_id(sub.id, envelope.id),
                tenant_id=tenant_id,
                subscription_id=sub.id,
                lane=lane_of(lane_key, self.store.lanes),
                event_id=envelope.id,
                event_type=envelope.type,
                event_time=envelope.time,
                status=Status.PENDING,
                attempts=0,
                created_at=now,
                next_attempt_at=now + self.schedule.first_wait,
            )
            items.append(Enqueued(delivery, body, now + self.schedule.first_wait))
        return items
