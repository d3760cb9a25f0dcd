"""How a queue stands on each of its channels right now, read from the router's indexes: what
GetQueueStatus answers and what a periodic QueueSnapshot reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.router.domain.model import AgentState, Channel, Queue
from services.router.engine import Router
from services.router.store import Keys


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


def queue_status(router: Router, tenant: str, queue_id: str) -> list[ChannelStatus]:
    """Raises NotFoundError for an unknown queue."""
    queue = router.core.require_queue(tenant, queue_id)
    return channel_statuses(router, queue, router.core.now())


def channel_statuses(router: Router, queue: Queue, now: datetime) -> list[ChannelStatus]:
    """Every channel of `queue` as of `now`, in the order of the channels' names."""
    keys = Keys(queue.tenant_id)
    store = router.store
    agents = {state: store.set_size(keys.in_state(queue.queue_id, state)) for state in AgentState}
    statuses = []
    for channel in sorted(queue.routed_channels):
        waiting = keys.depth(queue.queue_id, channel)
        statuses.append(
            ChannelStatus(
                channel=channel,
                depth=store.set_size(waiting),
                oldest_age=_age(store.oldest_score(waiting), now),
                agents_by_state=agents,
                estimated_wait=router.contacts.placement(queue, channel, now).estimated_wait,
                service_level_threshold=queue.service_level_threshold,
                service_level_target=queue.service_level_target,
            )
        )
    return statuses


def _age(enqueued_ms: int | None, now: datetime) -> timedelta | None:
    if enqueued_ms is None:
        return None
    since = datetime.fromtimestamp(enqueued_ms / 1000, tz=UTC)
    # The replica that enqueued the contact may have a clock running ahead of this one's.
    return max(now - since, timedelta(0))
