"""Estimated wait time (EWT) per queue, the callback offer, and the handle-time average behind them.

EWT for the contact at `position` (1 = next to be served) is

    position x AHT / staffed

where `staffed` counts the agents of the queue's routing profiles who are not offline and could
take the channel (eligible agents, whatever their state) and AHT is the queue's recent average
handle time. It models the staffed agents as one server that frees a slot every AHT/staffed on
average, all busy: the conservative reading, since an idle agent would have taken the contact
already. There is no estimate (None) without a staffed agent (the wait is unbounded) or without
any handled contact yet (nothing to scale by); callers show "unknown".

A queue with hours of operation serves only while open, so its estimate is open time: the wall-clock
wait is the time from now until that much open time has passed (`in_open_time`); a contact
estimated at 10 minutes five minutes before closing waits until 5 minutes after the next opening.

The average is an exponentially weighted moving average, so the store keeps one number per
queue and updates it in O(1) on every completed contact, and recent handle times weigh most.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from helpline.business_hours import Calendar
from services.router.domain.errors import InvalidConfiguration
from services.router.domain.model import Channel, Queue

# Each completed contact moves the average a fifth of the way: about the last ten contacts count.
AHT_WEIGHT = 0.2
_CALLBACK_CHANNELS = frozenset({Channel.VOICE})


def estimated_wait(
    position: int, staffed_agents: int, average_handle_time: timedelta | None
) -> timedelta | None:
    if position < 1:
        raise InvalidConfiguration("position_out_of_range", f"queue position {position}; it starts at 1")
    if staffed_agents < 0:
        raise InvalidConfiguration("negative_staffed_agents", f"{staffed_agents} staffed agents")
    if staffed_agents == 0 or average_handle_time is None:
        return None
    return average_handle_time * position / staffed_agents


def in_open_time(wait: timedelta | None, hours: Calendar | None, now: datetime) -> timedelta | None:
    """The wall-clock wait from `now` for `wait` of open time of a queue kept by `hours`."""
    if wait is None or hours is None:
        return wait
    return hours.add(now, wait) - now


def next_average_handle_time(previous: timedelta | None, handle_time: timedelta) -> timedelta:
    """The queue's AHT after one more completed contact (talk + hold + after-contact work)."""
    if handle_time < timedelta(0):
        raise InvalidConfiguration("negative_duration", f"handle time {handle_time} is negative")
    if previous is None:
        return handle_time
    return previous + (handle_time - previous) * AHT_WEIGHT


def offers_callback(queue: Queue, channel: Channel, wait: timedelta | None, staffed_agents: int) -> bool:
    """Whether a caller is offered to hang up and be called back, keeping their place.

    Only voice callers, and only when the queue sets a threshold. With nobody staffed the wait
    has no bound, which is above any threshold; with agents but no history yet, no offer, since
    nothing says the wait is long.
    """
    if channel not in _CALLBACK_CHANNELS or queue.callback_threshold <= timedelta(0):
        return False
    if staffed_agents == 0:
        return True
    return wait is not None and wait > queue.callback_threshold
