"""What an SLA target counts: every hour (calendar time) or a calendar's business hours. Both
answer the same two questions, so the metric engine never asks which one it has."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol


class TimeBasis(Protocol):
    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The earliest instant at which `amount` of counted time has passed since `start`."""
        ...

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Counted time between two instants; zero when `end` is not after `start`."""
        ...


class CalendarTime:
    """Every hour counts: plain clock arithmetic."""

    def add(self, start: datetime, amount: timedelta) -> datetime:
        return start + amount

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        return max(end - start, timedelta(0))


CALENDAR_TIME = CalendarTime()
