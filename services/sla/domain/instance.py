"""One run of one SLA metric on a ticket (a metric instance), and the arithmetic of its warning
and deadline.

An instance keeps its start and every running segment (`runs`) whether or not a policy sets it a
target, so a target it gets later (a priority change that makes a policy apply) counts from the
original start, with the original pauses.

Due instants, for a target T in its time basis B: the deadline is the instant at which the runs
have counted T in B; the warning is due once they have counted `warn_percent` of T. Walking the
runs in order, that instant falls inside a closed run when the share was already used up before
(the instant is then in the past: due at once, if the timer has not fired yet), else on the open
run (B.add(run start, share left)). A paused instance whose share is not used up has no due
instant: nothing can fall due until it runs again, and the frozen share left is what it owes.
A fulfilled instance keeps the deadline it was held to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.sla.domain.model import Basis, Metric, Priority, SlaError
from services.sla.domain.policy import Policy, Target
from services.sla.domain.timebasis import CALENDAR_TIME, TimeBasis

Run = tuple[datetime, datetime | None]
Calendars = Mapping[str, TimeBasis]


class State(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    FULFILLED = "fulfilled"


@dataclass(frozen=True)
class Terms:
    """What the applying policy asks of one instance. The instance carries them, so it is counted
    by the calendar and warning share it was given even after the policy is edited."""

    policy_id: str
    target: Target
    warn_percent: int
    calendar_id: str

    @property
    def warn_after(self) -> timedelta:
        return self.target.duration * self.warn_percent / 100


def terms_for(policy: Policy | None, metric: Metric, priority: Priority) -> Terms | None:
    target = policy.target_for(metric, priority) if policy is not None else None
    if policy is None or target is None:
        return None
    return Terms(policy.policy_id, target, policy.warn_percent, policy.calendar_id)


def basis_of(terms: Terms, calendars: Calendars) -> TimeBasis:
    """Calendar-time targets count every hour; business-time ones count the policy's calendar."""
    if terms.target.basis is Basis.CALENDAR:
        return CALENDAR_TIME
    found = calendars.get(terms.calendar_id)
    if found is None:
        raise SlaError(
            "unknown_calendar",
            f"policy {terms.policy_id} counts business hours of unknown calendar {terms.calendar_id}",
            policy_id=terms.policy_id,
            calendar_id=terms.calendar_id,
        )
    return found


@dataclass(frozen=True)
class Instance:
    instance_id: str
    metric: Metric
    started_at: datetime
    # Running segments in order; the last is open (end None) while the instance runs.
    runs: tuple[Run, ...]
    # None while no policy sets a target for this metric: tracked, but nothing is due.
    terms: Terms | None = None
    # A warning was reported (a breach stands in for one: see engine).
    warned: bool = False
    # The deadline the instance passed, once it has.
    breached_at: datetime | None = None
    fulfilled_at: datetime | None = None
    warn_at: datetime | None = None
    deadline: datetime | None = None

    @property
    def state(self) -> State:
        if self.fulfilled_at is not None:
            return State.FULFILLED
        return State.ACTIVE if self.running else State.PAUSED

    @property
    def running(self) -> bool:
        return self.fulfilled_at is None and bool(self.runs) and self.runs[-1][1] is None

    @property
    def open(self) -> bool:
        """Still owed: running or paused, not yet fulfilled."""
        return self.fulfilled_at is None

    @property
    def target(self) -> Target | None:
        return self.terms.target if self.terms is not None else None

    @property
    def breached(self) -> bool:
        return self.breached_at is not None


def start(
    instance_id: str, metric: Metric, at: datetime, running: bool, terms: Terms | None, calendars: Calendars
) -> Instance:
    runs: tuple[Run, ...] = ((at, None),) if running else ()
    return _timed(Instance(instance_id, metric, at, runs, terms), calendars)


def pause(instance: Instance, at: datetime, calendars: Calendars) -> Instance:
    return _timed(replace(instance, runs=_closed(instance.runs, at)), calendars)


def resume(instance: Instance, at: datetime, calendars: Calendars) -> Instance:
    return _timed(replace(instance, runs=(*instance.runs, (at, None))), calendars)


def retarget(instance: Instance, terms: Terms | None, calendars: Calendars) -> Instance:
    return _timed(replace(instance, terms=terms), calendars)


def fulfil(instance: Instance, at: datetime) -> Instance:
    """Fulfilled at `at`; at or after the deadline it counts as breached (the breach timer fires at
    the deadline itself, so the order of the two at the same instant does not change the outcome)."""
    breached_at = instance.breached_at
    if breached_at is None and instance.deadline is not None and at >= instance.deadline:
        breached_at = instance.deadline
    return replace(instance, runs=_closed(instance.runs, at), fulfilled_at=at, breached_at=breached_at)


def reopen(instance: Instance, at: datetime, running: bool, calendars: Calendars) -> Instance:
    """Owed again (the ticket left solved), with the time it ran before kept."""
    runs = (*instance.runs, (at, None)) if running else instance.runs
    return _timed(replace(instance, runs=runs, fulfilled_at=None), calendars)


def consumed(instance: Instance, basis: TimeBasis, now: datetime) -> timedelta:
    """Running time counted in `basis` up to `now` (the open run counts until `now`)."""
    return sum(
        (basis.elapsed(begin, now if end is None else end) for begin, end in instance.runs), timedelta(0)
    )


def remaining(instance: Instance, calendars: Calendars, now: datetime) -> timedelta | None:
    """Target time left at `now`; negative once the target is used up. None without a target."""
    if instance.terms is None:
        return None
    used = consumed(instance, basis_of(instance.terms, calendars), now)
    return instance.terms.target.duration - used


def _closed(runs: tuple[Run, ...], at: datetime) -> tuple[Run, ...]:
    if not runs or runs[-1][1] is not None:
        return runs
    begin = runs[-1][0]
    # A fact stamped before the run began (clock skew between producers) ends it empty, not inverted.
    return (*runs[:-1], (begin, max(at, begin)))


def _timed(instance: Instance, calendars: Calendars) -> Instance:
    terms = instance.terms
    if terms is None:
        return replace(instance, warn_at=None, deadline=None)
    basis = basis_of(terms, calendars)
    return replace(
        instance,
        warn_at=_reached(instance.runs, terms.warn_after, basis),
        deadline=_reached(instance.runs, terms.target.duration, basis),
    )


def _reached(runs: tuple[Run, ...], amount: timedelta, basis: TimeBasis) -> datetime | None:
    """The instant at which `runs` have counted `amount` in `basis`; None if they stopped short."""
    left = amount
    for begin, end in runs:
        if end is None:
            return basis.add(begin, left)
        ran = basis.elapsed(begin, end)
        if ran >= left:
            return basis.add(begin, left)
        left -= ran
    return None
