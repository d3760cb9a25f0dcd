"""The tenants the router serves: those with queues, whose timers and queue snapshots the workers
look after. One set outside every tenant's slot, like `tickets:tenants`: a tenant enters it when
it puts a queue (contacts, and so timers, only ever wait in a queue) and leaves it when its last
queue is removed and no timer is left.

Routers before this registry wrote the set only for tenants with timers and found the tenants with
queues by SCAN of the whole database, every interval on every replica. The first read of a router
that finds no `MIGRATED` mark does that SCAN once and adds every tenant with a queue set; the mark
is set when the SCAN is through, so a router stopped halfway leaves the job to the next one. (A
SCAN sees one node of a cluster; the routers before the registry ran on a single Redis.)
"""

from __future__ import annotations

from typing import Any

import redis

from helpline.logging import get_logger
from services.router.storage.store import Keys

log = get_logger(__name__)

TENANTS = "router:tenants"
MIGRATED = "router:tenants:migrated"
_QUEUES_KEY_PREFIX = "rt:{"
_SCAN_BATCH = 1000


class TenantRegistry:
    """The set of tenants the router serves, read by the timer, snapshot and pruning workers."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._migrated = False

    def add(self, tenant: str) -> None:
        self.client.sadd(TENANTS, tenant)

    def forget_if_idle(self, tenant: str) -> bool:
        """Take a tenant with no queue and no timer out; True if it is out.

        Removed first and checked after, against `Catalog.put_queue`, which adds the tenant after
        committing its queue: whichever order the two run in, a tenant with a queue stays in."""
        self.client.srem(TENANTS, tenant)
        pipe = self.client.pipeline(transaction=False)
        pipe.exists(Keys(tenant).queues())
        pipe.exists(Keys(tenant).timers())
        queues, timers = pipe.execute()
        if queues or timers:
            self.add(tenant)
            return False
        return True

    def tenants(self) -> list[str]:
        if not self._migrated:
            self._migrate()
        members: Any = self.client.smembers(TENANTS)
        return sorted(member.decode() for member in members)

    def _migrate(self) -> None:
        if not self.client.exists(MIGRATED):
            found = 0
            pattern = f"{_QUEUES_KEY_PREFIX}*}}:queues"
            for raw in self.client.scan_iter(match=pattern, count=_SCAN_BATCH):
                key = raw.decode() if isinstance(raw, bytes) else str(raw)
                tenant = key[len(_QUEUES_KEY_PREFIX) : key.find("}")]
                # A queue id may hold the pattern's text; only the tenant's own queue set counts.
                if tenant and key == Keys(tenant).queues():
                    self.add(tenant)
                    found += 1
            self.client.set(MIGRATED, "1")
            log.info("tenant registry filled from the queue sets", tenants=found)
        self._migrated = True
