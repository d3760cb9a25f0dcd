"""Agent status: set by the agent or a supervisor; becoming available pulls waiting work."""

from __future__ import annotations

from services.router.domain import agent_facts
from services.router.domain.model import AgentStatus
from services.router.domain.routing import status_set
from services.router.storage.records import AgentRecord
from services.router.storage.store import Keys, Tx
from services.router.usecases.matching import Matcher
from services.router.usecases.staging import Staging


class AgentStatusChanges:
    """The agent status use case (SetAgentStatus): an agent or supervisor sets it, and an agent who
    becomes available pulls the waiting work at once."""

    def __init__(self, core: Staging, matcher: Matcher) -> None:
        self.core = core
        self.matcher = matcher

    def set_status(
        self, tenant: str, agent_id: str, status: AgentStatus, *, reason: str = "", actor_id: str = ""
    ) -> AgentRecord:
        def attempt() -> AgentRecord:
            now = self.core.now()
            record = self.core.require_agent(tenant, agent_id)
            agent = status_set(record.agent, status, now, reason=reason)
            if agent is record.agent:
                return record
            changed = agent_facts.status_changed(
                record.agent, agent, now, reason_code=reason, actor_id=actor_id or agent_id
            )
            tx = Tx(Keys(tenant))
            saved = self.core.stage_agent(tx, record, agent, now, events=[changed])
            self.core.store.commit(tx)
            return saved

        saved = self.core.retry(f"agent {agent_id}", attempt)
        if saved.agent.status is AgentStatus.AVAILABLE:
            self.matcher.pull(tenant, agent_id)
        return saved
