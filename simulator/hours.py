"""A queue's hours of operation in simulated time, played on the wall clock the router keeps.

The scenario opens a queue from one simulated hour of the day to another; the router's calendar is
in wall-clock time, weekly, in whole minutes ("HH:MM"). So the run maps each simulated open period
it can meet onto the wall clock, from the instant it starts and its speed, and gives the router a
calendar (zone UTC) whose weekly open intervals are exactly those windows. For every opening and
closing to fall on a wall-clock minute, the open and closed stretches are whole wall minutes (the
scenario checks it) and the run starts at an instant that puts them on the minute
(`aligned_start`).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from simulator.model import DAY_S, HOUR_S

MINUTE_S = 60.0
WEEK_S = 7 * DAY_S
# How far from a whole minute a computed instant may lie and still be that minute: float rounding
# of an epoch timestamp, far below anything the platform could tell apart.
ON_THE_MINUTE_S = 1e-3
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

Period = tuple[float, float]
Window = tuple[datetime, datetime]


def whole_minutes(wall_s: float) -> bool:
    minutes = wall_s / MINUTE_S
    return abs(minutes - round(minutes)) * MINUTE_S < ON_THE_MINUTE_S


def is_open(opens_h: float, closes_h: float, start_h: float, simulated_s: float) -> bool:
    """Whether the queue is open `simulated_s` into a run that starts at `start_h`."""
    of_day = (start_h * HOUR_S + simulated_s) % DAY_S
    return opens_h * HOUR_S <= of_day < closes_h * HOUR_S


def open_periods(opens_h: float, closes_h: float, start_h: float, until_s: float) -> list[Period]:
    """Each simulated day's open period, in simulated seconds from the run's start, that is not
    over at the start and opens before `until_s`: the one under way at the start opens before it
    (a negative opening). A period opens and closes on the same day (`opens_h` < `closes_h`), so
    none of the day before the start's is still open at it."""
    periods = []
    day = 0
    while (opens_s := day * DAY_S + (opens_h - start_h) * HOUR_S) < until_s:
        closes_s = day * DAY_S + (closes_h - start_h) * HOUR_S
        if closes_s > 0:
            periods.append((opens_s, closes_s))
        day += 1
    return periods


def minute_phase(opens_h: float, start_h: float, speed: float) -> float:
    """Seconds past a whole wall minute at which the openings fall, counted from the run's start
    (the closings too, the open stretch being whole minutes)."""
    return ((opens_h - start_h) * HOUR_S / speed) % MINUTE_S


def aligned_start(earliest: datetime, phase_s: float) -> datetime:
    """The first instant from `earliest` at which a run whose openings and closings fall `phase_s`
    past a minute (from its start) puts them on whole wall minutes."""
    past = (earliest.timestamp() + phase_s) % MINUTE_S
    return earliest + timedelta(seconds=(MINUTE_S - past) % MINUTE_S)


def wall_windows(periods: list[Period], start: datetime, speed: float) -> list[Window]:
    """The simulated periods on the wall clock of a run that started at `start`, each end on its
    whole minute; a ValueError when one is off the minute (the start was not aligned)."""

    def on_the_minute(simulated_s: float) -> datetime:
        instant = start + timedelta(seconds=simulated_s / speed)
        minute = datetime.fromtimestamp(round(instant.timestamp() / MINUTE_S) * MINUTE_S, UTC)
        if abs((instant - minute).total_seconds()) >= ON_THE_MINUTE_S:
            raise ValueError(f"{instant.isoformat()} is not on a wall-clock minute: align the run's start")
        return minute

    return [(on_the_minute(opens_s), on_the_minute(closes_s)) for opens_s, closes_s in periods]


def weekly_intervals(windows: list[Window]) -> list[dict[str, str]]:
    """The windows as a UTC calendar's weekly open intervals: split at each midnight (closing at
    "24:00", opening again at "00:00", which the router takes as one open stretch). The windows
    must span less than a week, or the week's repeat of the last would reach the first."""
    if windows and (windows[-1][1] - windows[0][0]).total_seconds() >= WEEK_S:
        raise ValueError("the windows span a week or more: a weekly calendar cannot hold them apart")
    intervals: list[tuple[int, str, str]] = []
    for opens, closes in windows:
        cursor = opens
        while cursor < closes:
            midnight = datetime.combine(cursor.date() + timedelta(days=1), time(), UTC)
            until = min(closes, midnight)
            closing = "24:00" if until == midnight else until.strftime("%H:%M")
            intervals.append((cursor.weekday(), cursor.strftime("%H:%M"), closing))
            cursor = until
    return [
        {"weekday": WEEKDAYS[weekday], "opens": opens_text, "closes": closes_text}
        for weekday, opens_text, closes_text in sorted(intervals)
    ]
