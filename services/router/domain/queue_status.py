"""How a queue stands on one of its channels (`ChannelStatus`: depth, oldest wait, agents by state,
EWT, service-level terms), and the QueueSnapshot event that reports it on `helpline.queues`. The use
case that reads it from the indexes is `usecases.queue_status`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from helpline.domain import duration, timestamp
from helpline.v1 import common_pb2, queue_events_pb2
from services.router.domain.convert import AGENT_STATE_TO_PROTO, CHANNEL_TO_PROTO, DEPARTMENT_TO_PROTO
from services.router.domain.model import AgentState, Channel, Queue


@dataclass(frozen=True)
class ChannelStatus:
    channel: Channel
    # Contacts waiting, queued or on offer.
    depth: int
    # Effective wait of the contact waiting longest; None when nobody waits.
    oldest_age: timedelta | None
    # Agents of the queue who are not offline, by state; the same for every channel of the queue.
    agents_by_state: Mapping[AgentState, int]
    # EWT of a contact arriving now; None when it is unknown (nobody staffed, no handle time yet).
    estimated_wait: timedelta | None
    service_level_threshold: timedelta
    service_level_target: float


def queue_snapshot(
    tenant: str, queue: Queue, status: ChannelStatus, now: datetime
) -> queue_events_pb2.QueueSnapshot:
    """The QueueSnapshot event of `queue` on `status.channel` as of `now`."""
    snapshot = queue_events_pb2.QueueSnapshot(
        tenant_id=tenant,
        queue_id=queue.queue_id,
        channel=CHANNEL_TO_PROTO[status.channel],
        department=DEPARTMENT_TO_PROTO[queue.department],
        depth=status.depth,
        agents_by_state=[
            common_pb2.AgentStateCount(
                state=AGENT_STATE_TO_PROTO[state], count=status.agents_by_state.get(state, 0)
            )
            for state in AgentState
        ],
        service_level_threshold=duration(status.service_level_threshold),
        service_level_target=status.service_level_target,
        taken_at=timestamp(now),
    )
    if status.oldest_age is not None:
        snapshot.oldest_contact_age.CopyFrom(duration(status.oldest_age))
    if status.estimated_wait is not None:
        snapshot.estimated_wait.CopyFrom(duration(status.estimated_wait))
    return snapshot
