"""The router's parts, wired once: what the gRPC API, the REST admin API, the ingress consumer and
the workers all call."""

from __future__ import annotations

import redis

from helpline.clock import Clock
from services.router.storage.retention import Retention
from services.router.storage.store import Store
from services.router.storage.tenants import TenantRegistry
from services.router.usecases.agent_status import AgentStatusChanges
from services.router.usecases.answers import Answers
from services.router.usecases.configuration import Catalog, Quotas
from services.router.usecases.contact_steps import ContactSteps
from services.router.usecases.conversation import Conversations
from services.router.usecases.intake import Intake
from services.router.usecases.matching import Matcher
from services.router.usecases.staging import Staging
from services.router.usecases.waiting import Waiting
from services.router.workers.timers import TimerWorker


class Router:
    """One router on one Redis: its store and tenant registry, and every use case built on them,
    sharing one `Staging` (the store, the clock, the retry on a lost race). It exists so that each
    interface and worker of a process (gRPC, REST, the Kafka consumer, the timers, the snapshots)
    calls the same use cases, wired once, instead of each building its own.

    The use cases, by job: `catalog` (configuration: skills, queues, profiles, agents), `agents`
    (agent status), `matcher` (offering contacts to agents), and a contact's life: `intake`
    (arrival), `answers` (the agent's answer to an offer), `conversations` (hold, end, complete,
    transfers) and `waiting` (the wait in a queue and leaving it). `steps` commits what the contact
    use cases decide."""

    def __init__(
        self,
        client: redis.Redis,
        clock: Clock,
        retention: Retention | None = None,
        quotas: Quotas | None = None,
    ) -> None:
        self.store = Store(client, retention)
        self.registry = TenantRegistry(client)
        self.core = Staging(self.store, clock)
        self.catalog = Catalog(self.core, self.registry, quotas)
        self.matcher = Matcher(self.core)
        self.steps = ContactSteps(self.core, self.catalog, self.matcher)
        self.intake = Intake(self.core, self.catalog, self.matcher, self.steps)
        self.answers = Answers(self.core, self.steps)
        self.conversations = Conversations(self.core, self.steps)
        self.waiting = Waiting(self.core, self.steps)
        self.agents = AgentStatusChanges(self.core, self.matcher)

    def timer_worker(self, poll_seconds: float = 0.2) -> TimerWorker:
        return TimerWorker(
            self.store,
            self.registry,
            self.core.clock,
            answers=self.answers,
            conversations=self.conversations,
            waiting=self.waiting,
            poll_seconds=poll_seconds,
        )
