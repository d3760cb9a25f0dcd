"""Estimated wait time, the handle-time average behind it, and the callback offer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from helpline.business_hours import Calendar, OpenInterval
from services.router.domain.errors import InvalidConfiguration
from services.router.domain.estimates import (
    estimated_wait,
    in_open_time,
    next_average_handle_time,
    offers_callback,
)
from services.router.domain.model import Channel
from tests.unit.router.support import queue

MINUTE = timedelta(minutes=1)


def test_wait_is_position_times_aht_over_staffed_agents() -> None:
    # Fifth in line, three agents, 3 min AHT: the line moves one every minute, so five minutes.
    assert estimated_wait(5, 3, 3 * MINUTE) == 5 * MINUTE
    assert estimated_wait(1, 4, 2 * MINUTE) == timedelta(seconds=30)


def test_no_estimate_without_staff_or_history() -> None:
    assert estimated_wait(1, 0, MINUTE) is None
    assert estimated_wait(1, 2, None) is None


@pytest.mark.parametrize(("position", "staffed"), [(0, 1), (1, -1)])
def test_impossible_inputs_are_refused(position: int, staffed: int) -> None:
    with pytest.raises(InvalidConfiguration):
        estimated_wait(position, staffed, MINUTE)


def test_handle_time_average_starts_at_the_first_sample_and_moves_a_fifth_each_time() -> None:
    first = next_average_handle_time(None, 5 * MINUTE)
    assert first == 5 * MINUTE
    assert next_average_handle_time(first, 10 * MINUTE) == 6 * MINUTE
    with pytest.raises(InvalidConfiguration):
        next_average_handle_time(first, -MINUTE)


def test_callback_is_offered_to_voice_callers_over_the_threshold() -> None:
    threshold = queue(callback_threshold=2 * MINUTE)
    assert offers_callback(threshold, Channel.VOICE, 3 * MINUTE, staffed_agents=2)
    assert not offers_callback(threshold, Channel.VOICE, 2 * MINUTE, staffed_agents=2)
    assert not offers_callback(threshold, Channel.CHAT, 30 * MINUTE, staffed_agents=2)


def test_callback_with_nobody_staffed_but_not_without_history() -> None:
    threshold = queue(callback_threshold=2 * MINUTE)
    assert offers_callback(threshold, Channel.VOICE, None, staffed_agents=0)
    assert not offers_callback(threshold, Channel.VOICE, None, staffed_agents=3)


def test_no_threshold_never_offers_a_callback() -> None:
    assert not offers_callback(queue(), Channel.VOICE, 60 * MINUTE, staffed_agents=0)


OFFICE_HOURS = Calendar(
    "office",
    "Office",
    "Europe/London",
    tuple(OpenInterval.parse(day, "09:00", "17:00") for day in range(5)),
)


def test_ewt_of_a_queue_with_hours_counts_open_time_only() -> None:
    # Monday 2026-06-15, 16:55 BST: 5 of the 10 minutes today, the rest from Tuesday 09:00.
    now = datetime(2026, 6, 15, 15, 55, tzinfo=UTC)
    wait = in_open_time(timedelta(minutes=10), OFFICE_HOURS, now)
    assert wait == datetime(2026, 6, 16, 8, 5, tzinfo=UTC) - now
    # Well inside the day, open time is wall-clock time.
    morning = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
    assert in_open_time(timedelta(minutes=10), OFFICE_HOURS, morning) == timedelta(minutes=10)
    # No calendar, or no estimate: unchanged.
    assert in_open_time(timedelta(minutes=10), None, now) == timedelta(minutes=10)
    assert in_open_time(None, OFFICE_HOURS, now) is None
