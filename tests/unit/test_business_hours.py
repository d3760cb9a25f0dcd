"""Business-hours calendars: hand-checked deadlines (lunch breaks, weekends, holidays, DST), the
validation rules, and properties over random calendars, two of them against the local clock read
minute by minute."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

import holidays as public_holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpline.business_hours import Calendar, CalendarError, Holiday, OpenInterval
from services.sla.domain.timebasis import TimeBasis

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = range(5)


def intervals(days: range | tuple[int, ...], *hours: tuple[str, str]) -> tuple[OpenInterval, ...]:
    return tuple(OpenInterval.parse(day, opens, closes) for day in days for opens, closes in hours)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def new_york(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


OFFICE = Calendar(
    calendar_id="berlin-office",
    name="Berlin office",
    time_zone="Europe/Berlin",
    intervals=intervals(WEEKDAYS, ("09:00", "12:00"), ("13:00", "17:00")),
    holiday_countries=("DE",),
    # A Wednesday: the company's own closing day.
    holidays=(Holiday(date(2026, 11, 11), "Company day"),),
)
# Sundays only, round the clock: the 23- and 25-hour days of the DST changes.
SUNDAYS = Calendar("sundays", "Sundays", "Europe/Berlin", intervals((6,), ("00:00", "24:00")))
# Sundays 01:00-04:00 across the changes at 02:00 (spring) and 03:00 (autumn).
NIGHT = Calendar("night", "Night", "Europe/Berlin", intervals((6,), ("01:00", "04:00")))
NEW_YORK_DESK = Calendar(
    "nyc",
    "New York desk",
    "America/New_York",
    intervals(WEEKDAYS, ("08:00", "18:00")),
    holiday_countries=("US",),
)


def test_a_calendar_is_a_time_basis() -> None:
    basis: TimeBasis = OFFICE
    assert basis.add(berlin("2026-06-15T09:00"), timedelta(hours=1)) == utc("2026-06-15T08:00")


@pytest.mark.parametrize(
    ("start", "amount", "deadline"),
    [
        # Across lunch: 11:00-12:00, then 13:00-14:00 (CEST, UTC+2).
        (berlin("2026-06-15T11:00"), timedelta(hours=2), utc("2026-06-15T12:00")),
        # Within one interval.
        (berlin("2026-06-15T09:10"), timedelta(minutes=50), utc("2026-06-15T08:00")),
        # Before opening, using up the morning exactly: the lunch-time close.
        (berlin("2026-06-15T07:00"), timedelta(hours=3), utc("2026-06-15T10:00")),
        # During lunch.
        (berlin("2026-06-15T12:30"), timedelta(minutes=30), utc("2026-06-15T11:30")),
        # Landing at the evening close.
        (berlin("2026-06-15T15:00"), timedelta(hours=2), utc("2026-06-15T15:00")),
        # After closing: the next morning.
        (berlin("2026-06-15T18:00"), timedelta(minutes=30), utc("2026-06-16T07:30")),
        # Friday afternoon across the weekend to Monday morning.
        (berlin("2026-06-19T16:00"), timedelta(hours=2), utc("2026-06-22T08:00")),
        # Starting on Saturday.
        (berlin("2026-06-20T10:00"), timedelta(hours=1), utc("2026-06-22T08:00")),
        # A whole week is 35 open hours, Monday 09:00 to Friday 17:00.
        (berlin("2026-06-15T09:00"), timedelta(hours=35), utc("2026-06-19T15:00")),
        (berlin("2026-06-15T09:00"), timedelta(hours=42), utc("2026-06-22T15:00")),
        # Three weeks, to the microsecond.
        (berlin("2026-06-15T09:00"), timedelta(hours=105, microseconds=1), utc("2026-07-06T07:00:00.000001")),
        # Christmas Day (Friday) is a public holiday; Christmas Eve is not (CET, UTC+1).
        (berlin("2026-12-24T16:00"), timedelta(hours=2), utc("2026-12-28T09:00")),
        # New Year's Day 2027 is a Friday.
        (berlin("2026-12-31T16:30"), timedelta(hours=1), utc("2027-01-04T08:30")),
        # The custom holiday, Wednesday 2026-11-11.
        (berlin("2026-11-10T16:30"), timedelta(hours=1), utc("2026-11-12T08:30")),
        # Friday before the spring change (CET) to Monday after it (CEST).
        (berlin("2026-03-27T16:00"), timedelta(hours=2), utc("2026-03-30T08:00")),
        # A start in another zone means the same instant.
        (utc("2026-06-15T09:00"), timedelta(hours=1), utc("2026-06-15T10:00")),
    ],
)
def test_add_counts_business_hours(start: datetime, amount: timedelta, deadline: datetime) -> None:
    result = OFFICE.add(start, amount)
    assert result == deadline
    assert result.tzinfo is UTC


def test_adding_zero_returns_the_start_even_when_closed() -> None:
    saturday = berlin("2026-06-20T10:00:00.5")
    result = OFFICE.add(saturday, timedelta(0))
    assert result == utc("2026-06-20T08:00:00.5")
    assert result.tzinfo is UTC


def test_a_deadline_at_a_close_continues_at_the_next_opening() -> None:
    close = OFFICE.add(berlin("2026-06-15T15:00"), timedelta(hours=2))
    assert close == berlin("2026-06-15T17:00")
    assert not OFFICE.is_open(close)
    assert OFFICE.is_open(close - timedelta(microseconds=1))
    assert OFFICE.add(close, timedelta(minutes=30)) == berlin("2026-06-16T09:30")


def test_adjacent_intervals_do_not_stop_a_deadline() -> None:
    joined = Calendar(
        "joined", "Joined", "Europe/Berlin", intervals((0,), ("09:00", "12:00"), ("12:00", "17:00"))
    )
    start = berlin("2026-06-15T11:00")
    assert joined.add(start, timedelta(hours=1)) == berlin("2026-06-15T12:00")
    assert joined.is_open(berlin("2026-06-15T12:00"))
    assert joined.add(start, timedelta(hours=2)) == berlin("2026-06-15T13:00")
    assert joined.elapsed(berlin("2026-06-15T00:00"), berlin("2026-06-16T00:00")) == timedelta(hours=8)


def test_elapsed_counts_open_time_between_instants() -> None:
    assert OFFICE.elapsed(berlin("2026-06-15T08:00"), berlin("2026-06-16T10:30")) == timedelta(
        hours=8, minutes=30
    )
    assert OFFICE.elapsed(berlin("2026-06-19T16:00"), berlin("2026-06-22T10:00")) == timedelta(hours=2)
    assert OFFICE.elapsed(berlin("2026-12-24T00:00"), berlin("2026-12-29T00:00")) == timedelta(hours=14)
    assert OFFICE.elapsed(berlin("2026-06-15T12:10"), berlin("2026-06-15T12:50")) == timedelta(0)


def test_elapsed_is_zero_when_the_end_is_not_after_the_start() -> None:
    monday = berlin("2026-06-15T10:00")
    assert OFFICE.elapsed(monday, monday) == timedelta(0)
    assert OFFICE.elapsed(monday, monday - timedelta(hours=1)) == timedelta(0)


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (berlin("2026-06-15T08:59:59.999999"), False),
        (berlin("2026-06-15T09:00"), True),
        (berlin("2026-06-15T11:59:59.999999"), True),
        (berlin("2026-06-15T12:00"), False),
        (berlin("2026-06-15T13:00"), True),
        (berlin("2026-06-15T17:00"), False),
        (berlin("2026-06-20T10:00"), False),
        (berlin("2026-12-25T10:00"), False),
        (berlin("2026-11-11T10:00"), False),
        (berlin("2026-11-12T10:00"), True),
        (utc("2026-06-15T07:30"), True),
    ],
)
def test_is_open(moment: datetime, is_open: bool) -> None:
    assert OFFICE.is_open(moment) is is_open


def test_spring_forward_sunday_has_23_hours() -> None:
    sunday = berlin("2026-03-29T00:00")
    assert sunday == utc("2026-03-28T23:00")
    assert SUNDAYS.elapsed(sunday - timedelta(days=1), sunday + timedelta(days=2)) == timedelta(hours=23)
    assert SUNDAYS.add(sunday, timedelta(hours=23)) == utc("2026-03-29T22:00")
    # One minute more runs into the next Sunday, in summer time.
    assert SUNDAYS.add(sunday, timedelta(hours=23, minutes=1)) == utc("2026-04-04T22:01")


def test_fall_back_sunday_has_25_hours() -> None:
    sunday = berlin("2026-10-25T00:00")
    assert sunday == utc("2026-10-24T22:00")
    assert SUNDAYS.elapsed(sunday - timedelta(days=1), sunday + timedelta(days=2)) == timedelta(hours=25)
    assert SUNDAYS.add(sunday, timedelta(hours=25)) == utc("2026-10-25T23:00")
    # Both showings of 02:30 are open.
    assert SUNDAYS.is_open(utc("2026-10-25T00:30"))
    assert SUNDAYS.is_open(utc("2026-10-25T01:30"))


def test_an_interval_across_the_spring_gap_is_an_hour_shorter() -> None:
    # 01:00 CET is 00:00 UTC; 04:00 CEST is 02:00 UTC.
    start = berlin("2026-03-29T01:00")
    assert NIGHT.elapsed(start, start + timedelta(hours=6)) == timedelta(hours=2)
    assert NIGHT.add(start, timedelta(minutes=90)) == utc("2026-03-29T01:30")
    assert NIGHT.add(start, timedelta(hours=2)) == utc("2026-03-29T02:00")
    assert NIGHT.add(start, timedelta(hours=2, minutes=1)) == berlin("2026-04-05T01:01")


def test_an_interval_across_the_autumn_repeat_is_an_hour_longer() -> None:
    # 01:00 CEST is 23:00 UTC the day before; 04:00 CET is 03:00 UTC.
    start = berlin("2026-10-25T01:00")
    assert start == utc("2026-10-24T23:00")
    assert NIGHT.elapsed(start, start + timedelta(hours=6)) == timedelta(hours=4)
    assert NIGHT.add(start, timedelta(hours=3, minutes=30)) == utc("2026-10-25T02:30")


def test_times_the_clock_skips_open_at_the_jump() -> None:
    # 02:20 does not exist on 2026-03-29: the clock jumps from 02:00 CET (01:00 UTC) to 03:00 CEST.
    gap = Calendar("gap", "Gap", "Europe/Berlin", intervals((6,), ("02:20", "03:30")))
    assert not gap.is_open(utc("2026-03-29T00:59:59.999999"))
    assert gap.is_open(utc("2026-03-29T01:00"))
    assert gap.add(utc("2026-03-29T00:00"), timedelta(minutes=30)) == utc("2026-03-29T01:30")
    # An interval wholly inside the gap never opens that night.
    skipped = Calendar("skipped", "Skipped", "Europe/Berlin", intervals((6,), ("02:15", "02:45")))
    assert skipped.add(utc("2026-03-29T00:00"), timedelta(minutes=1)) == berlin("2026-04-05T02:16")


def test_times_the_clock_shows_twice_count_at_the_first_showing() -> None:
    repeated = Calendar("repeated", "Repeated", "Europe/Berlin", intervals((6,), ("02:15", "02:45")))
    # 02:15 CEST is 00:15 UTC; the second 02:15 (CET) is 01:15 UTC.
    assert repeated.is_open(utc("2026-10-25T00:15"))
    assert not repeated.is_open(utc("2026-10-25T01:15"))
    assert repeated.elapsed(utc("2026-10-24T00:00"), utc("2026-10-26T00:00")) == timedelta(minutes=30)


def test_a_clock_set_back_across_midnight_stays_in_the_new_day() -> None:
    # Antarctica/Casey went from UTC+11 to UTC+8 at 02:00 on Friday 2010-03-05: its clocks showed
    # Friday 00:00 to 02:00, then Thursday 23:00 to 24:00 again. Friday runs from its first midnight
    # (13:00 UTC) to Saturday's (16:00 UTC the next day), 27 hours.
    fridays = Calendar("casey", "Casey", "Antarctica/Casey", intervals((4,), ("00:00", "24:00")))
    assert not fridays.is_open(utc("2010-03-04T12:59"))
    assert fridays.is_open(utc("2010-03-04T15:30"))
    assert fridays.elapsed(utc("2010-03-04T00:00"), utc("2010-03-06T00:00")) == timedelta(hours=27)
    assert fridays.elapsed(utc("2010-03-04T00:00"), utc("2010-03-04T15:30")) == timedelta(hours=2, minutes=30)
    assert fridays.add(utc("2010-03-04T12:00"), timedelta(hours=27)) == utc("2010-03-05T16:00")


@pytest.mark.parametrize(
    ("start", "amount", "deadline"),
    [
        # Friday 2026-07-03 is Independence Day observed (the 4th is a Saturday).
        (new_york("2026-07-02T17:00"), timedelta(hours=2), utc("2026-07-06T13:00")),
        # Friday in EST (UTC-5) to Monday in EDT (UTC-4): the change is on Sunday 2026-03-08.
        (new_york("2026-03-06T17:00"), timedelta(hours=2), utc("2026-03-09T13:00")),
        # Back to EST on Sunday 2026-11-01.
        (new_york("2026-10-30T17:30"), timedelta(hours=1), utc("2026-11-02T13:30")),
        # Thanksgiving, Thursday 2026-11-26.
        (new_york("2026-11-25T17:00"), timedelta(hours=11), utc("2026-11-27T23:00")),
    ],
)
def test_new_york(start: datetime, amount: timedelta, deadline: datetime) -> None:
    assert NEW_YORK_DESK.add(start, amount) == deadline


def test_an_eastern_time_week_across_the_change_counts_local_hours() -> None:
    assert NEW_YORK_DESK.elapsed(new_york("2026-03-02T00:00"), new_york("2026-03-16T00:00")) == timedelta(
        hours=100
    )


def test_naive_datetimes_and_negative_amounts_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        OFFICE.add(datetime(2026, 6, 15, 9), timedelta(hours=1))
    with pytest.raises(ValueError, match="naive"):
        OFFICE.elapsed(utc("2026-06-15T09:00"), datetime(2026, 6, 16))
    with pytest.raises(ValueError, match="naive"):
        OFFICE.is_open(datetime(2026, 6, 15, 9))
    with pytest.raises(ValueError, match="negative"):
        OFFICE.add(utc("2026-06-15T09:00"), timedelta(seconds=-1))


def test_a_calendar_closed_for_five_years_is_never_open() -> None:
    mondays = tuple(
        Holiday(date(2026, 6, 15) + timedelta(weeks=week), f"closed {week}") for week in range(6 * 53)
    )
    calendar = Calendar(
        "closed", "Closed", "Europe/Berlin", intervals((0,), ("09:00", "17:00")), holidays=mondays
    )
    with pytest.raises(CalendarError) as refused:
        calendar.add(berlin("2026-06-14T12:00"), timedelta(minutes=1))
    assert refused.value.rule == "never_open"
    assert refused.value.detail["calendar_id"] == "closed"
    # Open time before the closed years still counts.
    assert calendar.add(berlin("2026-06-08T16:00"), timedelta(hours=1)) == berlin("2026-06-08T17:00")


def rule_of(build: Callable[[], object]) -> str:
    with pytest.raises(CalendarError) as refused:
        build()
    return refused.value.rule


def valid_calendar(**changes: object) -> Calendar:
    fields: dict[str, object] = {
        "calendar_id": "c",
        "name": "C",
        "time_zone": "Europe/Berlin",
        "intervals": intervals(WEEKDAYS, ("09:00", "17:00")),
    }
    return Calendar(**(fields | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "", "Europe", "Europe/", "zone.tab", "europe/berlin", "../x"]
)
def test_unknown_time_zone(zone: str) -> None:
    with pytest.raises(CalendarError) as refused:
        valid_calendar(time_zone=zone)
    assert refused.value.rule == "unknown_time_zone"
    assert refused.value.detail["time_zone"] == zone


@pytest.mark.parametrize(
    "hours",
    [
        (("09:00", "12:00"), ("11:00", "13:00")),
        (("09:00", "12:00"), ("09:00", "12:00")),
        (("10:00", "11:00"), ("09:00", "24:00")),
        (("09:00", "24:00"), ("23:59", "24:00")),
    ],
)
def test_overlapping_intervals(hours: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(CalendarError) as refused:
        valid_calendar(intervals=intervals((2,), *hours))
    assert refused.value.rule == "overlapping_intervals"
    assert refused.value.detail["weekday"] == "2"


def test_the_same_hours_on_different_weekdays_do_not_overlap() -> None:
    assert valid_calendar(intervals=intervals((0, 1), ("00:00", "24:00"))).is_open(berlin("2026-06-16T23:59"))


@pytest.mark.parametrize(("opens", "closes"), [("12:00", "12:00"), ("13:00", "09:00"), ("09:00", "00:00")])
def test_an_interval_must_open_before_it_closes(opens: str, closes: str) -> None:
    assert rule_of(lambda: OpenInterval.parse(3, opens, closes)) == "invalid_interval"


@pytest.mark.parametrize(
    ("opens", "closes", "field"),
    [
        ("9:00", "12:00", "opens"),
        ("24:00", "24:00", "opens"),
        ("09:00", "24:30", "closes"),
        ("09:00", "12:60", "closes"),
        ("noon", "13:00", "opens"),
        ("09:00:00", "13:00", "opens"),
        ("09:00", " 13:00", "closes"),
        ("", "13:00", "opens"),
        ("\u0660\u0669:00", "13:00", "opens"),
    ],
)
def test_bad_clock_text(opens: str, closes: str, field: str) -> None:
    with pytest.raises(CalendarError) as refused:
        OpenInterval.parse(4, opens, closes)
    assert refused.value.rule == "invalid_interval"
    assert refused.value.detail["field"] == field
    assert refused.value.detail["weekday"] == "4"


@pytest.mark.parametrize(
    "build",
    [
        lambda: OpenInterval(7, time(9), time(17)),
        lambda: OpenInterval(-1, time(9), time(17)),
        lambda: OpenInterval(0, time(9, 0, 30), time(17)),
        lambda: OpenInterval(0, time(9), time(17, tzinfo=UTC)),
    ],
)
def test_intervals_are_whole_minutes_on_a_weekday(build: Callable[[], object]) -> None:
    assert rule_of(build) == "invalid_interval"


def test_interval_text_round_trips() -> None:
    interval = OpenInterval.parse(6, "00:00", "24:00")
    assert interval == OpenInterval(6, time(0), None)
    assert (interval.opens_text, interval.closes_text, str(interval)) == ("00:00", "24:00", "00:00-24:00")
    lunch = OpenInterval.parse(0, "12:30", "13:05")
    assert (lunch.opens, lunch.closes, str(lunch)) == (time(12, 30), time(13, 5), "12:30-13:05")


@pytest.mark.parametrize("country", ["XX", "de", "DEU", "", "Germany"])
def test_unknown_country(country: str) -> None:
    with pytest.raises(CalendarError) as refused:
        valid_calendar(holiday_countries=("DE", country))
    assert refused.value.rule == "unknown_country"
    assert refused.value.detail["country"] == country


def test_a_calendar_needs_open_time_and_an_id() -> None:
    assert rule_of(lambda: valid_calendar(intervals=())) == "no_open_time"
    assert rule_of(lambda: valid_calendar(calendar_id=" ")) == "empty_calendar_id"


def test_holiday_text() -> None:
    assert Holiday.parse("2026-12-31", "Silvester") == Holiday(date(2026, 12, 31), "Silvester")


@pytest.mark.parametrize("text", ["2026-13-01", "2026-02-30", "20261231", "2026-W53-4", "31.12.2026", ""])
def test_bad_holiday_text(text: str) -> None:
    with pytest.raises(CalendarError) as refused:
        Holiday.parse(text, "x")
    assert refused.value.rule == "invalid_holiday"
    assert refused.value.detail["value"] == text


def test_a_holiday_is_a_date_not_a_moment() -> None:
    assert rule_of(lambda: Holiday(datetime(2026, 12, 31, tzinfo=UTC), "x")) == "invalid_holiday"


def test_calendars_are_values() -> None:
    same = Calendar(
        OFFICE.calendar_id,
        OFFICE.name,
        OFFICE.time_zone,
        OFFICE.intervals,
        OFFICE.holiday_countries,
        OFFICE.holidays,
    )
    OFFICE.add(berlin("2026-06-15T09:00"), timedelta(hours=1))
    assert same == OFFICE
    assert hash(same) == hash(OFFICE)


# --- properties over random calendars -------------------------------------------------------------

# Each zone with the instants of its 2026 DST changes, so random instants often meet 23- and
# 25-hour days. Santiago changes at midnight, Lord Howe by half an hour.
CHANGES = {
    "Europe/Berlin": [utc("2026-03-29T01:00"), utc("2026-10-25T01:00")],
    "America/New_York": [utc("2026-03-08T07:00"), utc("2026-11-01T06:00")],
    "Australia/Sydney": [utc("2026-04-04T16:00"), utc("2026-10-03T16:00")],
    "America/Santiago": [utc("2026-04-05T03:00"), utc("2026-09-06T04:00")],
    "Australia/Lord_Howe": [utc("2026-04-04T15:00"), utc("2026-10-03T15:30")],
}
# Local minutes of the day around those changes (00:00-03:00 and 23:00-24:00), where interval
# boundaries fall into skipped or repeated times.
NEAR_CHANGES = [*range(0, 181, 15), *range(1380, 1441, 15)]


@st.composite
def weekly_hours(draw: st.DrawFn, step: int) -> tuple[OpenInterval, ...]:
    """Random intervals, `step` minutes apart at the finest, a few a day, at least one a week."""
    near = st.sampled_from([minute for minute in NEAR_CHANGES if minute % step == 0])
    boundary = st.one_of(st.integers(0, 1440 // step).map(lambda unit: unit * step), near, near)
    found: list[OpenInterval] = []
    for weekday in range(7):
        points = sorted(draw(st.sets(boundary, max_size=6)))
        for opens, closes in zip(points[::2], points[1::2], strict=False):
            found.append(
                OpenInterval(
                    weekday, time(*divmod(opens, 60)), None if closes == 1440 else time(*divmod(closes, 60))
                )
            )
    if not found:
        found.append(OpenInterval(draw(st.integers(0, 6)), time(9), time(17)))
    return tuple(found)


@st.composite
def calendars(draw: st.DrawFn, zone: str, step: int) -> Calendar:
    return Calendar(
        calendar_id="random",
        name="Random",
        time_zone=zone,
        intervals=draw(weekly_hours(step)),
        holiday_countries=draw(st.sampled_from([(), ("DE",), ("US",), ("AU", "CL")])),
        holidays=tuple(
            Holiday(day, "custom")
            for day in draw(st.sets(st.dates(date(2026, 1, 1), date(2027, 12, 31)), max_size=20))
        ),
    )


@st.composite
def cases(draw: st.DrawFn, moments: int) -> tuple[Calendar, list[datetime]]:
    """A random calendar and instants, many of them within two days of its zone's DST changes."""
    zone = draw(st.sampled_from(sorted(CHANGES)))
    instant = st.one_of(
        st.datetimes(datetime(2025, 12, 1), datetime(2027, 12, 31)).map(
            lambda moment: moment.replace(tzinfo=UTC)
        ),
        st.builds(
            lambda change, offset: change + offset,
            st.sampled_from(CHANGES[zone]),
            st.timedeltas(-timedelta(days=2), timedelta(days=2)),
        ),
    )
    return draw(calendars(zone, step=1)), draw(st.lists(instant, min_size=moments, max_size=moments))


@st.composite
def windows(draw: st.DrawFn, step: int) -> tuple[Calendar, datetime, datetime]:
    """A calendar with boundaries `step` minutes apart and a range of whole minutes around one of
    its zone's DST changes, from up to 36 hours before it to up to 36 hours after."""
    zone = draw(st.sampled_from(sorted(CHANGES)))
    change = draw(st.sampled_from(CHANGES[zone]))
    before, after = (timedelta(minutes=draw(st.integers(0, 36 * 60))) for _ in range(2))
    return draw(calendars(zone, step)), change - before, change + after


amounts = st.one_of(
    st.timedeltas(timedelta(0), timedelta(days=3)),
    st.integers(0, 3 * 24 * 60).map(lambda minutes: timedelta(minutes=minutes)),
)
PROPERTIES = settings(max_examples=60, deadline=None)


@PROPERTIES
@given(cases(1), amounts, amounts)
def test_add_is_additive(case: tuple[Calendar, list[datetime]], first: timedelta, second: timedelta) -> None:
    calendar, [start] = case
    assert calendar.add(calendar.add(start, first), second) == calendar.add(start, first + second)


@PROPERTIES
@given(cases(1), amounts)
def test_add_ends_in_open_time_or_at_a_close(
    case: tuple[Calendar, list[datetime]], amount: timedelta
) -> None:
    calendar, [start] = case
    result = calendar.add(start, amount)
    assert result >= start
    if amount > timedelta(0):
        tick = timedelta(microseconds=1)
        assert calendar.is_open(result) or calendar.is_open(result - tick)
        # And no earlier instant would do.
        assert calendar.elapsed(start, result - tick) < amount


@PROPERTIES
@given(cases(1), amounts)
def test_elapsed_undoes_add(case: tuple[Calendar, list[datetime]], amount: timedelta) -> None:
    calendar, [start] = case
    assert calendar.elapsed(start, calendar.add(start, amount)) == amount


@PROPERTIES
@given(cases(3))
def test_elapsed_is_additive(case: tuple[Calendar, list[datetime]]) -> None:
    calendar, moments = case
    first, middle, last = sorted(moments)
    assert calendar.elapsed(first, last) == calendar.elapsed(first, middle) + calendar.elapsed(middle, last)


@PROPERTIES
@given(cases(1))
def test_is_open_agrees_with_elapsed(case: tuple[Calendar, list[datetime]]) -> None:
    calendar, [moment] = case
    tick = timedelta(microseconds=1)
    assert calendar.is_open(moment) == (calendar.elapsed(moment, moment + tick) == tick)


def first_showing_minutes(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    """Open minutes by brute force: read the local clock every minute around the range; an interval
    opens at the first minute the clock has shown its opening time or later, and closes likewise."""
    zone = ZoneInfo(calendar.time_zone)
    closed = closed_days(calendar, start, end)
    first, last = start - timedelta(days=2), end + timedelta(days=2)
    minutes = [first + timedelta(minutes=n) for n in range((last - first) // timedelta(minutes=1))]
    shown = list(accumulate((minute.astimezone(zone).replace(tzinfo=None) for minute in minutes), max))
    open_minutes: set[datetime] = set()
    day = start.astimezone(zone).date() - timedelta(days=1)
    while day <= end.astimezone(zone).date() + timedelta(days=1):
        for interval in calendar.intervals:
            if interval.weekday == day.weekday() and day not in closed:
                closes = (
                    datetime.combine(day + timedelta(days=1), time(0))
                    if interval.closes is None
                    else datetime.combine(day, interval.closes)
                )
                begin = bisect_left(shown, datetime.combine(day, interval.opens))
                open_minutes.update(minutes[begin : bisect_left(shown, closes)])
        day += timedelta(days=1)
    return timedelta(minutes=sum(start <= minute < end for minute in open_minutes))


def closed_days(calendar: Calendar, start: datetime, end: datetime) -> set[date]:
    closed = {holiday.day for holiday in calendar.holidays}
    for country in calendar.holiday_countries:
        closed |= set(public_holidays.country_holidays(country, years=range(start.year - 1, end.year + 2)))
    return closed


@settings(max_examples=40, deadline=None)
@given(windows(step=15))
def test_elapsed_matches_the_clock_read_minute_by_minute(window: tuple[Calendar, datetime, datetime]) -> None:
    calendar, start, end = window
    assert calendar.elapsed(start, end) == first_showing_minutes(calendar, start, end)


def wall_clock_minutes(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    """Open minutes as a person reads the local clock: the minute is open when the local date is
    not a holiday and the local time is inside one of that weekday's intervals."""
    zone = ZoneInfo(calendar.time_zone)
    closed = closed_days(calendar, start, end)
    count = 0
    minute = start
    while minute < end:
        local = minute.astimezone(zone)
        clock = local.time().replace(tzinfo=None)
        count += local.date() not in closed and any(
            interval.weekday == local.weekday()
            and interval.opens <= clock
            and (interval.closes is None or clock < interval.closes)
            for interval in calendar.intervals
        )
        minute += timedelta(minutes=1)
    return timedelta(minutes=count)


@settings(max_examples=40, deadline=None)
@given(windows(step=60))
def test_elapsed_matches_the_wall_clock(window: tuple[Calendar, datetime, datetime]) -> None:
    # Whole-hour boundaries never fall strictly inside a repeated hour of these zones (Lord Howe
    # repeats half an hour, from 01:30), where the first-showing rule and the wall clock differ.
    calendar, start, end = window
    assert calendar.elapsed(start, end) == wall_clock_minutes(calendar, start, end)


# -- opening and closing instants (the router's hours of operation) -------------------------------

ROUND_THE_CLOCK = Calendar("24x7", "Always", "Europe/Berlin", intervals(range(7), ("00:00", "24:00")))


@pytest.mark.parametrize(
    ("moment", "opening"),
    [
        # Open: the moment itself.
        (berlin("2026-06-15T10:00"), utc("2026-06-15T08:00")),
        # The lunch break: the afternoon interval.
        (berlin("2026-06-15T12:00"), utc("2026-06-15T11:00")),
        # Friday evening: Monday morning.
        (berlin("2026-06-19T17:00"), utc("2026-06-22T07:00")),
        # Christmas Eve evening, Christmas Day a public holiday: Monday 28th (CET).
        (berlin("2026-12-24T18:00"), utc("2026-12-28T08:00")),
        # The custom holiday.
        (berlin("2026-11-10T17:30"), utc("2026-11-12T08:00")),
        # Friday before the spring change (CET) to Monday after it (CEST).
        (berlin("2026-03-27T17:00"), utc("2026-03-30T07:00")),
    ],
)
def test_next_opening(moment: datetime, opening: datetime) -> None:
    assert OFFICE.next_opening(moment) == opening


@pytest.mark.parametrize(
    ("moment", "closing"),
    [
        # Morning: the lunch-time close.
        (berlin("2026-06-15T09:00"), utc("2026-06-15T10:00")),
        (berlin("2026-06-15T11:59:59.999999"), utc("2026-06-15T10:00")),
        # The closing instant itself is closed: the next one.
        (berlin("2026-06-15T12:00"), utc("2026-06-15T15:00")),
        # Closed: the end of the next open interval.
        (berlin("2026-06-19T18:00"), utc("2026-06-22T10:00")),
        (berlin("2026-12-24T18:00"), utc("2026-12-28T11:00")),
    ],
)
def test_next_closing(moment: datetime, closing: datetime) -> None:
    assert OFFICE.next_closing(moment) == closing


def test_intervals_that_meet_close_once() -> None:
    split = Calendar(
        "split", "Split", "Europe/Berlin", intervals(WEEKDAYS, ("09:00", "12:00"), ("12:00", "17:00"))
    )
    assert split.next_closing(berlin("2026-06-15T10:00")) == berlin("2026-06-15T17:00")
    # Friday all day into Saturday morning: one run across midnight.
    weekend = Calendar(
        "weekend",
        "Weekend",
        "Europe/Berlin",
        (*intervals((4,), ("08:00", "24:00")), *intervals((5,), ("00:00", "06:00"))),
    )
    assert weekend.next_closing(berlin("2026-06-19T09:00")) == berlin("2026-06-20T06:00")


def test_a_calendar_open_round_the_clock_never_closes_within_the_horizon() -> None:
    assert ROUND_THE_CLOCK.next_closing(berlin("2026-06-15T10:00")) is None
    assert ROUND_THE_CLOCK.next_opening(berlin("2026-06-15T10:00")) == berlin("2026-06-15T10:00")
    # With a public holiday within a day's horizon, it closes at the holiday's midnight.
    with_holidays = Calendar(
        "24x7-de",
        "Always but holidays",
        "Europe/Berlin",
        ROUND_THE_CLOCK.intervals,
        holiday_countries=("DE",),
    )
    assert with_holidays.next_closing(berlin("2026-12-24T10:00"), timedelta(days=2)) == berlin(
        "2026-12-25T00:00"
    )
    assert with_holidays.next_opening(berlin("2026-12-25T10:00")) == berlin("2026-12-27T00:00")


def test_opening_and_closing_across_dst() -> None:
    # The night interval across the spring gap opens at 01:00 CET and closes at 04:00 CEST.
    assert NIGHT.next_opening(berlin("2026-03-28T12:00")) == utc("2026-03-29T00:00")
    assert NIGHT.next_closing(berlin("2026-03-28T12:00")) == utc("2026-03-29T02:00")
    # Across the autumn repeat: 04:00 CET, three hours later in UTC than 01:00 CEST plus three.
    assert NIGHT.next_closing(berlin("2026-10-25T01:30")) == utc("2026-10-25T03:00")


def test_a_calendar_closed_for_five_years_has_no_opening() -> None:
    closed = Calendar(
        "closed",
        "Closed",
        "Europe/Berlin",
        intervals((0,), ("09:00", "10:00")),
        holidays=tuple(Holiday(date(2026, 6, 15) + timedelta(weeks=n), "") for n in range(270)),
    )
    with pytest.raises(CalendarError) as refused:
        closed.next_opening(berlin("2026-06-15T08:00"))
    assert refused.value.rule == "never_open"
    with pytest.raises(ValueError, match="naive"):
        OFFICE.next_opening(datetime(2026, 6, 15, 9))


@PROPERTIES
@given(cases(1))
def test_next_opening_is_the_first_open_instant(case: tuple[Calendar, list[datetime]]) -> None:
    calendar, [moment] = case
    opening = calendar.next_opening(moment)
    assert opening >= moment
    assert calendar.is_open(opening)
    assert calendar.elapsed(moment, opening) == timedelta(0)


@PROPERTIES
@given(cases(1))
def test_next_closing_ends_the_open_run(case: tuple[Calendar, list[datetime]]) -> None:
    calendar, [moment] = case
    closing = calendar.next_closing(moment, timedelta(days=30))
    assert closing is not None  # the random calendars are never open round the clock for a month
    tick = timedelta(microseconds=1)
    assert closing > moment
    assert not calendar.is_open(closing)
    assert calendar.is_open(closing - tick)
    # Open without a break from the opening to the closing.
    opening = calendar.next_opening(moment)
    assert calendar.elapsed(opening, closing) == closing - opening
