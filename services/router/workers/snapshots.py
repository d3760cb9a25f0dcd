"""The periodic QueueSnapshot: every interval, one event per queue and channel of every tenant
(depth, oldest wait, agents by state, EWT), through the outbox to `helpline.queues`.

Every replica runs the worker; a lease per tenant lets one of them publish each interval.
"""

from __future__ import annotations

import uuid

from helpline.polling import PollingWorker
from services.router.composition import Router
from services.router.domain.queue_status import queue_snapshot
from services.router.storage.store import Keys, Tx
from services.router.usecases.queue_status import statuses_of

# A tenant's snapshots go out a few queues at a time with a pause between, at most half the
# interval in all: built and committed at once, the hundred queues of a tenant held the interpreter
# and then the relay in one burst, and the contacts routed meanwhile waited behind it (the
# benchmark's p99 came from those bursts alone).
_CHUNK = 10
_CHUNK_PAUSE_S = 0.01


class QueueSnapshots(PollingWorker):
    """A round every `interval_s` seconds, busy or not: each is one interval's snapshots."""

    def __init__(self, router: Router, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("the snapshot interval must be positive")
        super().__init__("queue snapshots", interval_s, again_when_busy=False)
        self.router = router
        # Shorter than the interval, so the replica that took a lease always finds it gone at its
        # next tick, whatever the few milliseconds between a tick and its SET.
        self._lease_ms = max(1, int(interval_s * 900))
        self._holder = uuid.uuid4().hex

    def run_once(self) -> int:
        """Snapshot every tenant whose lease this worker takes; returns the snapshots emitted."""
        emitted = 0
        for tenant in self.router.registry.tenants():
            if self.stopping:
                break
            if self._take_lease(tenant):
                emitted += self.snapshot(tenant)
        return emitted

    def _take_lease(self, tenant: str) -> bool:
        # Three replicas tick at their own moments; whoever sets the key first publishes for this
        # interval and the others see it taken, so each snapshot reaches the topic once.
        taken = self.router.store.client.set(
            f"{Keys(tenant).base}:snapshot-lease", self._holder, nx=True, px=self._lease_ms
        )
        return bool(taken)

    def snapshot(self, tenant: str) -> int:
        """Emit one QueueSnapshot per queue and channel of the tenant, `_CHUNK` queues a commit, each
        as of its own reading."""
        queues = self.router.catalog.queues(tenant)
        chunks = [queues[start : start + _CHUNK] for start in range(0, len(queues), _CHUNK)]
        pause = min(_CHUNK_PAUSE_S, self.interval_s / 2 / max(1, len(chunks)))
        emitted = 0
        for number, chunk in enumerate(chunks):
            if number and self.pause(pause):
                break
            now = self.router.core.now()
            tx = Tx(Keys(tenant))
            for queue, statuses in zip(chunk, statuses_of(self.router.core, tenant, chunk, now), strict=True):
                snapshots = [queue_snapshot(tenant, queue, status, now) for status in statuses]
                tx.emit(snapshots, queue.queue_id)
                emitted += len(snapshots)
            self.router.store.commit(tx)
        return emitted
