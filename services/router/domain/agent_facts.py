"""The agent's side of a contact, as a fact: what AgentStateChanged tells when an offer, an accept,
a hang-up or a completion moves the agent.

The routing core decides the agent's next state and load (`routing.offer_made`,
`offer_accepted`, `contact_released`, `wrap_up_ended`...); this turns the before and after of such
a step into the event, so the contact commands and the agent steps stay separate and a step that
changes neither state nor load is told by nothing.
"""

from __future__ import annotations

from datetime import datetime

from helpline.domain import timestamp
from helpline.v1 import agent_events_pb2, common_pb2
from services.router.domain.convert import AGENT_STATE_TO_PROTO, CHANNEL_TO_PROTO
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


def _loads(agent: Agent) -> dict[str, int]:
    return {channel.value: active for channel, active in agent.load.items() if active}
