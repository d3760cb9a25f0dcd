"""The periodic pruning of requirement signatures: every interval, each queue forgets the
signatures no contact waits on that its configuration does not make (`Catalog.prune_signatures`).

A contact with skills of its own registers its signature, and the agents who meet it join a ready
set for it and keep it up to date on every change of theirs. Gateways send any skills they like,
so without pruning those sets would only grow, and with them the work of every agent change.

Every replica runs the worker, without a lease: pruning twice is harmless (the second finds
nothing left), and it runs rarely: the first round one interval after the start, not at every start
of every replica. A round that fails on Redis (or loses every race) raises to the service runtime,
which starts the worker again after a backoff, like every other worker.
"""

from __future__ import annotations

from helpline.polling import PollingWorker
from services.router.composition import Router
from services.router.storage.store import Keys


class SignaturePruner(PollingWorker):
    def __init__(self, router: Router, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("the pruning interval must be positive")
        super().__init__("signature pruning", interval_s, again_when_busy=False, wait_first=True)
        self.router = router

    def run_once(self) -> int:
        """Prune every queue of every tenant; returns how many queues lost signatures."""
        pruned = 0
        for tenant in self.router.registry.tenants():
            for queue_id in self.router.store.members_of(Keys(tenant).queues()):
                if self.stopping:
                    return pruned
                pruned += self.router.catalog.prune_signatures(tenant, queue_id)
        return pruned
