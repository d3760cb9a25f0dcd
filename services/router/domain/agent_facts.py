"""The agent's changes as facts, in the contracts' terms: what AgentStateChanged tells when an offer,
an accept, a hang-up or a completion moves the agent, AgentStatusChanged when the status is set
(by the agent, a supervisor, or the router after missed offers), and AgentConfigured.

The routing core decides the agent's next state and load (`routing.offer_made`,
`offer_accepted`, `contact_released`, `wrap_up_ended`...); this turns the before and after of such
a step into the event, so the contact commands and the agent steps stay separate and a step that
changes neither state nor load is told by nothing.
"""

from __future__ import annotations

from datetime import datetime

from helpline.domain import duration, timestamp
from helpline.v1 import agent_events_pb2, common_pb2
from services.router.domain.convert import (
    AGENT_STATE_TO_PROTO,
    AGENT_STATUS_TO_PROTO,
    CHANNEL_TO_PROTO,
    CROSS_CHANNEL_TO_PROTO,
)
from services.router.domain.model import Agent, AgentState


def state_changed(
    before: Agent,
    after: Agent,
    now: datetime,
    *,
    contact_id: str = "",
    after_contact_work_until: datetime | None = None,
) -> agent_events_pb2.AgentStateChanged | None:
    """AgentStateChanged for the step from `before` to `after`, caused by `contact_id`; None when
    the step changed neither the state nor any channel's load. `after_contact_work_until` is the
    wrap-up's deadline (the contact's), told while the agent is in after-contact work."""
    if before.state is after.state and _loads(before) == _loads(after):
        return None
    changed = agent_events_pb2.AgentStateChanged(
        tenant_id=after.tenant_id,
        agent_id=after.agent_id,
        state=AGENT_STATE_TO_PROTO[after.state],
        previous_state=AGENT_STATE_TO_PROTO[before.state],
        loads=[
            common_pb2.ChannelLoad(
                channel=CHANNEL_TO_PROTO[channel], active=after.active(channel), capacity=capacity
            )
            for channel, capacity in sorted(after.profile.capacity.items())
        ],
        contact_id=contact_id,
        changed_at=timestamp(now),
    )
    if after_contact_work_until is not None and after.state is AgentState.AFTER_CONTACT_WORK:
        changed.after_contact_work_until.CopyFrom(timestamp(after_contact_work_until))
    return changed


def status_changed(
    before: Agent, after: Agent, now: datetime, *, reason_code: str, actor_id: str = ""
) -> agent_events_pb2.AgentStatusChanged:
    """AgentStatusChanged from `before`'s status to `after`'s, set by `actor_id` (the agent or a
    supervisor); without one, by the router itself (an agent who missed too many offers)."""
    if actor_id:
        by = common_pb2.Actor(type=common_pb2.AUTHOR_TYPE_AGENT, id=actor_id)
    else:
        by = common_pb2.Actor(type=common_pb2.AUTHOR_TYPE_SYSTEM, id="router")
    return agent_events_pb2.AgentStatusChanged(
        tenant_id=after.tenant_id,
        agent_id=after.agent_id,
        status=AGENT_STATUS_TO_PROTO[after.status],
        previous_status=AGENT_STATUS_TO_PROTO[before.status],
        reason_code=reason_code,
        changed_by=by,
        changed_at=timestamp(now),
    )


def configured(
    agent: Agent, now: datetime, *, display_name: str, version: int
) -> agent_events_pb2.AgentConfigured:
    """AgentConfigured for `agent` as configured now, its record at `version`."""
    return agent_events_pb2.AgentConfigured(
        tenant_id=agent.tenant_id,
        agent_id=agent.agent_id,
        display_name=display_name,
        skills=[
            common_pb2.Skill(name=name, proficiency=level) for name, level in sorted(agent.skills.items())
        ],
        queues=[
            agent_events_pb2.QueueMembership(
                queue_id=member.queue_id, priority=member.priority, delay=duration(member.delay)
            )
            for member in agent.profile.queues
        ],
        capacities=[
            agent_events_pb2.ChannelCapacity(channel=CHANNEL_TO_PROTO[channel], capacity=capacity)
            for channel, capacity in sorted(agent.profile.capacity.items())
        ],
        cross_channel=CROSS_CHANNEL_TO_PROTO[agent.profile.cross_channel],
        version=version,
        configured_at=timestamp(now),
    )


def _loads(agent: Agent) -> dict[str, int]:
    return {channel.value: active for channel, active in agent.load.items() if active}
