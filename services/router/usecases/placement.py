"""Where a contact stands in its queue, read from the router's indexes: the position and EWT of a
contact entering now (what ContactQueued reports), and the position of one waiting."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.router.domain.estimates import estimated_wait, in_open_time
from services.router.domain.model import CAPACITY_CHANNEL, Channel, Queue
from services.router.domain.outcome import Placement
from services.router.storage.indexes import ms
from services.router.storage.records import ContactRecord
from services.router.storage.store import Keys, Store


def entry_placement(
    store: Store, queue: Queue, channel: Channel, now: datetime, since: datetime | None = None
) -> Placement:
    """Where a contact entering now (waiting since `since`) stands, and its EWT. The position
    counts the contacts of the channel that have waited longer, whatever their priority."""
    position, staffed, aht_ms = store.placement_counts(
        Keys(queue.tenant_id), queue.queue_id, channel, ms(since or now)
    )
    aht = timedelta(milliseconds=aht_ms) if aht_ms is not None else None
    hours = store.calendar(queue.tenant_id, queue.calendar_id) if queue.calendar_id else None
    wait = in_open_time(estimated_wait(position, staffed, aht), hours.calendar if hours else None, now)
    return Placement(position, wait)


def queue_position(store: Store, record: ContactRecord, queue: Queue | None) -> int:
    """Where a waiting contact stands in its queue now; 0 outside a queue or on a channel without
    capacity."""
    since = record.contact.enqueued_since
    if queue is None or since is None or record.contact.channel not in CAPACITY_CHANNEL:
        return 0
    return store.position(Keys(queue.tenant_id).depth(queue.queue_id, record.contact.channel), ms(since))
