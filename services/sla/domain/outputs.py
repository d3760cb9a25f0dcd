"""What the metric engine reports: one domain event per change of a metric instance with a target
(the SLA events of sla_events.proto, before conversion). Each carries the instance as it is after
the change, so a converter finds its metric, id, policy, target and calendar there; the ticket id
and version come from the transition's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.sla.domain.instance import Instance
from services.sla.domain.model import Action, Status
from services.sla.domain.policy import Target


@dataclass(frozen=True)
class Applied:
    """An instance got a target: at its start, or when a policy first sets one for it (then still
    counted from `started_at`)."""

    instance: Instance
    policy_id: str
    target: Target
    started_at: datetime
    warn_at: datetime | None
    deadline: datetime | None


@dataclass(frozen=True)
class Paused:
    instance: Instance
    # The ticket status that holds it.
    status: Status
    # Target time left in its basis; negative when the deadline passed before the pause.
    remaining: timedelta
    at: datetime


@dataclass(frozen=True)
class Resumed:
    instance: Instance
    status: Status
    warn_at: datetime | None
    deadline: datetime | None
    at: datetime


@dataclass(frozen=True)
class Fulfilled:
    instance: Instance
    # None when fulfilled while paused short of its deadline.
    deadline: datetime | None
    at: datetime
    # Running time in its basis, pauses excluded.
    elapsed: timedelta
    # Fulfilled at or after the deadline: compliance counts it as breached.
    breached: bool


@dataclass(frozen=True)
class Retargeted:
    """An open instance that had a target got another, or lost it (`target` None) because the
    policy now applying sets none for its metric."""

    instance: Instance
    policy_id: str | None
    previous_policy_id: str
    target: Target | None
    previous_deadline: datetime | None
    warn_at: datetime | None
    deadline: datetime | None
    changed_fields: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class Warned:
    instance: Instance
    deadline: datetime | None
    # When the timer fired, at or after `instance.warn_at`.
    at: datetime
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class Breached:
    instance: Instance
    deadline: datetime
    at: datetime
    actions: tuple[Action, ...]


Output = Applied | Paused | Resumed | Fulfilled | Retargeted | Warned | Breached
