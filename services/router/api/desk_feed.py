"""One reader for all the open desk streams of a tenant, so a connected agent desktop holds no Redis
connection of its own.

Each StreamOffers call used to block in its own XREAD, holding one of the process's pooled
connections for as long as the desktop stayed connected: a hundred desktops took the whole pool,
and the next call failed. Here one thread per tenant with open desktops reads every one of its
desks with one blocking XREAD (a tenant's keys share a hash slot, so this stays valid on a Redis
Cluster) and hands each subscription the entries after the one it last had. The thread ends with
the tenant's last subscription. A Redis outage pauses the feed, which resumes where it was.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from helpline.failures import Backoff, OutageLog, is_transient
from helpline.logging import get_logger

log = get_logger(__name__)

EntryId = tuple[int, int]
Entry = tuple[bytes, Mapping[bytes, bytes]]

# How long one XREAD waits for news: also how late a desktop that just connected may hear of an
# offer made in that moment (it got the offer pending at connection directly).
BLOCK_MS = 250
BATCH = 50
# Entries a subscription may have waiting: a desktop this far behind is told to reconnect.
MAX_WAITING = 500


def entry_id(raw: bytes) -> EntryId:
    ms, _, seq = raw.partition(b"-")
    return int(ms), int(seq or 0)


@dataclass(eq=False)
class Subscription:
    """One desktop's view of its desk: the entries after `after`, as they come."""

    tenant: str
    key: str
    after: EntryId
    entries: queue.Queue[Entry] = field(default_factory=lambda: queue.Queue(MAX_WAITING))
    overflowed: bool = False


class DeskFeed:
    def __init__(self, client: redis.Redis, *, block_ms: int = BLOCK_MS, batch: int = BATCH) -> None:
        self.client = client
        self.block_ms = block_ms
        self.batch = batch
        self._lock = threading.Lock()
        self._feeds: dict[str, _TenantFeed] = {}

    def subscribe(self, tenant: str, key: str, after: bytes) -> Subscription:
        subscription = Subscription(tenant, key, entry_id(after))
        with self._lock:
            feed = self._feeds.get(tenant)
            if feed is None:
                feed = self._feeds[tenant] = _TenantFeed(self, tenant)
                feed.start()
            feed.subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Safe to call more than once: a stream ends by its generator closing and by grpc's callback."""
        with self._lock:
            feed = self._feeds.get(subscription.tenant)
            if feed is not None:
                feed.subscriptions.discard(subscription)

    def open_subscriptions(self) -> int:
        with self._lock:
            return sum(len(feed.subscriptions) for feed in self._feeds.values())

    def _retire(self, feed: _TenantFeed) -> bool:
        """Under the lock: True when the feed has no subscription left and may end."""
        with self._lock:
            if feed.subscriptions:
                return False
            if self._feeds.get(feed.tenant) is feed:
                del self._feeds[feed.tenant]
            return True


class _TenantFeed(threading.Thread):
    def __init__(self, owner: DeskFeed, tenant: str) -> None:
        super().__init__(name=f"desk-feed:{tenant}", daemon=True)
        self.owner = owner
        self.tenant = tenant
        self.subscriptions: set[Subscription] = set()
        self._outage = OutageLog(f"desk feed of {tenant}")
        self._backoff = Backoff(initial_s=0.2, cap_s=5.0)

    def run(self) -> None:
        while not self.owner._retire(self):
            with self.owner._lock:
                subscriptions = list(self.subscriptions)
            try:
                reply: Any = self.owner.client.xread(
                    self._positions(subscriptions), count=self.owner.batch, block=self.owner.block_ms
                )
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("desk feed failed", tenant=self.tenant)
                self._outage.failed(exc, tenant=self.tenant)
                threading.Event().wait(self._backoff.delay(self._outage.failures))
                continue
            self._outage.recovered(tenant=self.tenant)
            for raw_key, entries in reply or ():
                key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
                for subscription in subscriptions:
                    if subscription.key == key:
                        _deliver(subscription, entries)

    @staticmethod
    def _positions(subscriptions: list[Subscription]) -> dict[Any, Any]:
        """Each desk from the earliest entry any of its subscriptions still needs."""
        positions: dict[str, EntryId] = {}
        for subscription in subscriptions:
            known = positions.get(subscription.key)
            positions[subscription.key] = min(known, subscription.after) if known else subscription.after
        return {key: f"{ms}-{seq}" for key, (ms, seq) in positions.items()}


def _deliver(subscription: Subscription, entries: list[tuple[bytes, Mapping[bytes, bytes]]]) -> None:
    for raw_id, fields in entries:
        position = entry_id(raw_id)
        if position <= subscription.after or subscription.overflowed:
            continue
        try:
            subscription.entries.put_nowait((raw_id, fields))
        except queue.Full:
            subscription.overflowed = True
            return
        subscription.after = position
