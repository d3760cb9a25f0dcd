"""Business-hours calendars: the time basis of SLA targets counted in business time. In the shared
library, so every service that keeps business hours counts them the one way.

A calendar is open during weekly intervals of local wall-clock time in its IANA zone, except on
public holidays of its countries and on its own custom holidays (both in local dates). Each local
day's intervals become spans of real (UTC) time, so a day with a DST change counts the hours that
really pass: an interval across the spring-forward gap is an hour shorter, one across the fall-back
an hour longer.

An interval opens at the first instant the local clock shows its opening time and closes at the
first instant it shows its closing time. That mapping never runs backwards, so a day's spans keep
their order and never overlap, whatever the zone does; a time the clock skips (inside the gap) maps
to the instant of the jump, and a time the clock shows twice (the repeated hour) to its first
showing.

Every type validates itself on construction, so a calendar that exists is one `add` and `elapsed`
can use. Arithmetic is exact `timedelta`/`datetime` arithmetic, to the microsecond.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as public_holidays

from helpline.domain import DomainError

_ONE_DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)
_MIDNIGHT = time(0)
# add() gives up when it has walked this far without meeting open time: with weekly intervals only
# holidays can close a calendar, and five years of them means the configuration is wrong.
NEVER_OPEN_HORIZON = timedelta(days=5 * 366)
# next_closing looks this far past the opening for the end of an open run: a calendar open round
# the clock would otherwise be walked to its next holiday, a year away, on every question.
CLOSING_HORIZON = timedelta(days=8)
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_END_OF_DAY = "24:00"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class CalendarError(DomainError):
    """A calendar described in a way that cannot count business time (an API answers 422)."""


@lru_cache(maxsize=1)
def _supported_countries() -> frozenset[str]:
    # Without aliases the keys are the alpha-2 codes the contract speaks.
    return frozenset(public_holidays.list_supported_countries(include_aliases=False))


@lru_cache(maxsize=4096)
def _public_holidays(country: str, year: int) -> frozenset[date]:
    # Building a country's holidays for a year is slow (lunar calendars, observed-day rules) and
    # every add() asks again for each day it walks, so each (country, year) is built once.
    return frozenset(public_holidays.country_holidays(country, years=year))


def _parse_clock(text: str, what: str, weekday: int) -> time:
    found = _CLOCK.fullmatch(text)
    if found is None:
        raise CalendarError(
            "invalid_interval",
            f"{what} time {text!r} is not a 24-hour HH:MM time",
            weekday=str(weekday),
            field=what,
            value=text,
        )
    return time(int(found.group(1)), int(found.group(2)))


@dataclass(frozen=True)
class OpenInterval:
    """Open from `opens` to `closes` (local wall-clock time) on `weekday`, 0 = Monday like
    `date.weekday()`. `closes` None is midnight at the end of the day, "24:00" in the contract."""

    weekday: int
    opens: time
    closes: time | None

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise CalendarError(
                "invalid_interval",
                f"weekday {self.weekday} is not 0 (Monday) to 6 (Sunday)",
                weekday=str(self.weekday),
            )
        for what, moment in (("opens", self.opens), ("closes", self.closes)):
            # The contract carries HH:MM in the calendar's zone: anything finer or zoned would not
            # survive the trip.
            if moment is not None and (moment.tzinfo is not None or moment.second or moment.microsecond):
                raise CalendarError(
                    "invalid_interval",
                    f"{what} time {moment.isoformat()} is not a whole minute of local time",
                    weekday=str(self.weekday),
                    field=what,
                    value=moment.isoformat(),
                )
        if self.closes is not None and self.closes <= self.opens:
            raise CalendarError(
                "invalid_interval",
                f"interval {self} closes before it opens",
                weekday=str(self.weekday),
                opens=self.opens_text,
                closes=self.closes_text,
            )

    @classmethod
    def parse(cls, weekday: int, opens: str, closes: str) -> OpenInterval:
        """From the contract's "HH:MM" texts; `closes` may be "24:00"."""
        return cls(
            weekday,
            _parse_clock(opens, "opens", weekday),
            None if closes == _END_OF_DAY else _parse_clock(closes, "closes", weekday),
        )

    @property
    def opens_text(self) -> str:
        return self.opens.strftime("%H:%M")

    @property
    def closes_text(self) -> str:
        return _END_OF_DAY if self.closes is None else self.closes.strftime("%H:%M")

    def __str__(self) -> str:
        return f"{self.opens_text}-{self.closes_text}"

    def _overlaps(self, later: OpenInterval) -> bool:
        """Whether `later`, which opens no earlier on the same weekday, opens before this closes."""
        return self.closes is None or later.opens < self.closes


@dataclass(frozen=True)
class Holiday:
    """A custom closed day (local date), beside the countries' public holidays."""

    day: date
    name: str

    def __post_init__(self) -> None:
        # A datetime is a date too, but would never equal the dates walked day by day.
        if isinstance(self.day, datetime):
            raise CalendarError(
                "invalid_holiday",
                f"holiday {self.name!r} is a moment ({self.day.isoformat()}), not a date",
                value=self.day.isoformat(),
            )

    @classmethod
    def parse(cls, day: str, name: str) -> Holiday:
        """From the contract's "YYYY-MM-DD" text."""
        try:
            # fromisoformat alone would also take week dates and compact forms.
            if _ISO_DATE.fullmatch(day) is None:
                raise ValueError(day)
            parsed = date.fromisoformat(day)
        except ValueError:
            raise CalendarError(
                "invalid_holiday", f"holiday date {day!r} is not a YYYY-MM-DD date", value=day
            ) from None
        return cls(parsed, name)


@dataclass(frozen=True)
class Calendar:
    """Business hours: weekly open intervals in `time_zone`, closed on the public holidays of
    `holiday_countries` (ISO 3166-1 alpha-2) and on `holidays`. Satisfies `TimeBasis`."""

    calendar_id: str
    name: str
    time_zone: str
    intervals: tuple[OpenInterval, ...]
    holiday_countries: tuple[str, ...] = ()
    holidays: tuple[Holiday, ...] = ()

    def __post_init__(self) -> None:
        if not self.calendar_id.strip():
            raise CalendarError("empty_calendar_id", "a calendar needs an id")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # ValueError and OSError: keys that are not normalised paths, or name a directory or a
            # file that is not a zone (e.g. "Europe", "zone.tab").
            raise CalendarError(
                "unknown_time_zone",
                f"time zone {self.time_zone!r} is not an IANA zone",
                time_zone=self.time_zone,
            ) from None
        if not self.intervals:
            raise CalendarError(
                "no_open_time",
                f"calendar {self.calendar_id!r} has no open interval",
                calendar_id=self.calendar_id,
            )
        ordered = sorted(self.intervals, key=lambda interval: (interval.weekday, interval.opens))
        for earlier, later in pairwise(ordered):
            if earlier.weekday == later.weekday and earlier._overlaps(later):
                raise CalendarError(
                    "overlapping_intervals",
                    f"intervals {earlier} and {later} overlap on weekday {later.weekday}",
                    weekday=str(later.weekday),
                    first=str(earlier),
                    second=str(later),
                )
        for country in self.holiday_countries:
            if country not in _supported_countries():
                raise CalendarError(
                    "unknown_country",
                    f"no public holidays are known for country {country!r} (ISO 3166-1 alpha-2)",
                    country=country,
                )

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The earliest instant at which `amount` of open time has passed since `start`, in UTC.

        A deadline that uses up an interval exactly is that interval's closing instant ("by
        17:00"); adding more from there continues at the next opening."""
        moment = _utc(start, "start")
        if amount < timedelta(0):
            raise ValueError(f"cannot add a negative amount of business time ({amount})")
        if amount == timedelta(0):
            return moment
        remaining = amount
        day = last_open_day = self._local_date(moment)
        while True:
            for opens, closes in self._spans(day):
                if closes <= moment:
                    continue
                begin = max(opens, moment)
                if remaining <= closes - begin:
                    return begin + remaining
                remaining -= closes - begin
                last_open_day = day
            day += _ONE_DAY
            if day - last_open_day > NEVER_OPEN_HORIZON:
                raise CalendarError(
                    "never_open",
                    f"calendar {self.calendar_id!r} has no open time in the {NEVER_OPEN_HORIZON.days} days "
                    f"from {last_open_day.isoformat()}",
                    calendar_id=self.calendar_id,
                    start=moment.isoformat(),
                )

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Open time between two instants; zero when `end` is not after `start`."""
        begin, finish = _utc(start, "start"), _utc(end, "end")
        total = timedelta(0)
        if finish <= begin:
            return total
        # One day past the end's date, for the clocks set back across midnight (see is_open).
        day, last = self._local_date(begin), self._local_date(finish) + _ONE_DAY
        while day <= last:
            for opens, closes in self._spans(day):
                overlap = min(closes, finish) - max(opens, begin)
                if overlap > timedelta(0):
                    total += overlap
            day += _ONE_DAY
        return total

    def is_open(self, moment: datetime) -> bool:
        """Whether `moment` lies in an open span; a closing instant itself is closed."""
        instant = _utc(moment, "moment")
        today = self._local_date(instant)
        # A local day's spans run from the first showing of its midnight to the first showing of
        # the next, so an instant belongs to the day its clock shows or, when the clock was set back
        # across midnight (Antarctica/Casey, 2010-03-05), to the day after.
        return any(
            opens <= instant < closes
            for day in (today, today + _ONE_DAY)
            for opens, closes in self._spans(day)
        )

    def next_opening(self, moment: datetime) -> datetime:
        """The earliest instant at or after `moment` that is open, in UTC: `moment` itself while open."""
        instant = _utc(moment, "moment")
        day = self._local_date(instant)
        last = day + NEVER_OPEN_HORIZON
        while day <= last:
            for opens, closes in self._spans(day):
                if closes > instant:
                    return max(opens, instant)
            day += _ONE_DAY
        raise CalendarError(
            "never_open",
            f"calendar {self.calendar_id!r} has no open time in the {NEVER_OPEN_HORIZON.days} days "
            f"from {instant.isoformat()}",
            calendar_id=self.calendar_id,
            start=instant.isoformat(),
        )

    def next_closing(self, moment: datetime, horizon: timedelta = CLOSING_HORIZON) -> datetime | None:
        """The first instant after `moment` at which the calendar goes from open to closed, in UTC;
        None when it stays open without a break for `horizon` after the opening that follows.

        Intervals that meet (Monday 00:00-24:00 and Tuesday 00:00-12:00, or 09:00-12:00 and
        12:00-17:00) make one open run: the calendar does not close where they meet."""
        instant = _utc(moment, "moment")
        day = self._local_date(instant)
        closing: datetime | None = None
        limit = instant
        for _ in range(NEVER_OPEN_HORIZON.days + 2):
            for opens, closes in self._spans(day):
                if closes <= instant:
                    continue
                if closing is not None and opens > closing:
                    return closing
                if closing is None:
                    limit = max(opens, instant) + horizon
                closing = closes
            day += _ONE_DAY
            if closing is not None:
                # The next day's spans start at its midnight at the earliest: a run that ends
                # before it ends for good.
                if closing < _first_showing(self._zone, datetime.combine(day, _MIDNIGHT)):
                    return closing
                if closing > limit:
                    return None
        return None

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @cached_property
    def _week(self) -> tuple[tuple[OpenInterval, ...], ...]:
        """Per weekday, its intervals in the order they open."""
        ordered = sorted(self.intervals, key=lambda interval: interval.opens)
        return tuple(tuple(interval for interval in ordered if interval.weekday == day) for day in range(7))

    @cached_property
    def _custom_days(self) -> frozenset[date]:
        return frozenset(holiday.day for holiday in self.holidays)

    def _closed_all_day(self, day: date) -> bool:
        return day in self._custom_days or any(
            day in _public_holidays(country, day.year) for country in self.holiday_countries
        )

    def _spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The UTC spans the local `day` is open, in order, none of them empty."""
        if self._closed_all_day(day):
            return []
        spans = []
        for interval in self._week[day.weekday()]:
            closes = (
                datetime.combine(day + _ONE_DAY, _MIDNIGHT)
                if interval.closes is None
                else datetime.combine(day, interval.closes)
            )
            begin = _first_showing(self._zone, datetime.combine(day, interval.opens))
            end = _first_showing(self._zone, closes)
            # A local day can lose an interval entirely, e.g. 02:15-02:45 on a spring-forward night.
            if begin < end:
                spans.append((begin, end))
        return spans

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self._zone).date()


def _utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {what}={moment.isoformat()}: business time needs an aware datetime")
    return moment.astimezone(UTC)


def _first_showing(zone: ZoneInfo, wall: datetime) -> datetime:
    """The first instant at which clocks in `zone` show the naive local `wall` time or later."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        # fold=0 is the first showing of a time the clock shows twice.
        return instant
    # `wall` lies in a gap: the clock jumps over it, at an instant after the reading with the offset
    # from after the jump and no later than the one with the offset from before it. Bisect to the
    # microsecond; it only happens on the few days a zone springs forward.
    low, high = wall.replace(tzinfo=zone, fold=1).astimezone(UTC), instant
    while high - low > _TICK:
        middle = low + (high - low) // 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high
