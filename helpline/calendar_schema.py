"""A business-hours calendar as the REST admin APIs take and show it (the SLA service's calendars
and the router's hours of operation share one shape, so an operator can paste one into the other):
weekdays as words, "HH:MM" local times, "YYYY-MM-DD" holidays. The schema states what it can; the
domain (helpline.business_hours) checks the rest, and a refusal names the body field at fault in
`location`, as validation errors do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from helpline.business_hours import Calendar, Holiday, OpenInterval
from helpline.domain import DomainError

Text = Annotated[str, Field(max_length=200)]


class Weekday(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"


# Index = the domain's weekday (0 = Monday, like date.weekday()).
WEEKDAYS = tuple(Weekday)
# [0-9], not \d: the schema's regex dialect counts other scripts' digits as digits.
Clock = r"([01][0-9]|2[0-3]):[0-5][0-9]"


@contextmanager
def at_field(location: str | Callable[[DomainError], str]) -> Iterator[None]:
    """A domain refusal raised inside names the body field at fault (`location`, or what it gives
    for the refusal), and the weekday as the request spelled it."""
    try:
        yield
    except DomainError as exc:
        where = location if isinstance(location, str) else location(exc)
        detail = dict(exc.detail)
        if where:
            detail["location"] = f"body.{where}"
        if detail.get("weekday", "").isdigit() and int(detail["weekday"]) < len(WEEKDAYS):
            detail["weekday"] = WEEKDAYS[int(detail["weekday"])].value
        raise type(exc)(exc.rule, exc.message, **detail) from exc


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenIntervalIn(_In):
    """Open from `opens` to `closes` on `weekday`, local time in the calendar's zone."""

    weekday: Weekday
    opens: Annotated[str, Field(pattern=f"^{Clock}$", description='"HH:MM", 24-hour.')]
    closes: Annotated[
        str, Field(pattern=f"^({Clock}|24:00)$", description='"HH:MM", 24-hour; "24:00" for midnight.')
    ]

    @classmethod
    def of(cls, interval: OpenInterval) -> OpenIntervalIn:
        return cls(weekday=WEEKDAYS[interval.weekday], opens=interval.opens_text, closes=interval.closes_text)


class HolidayIn(_In):
    date: Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description='"YYYY-MM-DD".')]
    name: Text = ""


class CalendarIn(_In):
    """Business hours: weekly open intervals (several a day, e.g. around lunch) and closed days."""

    name: Text = ""
    time_zone: Annotated[
        str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_+/-]{0,63}$", description='IANA, e.g. "Europe/Berlin".')
    ]
    open_intervals: Annotated[list[OpenIntervalIn], Field(min_length=1, max_length=7 * 24)] = Field(
        description="They may not overlap on a day."
    )
    holiday_countries: Annotated[
        list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]],
        Field(max_length=20, description="ISO 3166-1 alpha-2 codes whose public holidays are closed days."),
    ] = []
    holidays: Annotated[list[HolidayIn], Field(max_length=1000, description="Closed days of its own.")] = []

    def to_calendar(self, calendar_id: str) -> Calendar:
        intervals = []
        for n, interval in enumerate(self.open_intervals):
            with at_field(f"open_intervals.{n}"):
                weekday = WEEKDAYS.index(interval.weekday)
                intervals.append(OpenInterval.parse(weekday, interval.opens, interval.closes))
        holidays = []
        for n, holiday in enumerate(self.holidays):
            with at_field(f"holidays.{n}.date"):
                holidays.append(Holiday.parse(holiday.date, holiday.name))
        with at_field(self._field_of):
            return Calendar(
                calendar_id=calendar_id,
                name=self.name,
                time_zone=self.time_zone,
                intervals=tuple(intervals),
                holiday_countries=tuple(self.holiday_countries),
                holidays=tuple(holidays),
            )

    def _field_of(self, refusal: DomainError) -> str:
        country = refusal.detail.get("country")
        if refusal.rule == "unknown_country" and country in self.holiday_countries:
            return f"holiday_countries.{self.holiday_countries.index(country)}"
        return {"unknown_time_zone": "time_zone", "overlapping_intervals": "open_intervals"}.get(
            refusal.rule, ""
        )


class CalendarOut(CalendarIn):
    id: str

    @classmethod
    def of(cls, calendar: Calendar) -> CalendarOut:
        return cls(
            id=calendar.calendar_id,
            name=calendar.name,
            time_zone=calendar.time_zone,
            open_intervals=[OpenIntervalIn.of(interval) for interval in calendar.intervals],
            holiday_countries=list(calendar.holiday_countries),
            holidays=[HolidayIn(date=h.day.isoformat(), name=h.name) for h in calendar.holidays],
        )
