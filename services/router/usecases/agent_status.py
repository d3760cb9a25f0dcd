"""Agent status: set by the agent or a supervisor; becoming available pulls waiting work."""

from __future__ import annotations

from helpline.domain import timestamp
from helpline.v1 import agent_events_pb2, common_pb2
from services.router.domain.convert import AGENT_STATUS_TO_PROTO
from services.router.domain.model import AgentStatus
from services.router.domain.routing import status_set
from services.router.storage.records import AgentRecord
from services.router.storage.store import Keys, Tx
from services.router.usecases.matching import Matcher
from services.router.usecases.staging import Core


class Agents:
    def __init__(self, core: Core, matcher: Matcher) -> None:
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
            changed = agent_events_pb2.AgentStatusChanged(
                tenant_id=tenant,
                agent_id=agent_id,
                status=AGENT_STATUS_TO_PROTO[agent.status],
                previous_status=AGENT_STATUS_TO_PROTO[record.agent.status],
                reason_code=reason,
                changed_by=common_pb2.Actor(type=common_pb2.AUTHOR_TYPE_AGENT, id=actor_id or agent_id),
                changed_at=timestamp(now),
            )
            tx = Tx(Keys(tenant))
            saved = self.core.stage_agent(tx, record, agent, now, events=[changed])
            self.core.store.commit(tx)
            return saved

        saved = self.core.retry(f"agent {agent_id}", attempt)
        if saved.agent.status is AgentStatus.AVAILABLE:
            self.matcher.pull(tenant, agent_id)
        return saved
