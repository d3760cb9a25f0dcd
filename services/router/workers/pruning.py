"""The periodic pruning of requirement signatures: every interval, each queue forgets the
signatures no contact waits on that its configuration does not make (`Catalog.prune_signatures`).

A contact with skills of its own registers its signature, and the agents who meet it join a ready
set for it and keep it up to date on every change of theirs. Gateways send any skills they like,
so without pruning those sets would only grow, and with them the work of every agent change.

Every replica runs the worker, without a lease: pruning twice is harmless (the second finds
nothing left), and it runs rarely.
"""

from __future__ import annotations

import threading

import redis

from helpline.logging import get_logger
from helpline.optimistic import ContendedError
from services.router.composition import Router
from services.router.storage.store import Keys

log = get_logger(__name__)


class SignaturePruner:
    def __init__(self, router: Router, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("the pruning interval must be positive")
        self.router = router
        self.interval_s = interval_s
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        log.info("signature pruning running", interval_s=self.interval_s)
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except (redis.RedisError, ContendedError):
                log.warning("signature pruning interrupted; the next round tries again", exc_info=True)

    def run_once(self) -> int:
        """Prune every queue of every tenant; returns how many queues lost signatures."""
        pruned = 0
        for tenant in self.router.registry.tenants():
            for queue_id in self.router.store.members_of(Keys(tenant).queues()):
                if self._stop.is_set():
                    return pruned
                pruned += self.router.catalog.prune_signatures(tenant, queue_id)
        return pruned
