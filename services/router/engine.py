"""The router's use cases, wired once: what the gRPC API, the REST admin API, the ingress
consumer and the workers all call."""

from __future__ import annotations

import redis

from helpline.clock import Clock
from services.router.agents import Agents
from services.router.catalog import Catalog, Quotas
from services.router.contacts import Contacts
from services.router.core import Core
from services.router.matching import Matcher
from services.router.retention import Retention
from services.router.steps import Steps
from services.router.store import Store
from services.router.tenants import TenantRegistry
from services.router.timers import TimerWorker


class Router:
    def __init__(
        self,
        client: redis.Redis,
        clock: Clock,
        retention: Retention | None = None,
        quotas: Quotas | None = None,
    ) -> None:
        self.store = Store(client, retention)
        self.registry = TenantRegistry(client)
        self.core = Core(self.store, clock)
        self.catalog = Catalog(self.core, self.registry, quotas)
        self.matcher = Matcher(self.core)
        self.steps = Steps(self.core, self.catalog, self.matcher)
        self.contacts = Contacts(self.core, self.catalog, self.matcher, self.steps)
        self.agents = Agents(self.core, self.matcher)

    def timer_worker(self, poll_seconds: float = 0.2) -> TimerWorker:
        return TimerWorker(
            self.store, self.registry, self.core.clock, self.contacts, poll_seconds=poll_seconds
        )
