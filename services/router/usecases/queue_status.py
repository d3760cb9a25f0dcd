"""How a queue stands on each of its channels right now, read from the router's indexes: what
GetQueueStatus answers and what a periodic QueueSnapshot reports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from services.router.domain.estimates import estimated_wait
from services.router.domain.model import Channel, Queue
from services.router.domain.queue_status import ChannelStatus
from services.router.storage.indexes import ms
from services.router.storage.store import Keys, QueueCounts
from services.router.usecases.staging import Staging


def queue_status(core: Staging, tenant: str, queue_id: str) -> list[ChannelStatus]:
    """Raises NotFoundError for an unknown queue."""
    queue = core.require_queue(tenant, queue_id)
    return channel_statuses(core, queue, core.now())


def channel_statuses(core: Staging, queue: Queue, now: datetime) -> list[ChannelStatus]:
    """Every channel of `queue` as of `now`, in the order of the channels' names."""
    [statuses] = statuses_of(core, queue.tenant_id, [queue], now)
    return statuses


def statuses_of(
    core: Staging, tenant: str, queues: Sequence[Queue], now: datetime
) -> list[list[ChannelStatus]]:
    """`channel_statuses` of each of a tenant's `queues`, read at once."""
    channels = [sorted(queue.routed_channels) for queue in queues]
    counted = core.store.queue_counts(
        Keys(tenant), [(queue.queue_id, of) for queue, of in zip(queues, channels, strict=True)], ms(now)
    )
    return [
        [_status(queue, channel, counts, now) for channel in of]
        for queue, of, counts in zip(queues, channels, counted, strict=True)
    ]


def _status(queue: Queue, channel: Channel, counts: QueueCounts, now: datetime) -> ChannelStatus:
    of = counts.channels[channel]
    aht = timedelta(milliseconds=counts.aht_ms) if counts.aht_ms is not None else None
    return ChannelStatus(
        channel=channel,
        depth=of.depth,
        oldest_age=_age(of.oldest_ms, now),
        agents_by_state=counts.agents_by_state,
        estimated_wait=estimated_wait(of.position, of.staffed, aht),
        service_level_threshold=queue.service_level_threshold,
        service_level_target=queue.service_level_target,
    )


def _age(enqueued_ms: int | None, now: datetime) -> timedelta | None:
    if enqueued_ms is None:
        return None
    since = datetime.fromtimestamp(enqueued_ms / 1000, tz=UTC)
    # The replica that enqueued the contact may have a clock running ahead of this one's.
    return max(now - since, timedelta(0))
