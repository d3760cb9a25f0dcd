"""A queue's simulated hours of operation laid on the wall clock: the open periods a run meets, the
start that puts their openings and closings on whole minutes, and the router calendar's weekly
intervals, split at midnight (a week's end included)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simulator import hours
from simulator.scenario import (
    AgentGroup,
    ChannelLoad,
    Duration,
    HoursOfOperation,
    QueueSpec,
    Scenario,
)
from simulator.setup import calendar_requests, router_requests, run_start

HOUR_S = 3600.0


def at(day: int, clock: str) -> datetime:
    """December 2026: the 7th is a Monday, the 13th a Sunday."""
    hour, minute, second = (int(part) for part in clock.split(":"))
    return datetime(2026, 12, day, hour, minute, second, tzinfo=UTC)


def centre(speed: float = 360, start_h: float = 5.0, hours_h: float = 2.0, **opening: object) -> Scenario:
    spec = HoursOfOperation.model_validate({"opens_h": 6.0, "closes_h": 18.0, **opening})
    return Scenario(
        start_h=start_h,
        hours=hours_h,
        speed=speed,
        drain_h=0,
        channels={"voice": ChannelLoad(per_hour=10, queue="q", handle=Duration(mean_s=60))},
        queues={"q": QueueSpec(hours=spec)},
        agents=(
            AgentGroup(
                name="a", count=1, queues=("q",), capacity={"voice": 1}, shift_start_h=0, shift_end_h=24
            ),
        ),
    )


def test_the_periods_a_run_meets_include_the_one_under_way_at_its_start() -> None:
    # From 10:00 for 30 h: today's 06-18 under way, then tomorrow's; the day after opens too late.
    assert hours.open_periods(6, 18, 10, 30 * HOUR_S) == [
        (-4 * HOUR_S, 8 * HOUR_S),
        (20 * HOUR_S, 32 * HOUR_S),
    ]
    # From 19:00, today's is over.
    assert hours.open_periods(6, 18, 19, 12 * HOUR_S) == [(11 * HOUR_S, 23 * HOUR_S)]


def test_a_queue_is_open_from_its_opening_to_before_its_closing_each_day() -> None:
    assert hours.is_open(6, 18, 5, 1 * HOUR_S)
    assert not hours.is_open(6, 18, 5, 13 * HOUR_S)
    assert not hours.is_open(6, 18, 5, 0.5 * HOUR_S)
    assert hours.is_open(6, 18, 5, 25 * HOUR_S)


def test_the_run_starts_when_its_openings_fall_on_a_whole_minute() -> None:
    assert hours.aligned_start(at(7, "12:00:07"), 5.0) == at(7, "12:00:55")
    assert hours.aligned_start(at(7, "12:00:55"), 5.0) == at(7, "12:00:55")
    assert hours.aligned_start(at(7, "12:00:00"), 0.0) == at(7, "12:00:00")


def test_a_start_off_the_minute_is_refused() -> None:
    with pytest.raises(ValueError, match="not on a wall-clock minute"):
        hours.wall_windows([(10 * 360.0, 130 * 360.0)], at(7, "12:00:00"), 360)


def test_a_window_across_wall_midnight_is_split_at_24_00() -> None:
    scenario = centre()
    # At 360x a simulated hour is 10 s: opening at 06:00 is 10 s in, closing at 18:00 130 s in.
    start = run_start(scenario, at(7, "23:58:45"))
    assert start == at(7, "23:58:50")
    windows = hours.wall_windows(scenario.open_periods("q"), start, scenario.speed)
    assert windows == [(at(7, "23:59:00"), at(8, "00:01:00"))]
    assert hours.weekly_intervals(windows) == [
        {"weekday": "monday", "opens": "23:59", "closes": "24:00"},
        {"weekday": "tuesday", "opens": "00:00", "closes": "00:01"},
    ]


def test_a_window_across_the_week_boundary_opens_on_monday_again() -> None:
    scenario = centre()
    windows = hours.wall_windows(scenario.open_periods("q"), at(13, "23:58:50"), scenario.speed)
    assert hours.weekly_intervals(windows) == [
        {"weekday": "monday", "opens": "00:00", "closes": "00:01"},
        {"weekday": "sunday", "opens": "23:59", "closes": "24:00"},
    ]


def test_a_night_closing_and_a_morning_opening_make_two_windows() -> None:
    # 720x, open 07-19: from 18:00 for 14 h, closing 5 s in, opening again 65 s in, closing 125 s in.
    scenario = centre(speed=720, start_h=18, hours_h=14, opens_h=7, closes_h=19)
    start = run_start(scenario, at(8, "10:00:00"))
    assert start == at(8, "10:00:55")
    windows = hours.wall_windows(scenario.open_periods("q"), start, scenario.speed)
    assert windows == [(at(8, "10:00:00"), at(8, "10:01:00")), (at(8, "10:02:00"), at(8, "10:03:00"))]
    assert [body for _path, body in calendar_requests(scenario, start)] == [
        {
            "name": "q (simulated hours)",
            "time_zone": "UTC",
            "open_intervals": [
                {"weekday": "tuesday", "opens": "10:00", "closes": "10:01"},
                {"weekday": "tuesday", "opens": "10:02", "closes": "10:03"},
            ],
        }
    ]
    queue = dict(router_requests(scenario, start))["/v1/queues/q"]
    assert (queue["calendar_id"], queue["closed_action"]) == ("q-hours", "ticket")


def test_a_queue_that_calls_back_when_closed_takes_callbacks() -> None:
    calls_back = centre(closed_action="callback")
    assert calls_back.queue_channels() == {"q": {"voice", "callback"}}
    assert centre().queue_channels() == {"q": {"voice"}}


def test_windows_a_week_apart_or_more_are_refused() -> None:
    windows = [(at(7, "10:00:00"), at(7, "11:00:00")), (at(14, "09:00:00"), at(14, "10:00:00"))]
    with pytest.raises(ValueError, match="a week or more"):
        hours.weekly_intervals(windows)


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        # At 100x an 8 h day is 288 s: not whole minutes.
        ({"speed": 100, "opens_h": 9, "closes_h": 17}, "whole number of minutes"),
        # At 1440x a simulated day is a wall minute: no room for an open and a closed stretch.
        ({"speed": 1440, "opens_h": 6, "closes_h": 18}, "whole number of minutes"),
        # At 60x an open 20:00-24:00 is never met by a run from 05:00 for 2 h.
        ({"speed": 60, "opens_h": 20, "closes_h": 24}, "never opens during the run"),
        # At 1x a run of 200 h meets open periods over eight and a half days of the wall clock.
        ({"speed": 1, "hours_h": 200}, "span a week or more"),
        ({"opens_h": 18, "closes_h": 6}, "not after they open"),
        ({"opens_h": 0, "closes_h": 24}, "never close"),
    ],
)
def test_hours_the_wall_clock_cannot_hold_are_refused(settings: dict[str, float], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        centre(**settings)


def test_queues_whose_hours_fall_on_different_seconds_of_the_minute_are_refused() -> None:
    at_6 = QueueSpec(hours=HoursOfOperation(opens_h=6, closes_h=18))
    at_half_past = QueueSpec(hours=HoursOfOperation(opens_h=6.5, closes_h=18.5))
    with pytest.raises(ValueError, match="different seconds of the wall-clock minute"):
        Scenario(
            start_h=5,
            hours=2,
            speed=360,
            channels={
                "voice": ChannelLoad(per_hour=10, queue="q", handle=Duration(mean_s=60)),
                "chat": ChannelLoad(per_hour=10, queue="r", handle=Duration(mean_s=60)),
            },
            queues={"q": at_6, "r": at_half_past},
            agents=(
                AgentGroup(
                    name="a", count=1, queues=("q", "r"), capacity={"voice": 1, "chat": 1},
                    shift_start_h=0, shift_end_h=24,
                ),
            ),
        )  # fmt: skip


def test_a_scenario_without_hours_starts_when_it_likes() -> None:
    scenario = Scenario.default()
    assert scenario.minute_phase() is None
    assert run_start(scenario, at(7, "12:00:07")) == at(7, "12:00:07")
    assert calendar_requests(scenario, at(7, "12:00:07")) == []
