"""The router's use cases, wired once: what the gRPC API, the REST admin API, the ingress
consumer and the workers all call."""

from __future__ import annotations

import redis

from helpline.clock import Clock
from services.router.storage.retention import Retention
from services.router.storage.store import Store
from services.router.storage.tenants import TenantRegistry
from services.router.usecases.agent_status import Agents
from services.router.usecases.configuration import Catalog, Quotas
from services.router.usecases.contact_steps import Steps
from services.router.usecases.contacts import Contacts
from services.router.usecases.matching import Matcher
from services.router.usecases.staging import Core
from services.router.workers.timers import TimerWorker


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
