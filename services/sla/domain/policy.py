"""SLA policies: which tickets a policy covers, its targets per metric and priority, and what it
does on a warning or a breach (DOMAIN.md, SLA).

Policies are ordered by `position` (then id, so equal positions still give one order); the first
whose conditions match a ticket applies. A policy validates itself on construction, so one that
exists is one the engine can run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from services.sla.domain.model import (
    Action,
    Basis,
    Department,
    Metric,
    Priority,
    SlaError,
    TicketFacts,
    Trigger,
)

DEFAULT_WARN_PERCENT = 75


@dataclass(frozen=True)
class Conditions:
    """Which tickets a policy covers. An empty set matches every value; the ticket must carry every
    one of `tags`."""

    priorities: frozenset[Priority] = frozenset()
    types: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    departments: frozenset[Department] = frozenset()
    tags: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # Ticket tags are stored lower-case; a policy typed "VIP" must still match them.
        object.__setattr__(self, "tags", frozenset(tag.strip().lower() for tag in self.tags))

    def matches(self, facts: TicketFacts) -> bool:
        return (
            _admits(self.priorities, facts.priority)
            and _admits(self.types, facts.type)
            and _admits(self.channels, facts.channel)
            and (not self.departments or facts.department in self.departments)
            and self.tags <= facts.tags
        )


def _admits(allowed: frozenset[str], value: str) -> bool:
    return not allowed or value in allowed


@dataclass(frozen=True)
class Target:
    """How long `metric` may run for tickets of `priority`, counted in `basis`."""

    metric: Metric
    priority: Priority
    duration: timedelta
    basis: Basis

    def __post_init__(self) -> None:
        if self.duration <= timedelta(0):
            raise SlaError(
                "negative_target",
                f"{self.metric.value} target for {self.priority.value} is {self.duration}, not positive",
                metric=self.metric.value,
                priority=self.priority.value,
            )


@dataclass(frozen=True)
class Escalation:
    """What to do when `metric` reaches its warning share or its deadline."""

    metric: Metric
    trigger: Trigger
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class Policy:
    policy_id: str
    name: str
    position: int
    conditions: Conditions
    targets: tuple[Target, ...]
    calendar_id: str
    warn_percent: int = DEFAULT_WARN_PERCENT
    escalations: tuple[Escalation, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.policy_id.strip():
            raise SlaError("invalid_id", "a policy needs an id")
        if not 1 <= self.warn_percent <= 99:
            raise SlaError(
                "invalid_warn_percent",
                f"policy {self.policy_id} warns at {self.warn_percent}%; it must be 1 to 99",
                policy_id=self.policy_id,
            )
        seen: set[tuple[Metric, Priority]] = set()
        for target in self.targets:
            key = (target.metric, target.priority)
            if key in seen:
                raise SlaError(
                    "duplicate_target",
                    f"policy {self.policy_id}: two {target.metric.value} targets for {target.priority.value}",
                    policy_id=self.policy_id,
                    metric=target.metric.value,
                    priority=target.priority.value,
                )
            seen.add(key)
            if target.basis is Basis.BUSINESS and not self.calendar_id.strip():
                raise SlaError(
                    "missing_calendar",
                    f"policy {self.policy_id}: {target.metric.value} counts business hours, but no calendar",
                    policy_id=self.policy_id,
                    metric=target.metric.value,
                )

    def target_for(self, metric: Metric, priority: Priority) -> Target | None:
        return next((t for t in self.targets if t.metric is metric and t.priority is priority), None)

    def actions(self, metric: Metric, trigger: Trigger) -> tuple[Action, ...]:
        """Every action the policy names for `metric` on `trigger`, in the order written."""
        return tuple(
            action
            for escalation in self.escalations
            if escalation.metric is metric and escalation.trigger is trigger
            for action in escalation.actions
        )


def select(policies: Iterable[Policy], facts: TicketFacts) -> Policy | None:
    """The policy that applies to a ticket with `facts`: the first, by position, that matches."""
    ordered = sorted(policies, key=lambda policy: (policy.position, policy.policy_id))
    return next((policy for policy in ordered if policy.conditions.matches(facts)), None)
