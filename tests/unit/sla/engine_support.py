"""Builders shared by the SLA engine tests: a tiny business calendar and a driver that feeds a
ticket's facts to the engine with rising versions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from services.sla.domain import engine
from services.sla.domain.engine import Commented, Created, Reopened, StatusChanged, TicketSla, Updated
from services.sla.domain.instance import Instance
from services.sla.domain.model import (
    Author,
    Basis,
    Department,
    Metric,
    Priority,
    Status,
    TicketFacts,
    Trigger,
)
from services.sla.domain.outputs import Output
from services.sla.domain.policy import Conditions, Escalation, Policy, Target
from services.sla.domain.timebasis import TimeBasis

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, as the office opens
DAY = timedelta(days=1)


def at(hours: float = 0, minutes: float = 0, days: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours, minutes=minutes)


def h(hours: float) -> timedelta:
    return timedelta(hours=hours)


def on(day: int, clock: str) -> datetime:
    """`clock` on day `day` of March 2026 (2 is a Monday, 6 a Friday), UTC."""
    hour, minute = clock.split(":")
    return datetime(2026, 3, day, int(hour), int(minute), tzinfo=UTC)


class OfficeHours:
    """A business calendar of 09:00-17:00 UTC, Monday to Friday: enough to see closed hours and
    weekends counted out, without depending on the real calendar module."""

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        if day.weekday() >= 5:
            return None
        return datetime.combine(day, time(9), UTC), datetime.combine(day, time(17), UTC)

    def add(self, start: datetime, amount: timedelta) -> datetime:
        left = amount
        day = start.date()
        while True:
            window = self._window(day)
            if window is not None and window[1] > start:
                begin = max(window[0], start)
                if begin + left <= window[1]:
                    return begin + left
                left -= window[1] - begin
            day += DAY

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        total = timedelta(0)
        day = start.date()
        while day <= end.date():
            window = self._window(day)
            if window is not None:
                total += max(min(window[1], end) - max(window[0], start), timedelta(0))
            day += DAY
        return total


OFFICE: TimeBasis = OfficeHours()
CALENDARS = {"office": OFFICE}
FACTS = TicketFacts(Priority.NORMAL, "incident", "email", Department.SUPPORT, frozenset({"vip"}))


def target(
    metric: Metric, duration: timedelta, basis: Basis = Basis.CALENDAR, priority: Priority = Priority.NORMAL
) -> Target:
    return Target(metric, priority, duration, basis)


def policy(*targets: Target, **fields: Any) -> Policy:
    values: dict[str, Any] = {
        "policy_id": "std",
        "name": "Standard",
        "position": 10,
        "conditions": Conditions(),
        "targets": targets,
        "calendar_id": "office",
    }
    values.update(fields)
    return Policy(**values)


def escalation(metric: Metric, trigger: Trigger, *actions: Any) -> Escalation:
    return Escalation(metric, trigger, actions)


class Ticket:
    """One ticket's facts, fed to the engine with rising versions; `outputs` holds what the last
    step reported."""

    def __init__(
        self, *policies: Policy, calendars: Any = None, facts: TicketFacts = FACTS, ticket_id: str = "t-1"
    ) -> None:
        self.policies: Sequence[Policy] = policies
        self.calendars = CALENDARS if calendars is None else calendars
        self.facts = facts
        self.ticket_id = ticket_id
        self.version = 0
        self.state: TicketSla | None = None
        self.outputs: tuple[Output, ...] = ()
        self.history: list[engine.Fact] = []

    @property
    def sla(self) -> TicketSla:
        assert self.state is not None
        return self.state

    def apply(self, fact: engine.Fact) -> tuple[Output, ...]:
        self.history.append(fact)
        transition = engine.apply(self.state, fact, self.policies, self.calendars)
        self.state = transition.sla
        self.outputs = transition.outputs
        return self.outputs

    def _next(self, same_version: bool) -> int:
        if not same_version:
            self.version += 1
        return self.version

    def create(self, when: datetime = T0, status: Status = Status.NEW) -> tuple[Output, ...]:
        return self.apply(Created(self.ticket_id, self._next(False), self.facts, status, when))

    def agent(self, when: datetime, *, public: bool = True) -> tuple[Output, ...]:
        outputs = self.apply(Commented(self._next(False), public, Author.AGENT, when))
        if public and self.sla.status is Status.NEW:
            # As the tickets service does: the first agent reply opens a new ticket, same version.
            outputs += self.apply(StatusChanged(self.version, Status.OPEN, when))
        self.outputs = outputs
        return outputs

    def customer(self, when: datetime) -> tuple[Output, ...]:
        before = self.sla.status
        outputs = self.apply(Commented(self._next(False), True, Author.CUSTOMER, when))
        if before in (Status.PENDING, Status.SOLVED):
            outputs += self.apply(StatusChanged(self.version, Status.OPEN, when))
        if before is Status.SOLVED:
            outputs += self.apply(Reopened(self.version, when))
        self.outputs = outputs
        return outputs

    def comment(self, author: Author, when: datetime, *, public: bool = True) -> tuple[Output, ...]:
        return self.apply(Commented(self._next(False), public, author, when))

    def move(self, to: Status, when: datetime) -> tuple[Output, ...]:
        return self.apply(StatusChanged(self._next(False), to, when))

    def update(self, when: datetime, **changes: Any) -> tuple[Output, ...]:
        self.facts = replace(self.facts, **changes)
        return self.apply(Updated(self._next(False), self.facts, tuple(changes), when))

    def fire(self, metric: Metric, trigger: Trigger, now: datetime, number: int = 1) -> tuple[Output, ...]:
        transition = engine.fire(self.sla, self.id(metric, number), trigger, now, self.policies)
        self.state = transition.sla
        self.outputs = transition.outputs
        return self.outputs

    def id(self, metric: Metric, number: int = 1) -> str:
        return f"{self.ticket_id}:{metric.value}:{number}"

    def instance(self, metric: Metric, number: int = 1) -> Instance:
        found = self.sla.instance(self.id(metric, number))
        assert found is not None, f"no {metric.value} #{number}"
        return found

    def timers(self) -> set[tuple[str, Trigger, datetime]]:
        return engine.timers(self.sla)


def due(
    ticket: Ticket, *entries: tuple[Metric, int, datetime, datetime]
) -> set[tuple[str, Trigger, datetime]]:
    """Timers written as (metric, number, warn_at, deadline)."""
    expected: set[tuple[str, Trigger, datetime]] = set()
    for metric, number, warn_at, deadline in entries:
        expected.add((ticket.id(metric, number), Trigger.WARNING, warn_at))
        expected.add((ticket.id(metric, number), Trigger.BREACH, deadline))
    return expected
