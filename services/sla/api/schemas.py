"""The SLA admin API's request and response bodies (and so its OpenAPI schema): policies and
calendars shaped as the contract's SlaPolicy and Calendar (snake_case, enums as DOMAIN.md's words,
durations in seconds as in the router's admin API), and a ticket's metrics as GetTicketSlaStatus
reports them.

Numbers are strict: `"5"` or `5.5` for an integer are refused rather than coerced. The schema
states what it can (formats, ranges, the words of each enum); the domain checks the rest
(overlapping intervals, time zones, countries, real dates, one target per metric and priority).
A domain refusal names the body field at fault in `location`, as validation errors do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Strict, Tag, WithJsonSchema

from helpline.calendar_schema import CalendarOut, at_field
from helpline.domain import DomainError
from helpline.vocabulary import CONTACT_CHANNEL_TO_PROTO, TICKET_TYPE_TO_PROTO
from services.sla.domain.engine import MetricState, MetricStatus, TicketSla
from services.sla.domain.model import (
    Action,
    Basis,
    Department,
    Metric,
    MoveToGroup,
    MoveToTier,
    Notify,
    Priority,
    RaisePriority,
    Tier,
    Trigger,
)
from services.sla.domain.policy import DEFAULT_WARN_PERCENT, Conditions, Escalation, Policy, Target

# No ':' in policy and calendar ids, like the router's: ids become parts of Redis keys.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
# The tickets API's ids (ULIDs, or a caller's own ids).
TICKET_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
# A year of business time is far past any target a contact center sets; past it, a sparse calendar
# would make every deadline a walk of centuries.
MAX_TARGET_SECONDS = 366 * 24 * 3600
# SlaPolicy.position is an int32.
MIN_POSITION, MAX_POSITION = -(2**31), 2**31 - 1


# The words the tickets service writes on tickets, from the shared vocabulary (channels: those of
# contacts; a ticket opened through the API has none a policy can name).
TICKET_TYPES = tuple(str(kind) for kind in TICKET_TYPE_TO_PROTO)
CHANNELS = tuple(str(channel) for channel in CONTACT_CHANNEL_TO_PROTO)


def _one_of(words: tuple[str, ...], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in words:
            raise ValueError(f"{value!r} is not a {what}: one of {', '.join(words)}")
        return value

    return check


Id = Annotated[str, Field(pattern=ID_PATTERN)]
Text = Annotated[str, Field(max_length=200)]
TicketTag = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_:-]{0,49}$", description="Compared in lower case.")
]
TicketType = Annotated[
    str,
    AfterValidator(_one_of(TICKET_TYPES, "ticket type")),
    WithJsonSchema({"type": "string", "enum": list(TICKET_TYPES)}),
]
Channel = Annotated[
    str,
    AfterValidator(_one_of(CHANNELS, "channel")),
    WithJsonSchema({"type": "string", "enum": list(CHANNELS)}),
]
TargetSeconds = Annotated[
    float,
    Strict(),
    Field(gt=0, le=MAX_TARGET_SECONDS, allow_inf_nan=False, description="Seconds, in the time basis."),
]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- policies ------------------------------------------------------------------------------------


class ConditionsIn(In):
    """Which tickets the policy covers; an empty list matches every value."""

    priorities: Annotated[list[Priority], Field(max_length=len(Priority))] = []
    types: Annotated[list[TicketType], Field(max_length=len(TICKET_TYPES))] = []
    channels: Annotated[list[Channel], Field(max_length=len(CHANNELS))] = []
    departments: Annotated[list[Department], Field(max_length=len(Department))] = []
    tags: Annotated[
        list[TicketTag], Field(max_length=50, description="The ticket must carry every one.")
    ] = []

    def to_conditions(self) -> Conditions:
        return Conditions(
            priorities=frozenset(self.priorities),
            types=frozenset(self.types),
            channels=frozenset(self.channels),
            departments=frozenset(self.departments),
            tags=frozenset(self.tags),
        )

    @classmethod
    def of(cls, conditions: Conditions) -> ConditionsIn:
        return cls(
            priorities=[p for p in Priority if p in conditions.priorities],
            types=sorted(conditions.types),
            channels=sorted(conditions.channels),
            departments=[d for d in Department if d in conditions.departments],
            tags=sorted(conditions.tags),
        )


class TargetIn(In):
    """How long `metric` may run for tickets of `priority`."""

    metric: Metric
    priority: Priority
    target_seconds: TargetSeconds
    time_basis: Basis = Field(
        description="`business`: only the policy's calendar's open hours count; `calendar`: every hour."
    )

    def to_target(self) -> Target:
        return Target(self.metric, self.priority, timedelta(seconds=self.target_seconds), self.time_basis)

    @classmethod
    def of(cls, target: Target) -> TargetIn:
        return cls(
            metric=target.metric,
            priority=target.priority,
            target_seconds=target.duration.total_seconds(),
            time_basis=target.basis,
        )


class RaisePriorityIn(In):
    raise_priority: Priority = Field(description="Raise the ticket to this priority; never lowers it.")

    def to_action(self) -> Action:
        return RaisePriority(self.raise_priority)


class MoveToGroupIn(In):
    move_to_group: Id = Field(description="Move the ticket to this group.")

    def to_action(self) -> Action:
        return MoveToGroup(self.move_to_group)


class MoveToTierIn(In):
    move_to_tier: Tier = Field(description="Move the ticket to this support tier.")

    def to_action(self) -> Action:
        return MoveToTier(self.move_to_tier)


class NotifyBody(In):
    targets: Annotated[
        list[Annotated[str, Field(pattern=r"^[\x21-\x7e]{1,320}$")]],
        Field(
            max_length=50, description='Agent ids, group ids or addresses such as "mailto:lead@example.com".'
        ),
    ] = []
    template: Annotated[
        Text, Field(description="A template the notifier renders; empty for its default.")
    ] = ""


class NotifyIn(In):
    notify: NotifyBody = Field(description="Tell people or systems.")

    def to_action(self) -> Action:
        return Notify(tuple(self.notify.targets), self.notify.template)


def _action_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return next(iter(type(value).model_fields))
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    return None


# The contract's EscalationAction oneof: an object with exactly one of its members.
ActionIn = Annotated[
    Annotated[RaisePriorityIn, Tag("raise_priority")]
    | Annotated[MoveToGroupIn, Tag("move_to_group")]
    | Annotated[MoveToTierIn, Tag("move_to_tier")]
    | Annotated[NotifyIn, Tag("notify")],
    Discriminator(
        _action_kind,
        custom_error_type="invalid_action",
        custom_error_message="an action is an object with exactly one of raise_priority, move_to_group, "
        "move_to_tier and notify",
    ),
]


def action_in(action: Action) -> RaisePriorityIn | MoveToGroupIn | MoveToTierIn | NotifyIn:
    if isinstance(action, RaisePriority):
        return RaisePriorityIn(raise_priority=action.priority)
    if isinstance(action, MoveToGroup):
        return MoveToGroupIn(move_to_group=action.group_id)
    if isinstance(action, MoveToTier):
        return MoveToTierIn(move_to_tier=action.tier)
    return NotifyIn(notify=NotifyBody(targets=list(action.targets), template=action.template))


class EscalationIn(In):
    """What to do when `metric` reaches its warning share (`warning`) or its deadline (`breach`)."""

    metric: Metric
    trigger: Trigger
    actions: Annotated[list[ActionIn], Field(min_length=1, max_length=20)]

    def to_escalation(self) -> Escalation:
        return Escalation(self.metric, self.trigger, tuple(action.to_action() for action in self.actions))

    @classmethod
    def of(cls, escalation: Escalation) -> EscalationIn:
        return cls(
            metric=escalation.metric,
            trigger=escalation.trigger,
            actions=[action_in(action) for action in escalation.actions],
        )


class PolicyIn(In):
    name: Text = ""
    position: Annotated[int, Strict(), Field(ge=MIN_POSITION, le=MAX_POSITION)] = Field(
        0, description="Evaluation order, lowest first (equal positions by id); the first match applies."
    )
    conditions: ConditionsIn = Field(default_factory=ConditionsIn)
    targets: Annotated[list[TargetIn], Field(max_length=len(Metric) * len(Priority))] = Field(
        [], description="At most one per metric and priority."
    )
    calendar_id: Id | None = Field(
        None, description="The calendar business-time targets count; it must exist. Needed by those only."
    )
    warn_percent: Annotated[int, Strict(), Field(ge=1, le=99)] = Field(
        DEFAULT_WARN_PERCENT, description="The share of a target at which the warning fires, in percent."
    )
    escalations: Annotated[list[EscalationIn], Field(max_length=50)] = []

    def to_policy(self, policy_id: str) -> Policy:
        targets = []
        for n, target in enumerate(self.targets):
            with at_field(f"targets.{n}.target_seconds"):
                targets.append(target.to_target())
        with at_field(self._field_of):
            return Policy(
                policy_id=policy_id,
                name=self.name,
                position=self.position,
                conditions=self.conditions.to_conditions(),
                targets=tuple(targets),
                calendar_id=self.calendar_id or "",
                warn_percent=self.warn_percent,
                escalations=tuple(escalation.to_escalation() for escalation in self.escalations),
            )

    def _field_of(self, refusal: DomainError) -> str:
        if refusal.rule == "duplicate_target":
            same = (refusal.detail.get("metric"), refusal.detail.get("priority"))
            repeats = [n for n, t in enumerate(self.targets) if (t.metric.value, t.priority.value) == same]
            return f"targets.{repeats[-1]}" if repeats else "targets"
        return {"invalid_warn_percent": "warn_percent", "missing_calendar": "calendar_id"}.get(
            refusal.rule, ""
        )


class PolicyOut(PolicyIn):
    id: str

    @classmethod
    def of(cls, policy: Policy) -> PolicyOut:
        return cls(
            id=policy.policy_id,
            name=policy.name,
            position=policy.position,
            conditions=ConditionsIn.of(policy.conditions),
            targets=[TargetIn.of(target) for target in policy.targets],
            calendar_id=policy.calendar_id or None,
            warn_percent=policy.warn_percent,
            escalations=[EscalationIn.of(escalation) for escalation in policy.escalations],
        )


class PolicyPage(BaseModel):
    items: list[PolicyOut] = Field(description="In evaluation order.")
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; absent on the last."
    )


# -- calendars -----------------------------------------------------------------------------------


class CalendarPage(BaseModel):
    items: list[CalendarOut] = Field(description="By id.")
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; absent on the last."
    )


# -- a ticket's metrics --------------------------------------------------------------------------


def _seconds(amount: timedelta | None) -> float | None:
    return None if amount is None else amount.total_seconds()


class MetricStatusOut(BaseModel):
    """One metric instance of the ticket, read at the moment of the request."""

    metric: Metric
    instance_id: str
    state: MetricState = Field(description="`breached` once past the deadline, whatever the phase.")
    policy_id: str | None = Field(description="The policy that sets the target; null while none does.")
    target_seconds: float | None
    time_basis: Basis | None
    started_at: datetime
    warn_at: datetime | None = Field(description="Null while paused short of it, or without a target.")
    deadline: datetime | None = Field(description="Null while paused short of it, or without a target.")
    remaining_seconds: float | None = Field(
        description="Target time left in its time basis: counting down while active, frozen while paused "
        "or fulfilled, negative past the deadline."
    )
    fulfilled_at: datetime | None
    breached_at: datetime | None

    @classmethod
    def of(cls, reading: MetricStatus) -> MetricStatusOut:
        instance = reading.instance
        terms = instance.terms
        return cls(
            metric=instance.metric,
            instance_id=instance.instance_id,
            state=reading.state,
            policy_id=terms.policy_id if terms else None,
            target_seconds=_seconds(terms.target.duration) if terms else None,
            time_basis=terms.target.basis if terms else None,
            started_at=instance.started_at,
            warn_at=instance.warn_at,
            deadline=instance.deadline,
            remaining_seconds=_seconds(reading.remaining),
            fulfilled_at=instance.fulfilled_at,
            breached_at=instance.breached_at,
        )


class TicketSlaOut(BaseModel):
    ticket_id: str
    policy_id: str | None = Field(description="The policy the ticket matches now; null when none does.")
    metrics: list[MetricStatusOut] = Field(description="Every metric instance, in the order they started.")

    @classmethod
    def of(cls, sla: TicketSla, readings: Sequence[MetricStatus]) -> TicketSlaOut:
        return cls(
            ticket_id=sla.ticket_id,
            policy_id=sla.policy_id,
            metrics=[MetricStatusOut.of(reading) for reading in readings],
        )
