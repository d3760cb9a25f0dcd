"""SLA policies and calendars in the contract's terms (SlaPolicy, Calendar), and back.

The contract's weekdays count from WEEKDAY_MONDAY = 1 (0 is unspecified), the domain's from
Monday = 0 like `date.weekday()`. Reading a message refuses what the domain cannot hold (an
unspecified or unknown enum value) with the domain's error, as the REST API's validation would.
"""

from __future__ import annotations

from helpline.business_hours import Calendar, Holiday, OpenInterval
from helpline.domain import EnumReader, duration, enum_map
from helpline.v1 import sla_service_pb2 as pb
from helpline.vocabulary import (
    CONTACT_CHANNEL_TO_PROTO,
    DEPARTMENT_TO_PROTO,
    PRIORITY_TO_PROTO,
    TICKET_TYPE_TO_PROTO,
    Channel,
    TicketType,
)
from services.sla.domain.convert import (
    BASIS_TO_PROTO,
    action_from_proto,
    action_proto,
    basis_from_proto,
    channel_from_proto,
    department_from_proto,
    metric_from_proto,
    metric_proto,
    priority_from_proto,
    ticket_type_from_proto,
)
from services.sla.domain.model import Department, Priority, SlaError, Trigger
from services.sla.domain.policy import DEFAULT_WARN_PERCENT, Conditions, Escalation, Policy, Target

TRIGGER_TO_PROTO = enum_map(Trigger, pb.SlaEscalationTrigger, "SLA_ESCALATION_TRIGGER_")
trigger_from_proto = EnumReader(TRIGGER_TO_PROTO, "SlaEscalationTrigger", SlaError)


# -- policies --------------------------------------------------------------------------------------


def conditions_proto(conditions: Conditions) -> pb.SlaConditions:
    return pb.SlaConditions(
        priorities=[PRIORITY_TO_PROTO[p] for p in Priority if p in conditions.priorities],
        types=[TICKET_TYPE_TO_PROTO[TicketType(t)] for t in sorted(conditions.types)],
        channels=[CONTACT_CHANNEL_TO_PROTO[Channel(c)] for c in sorted(conditions.channels)],
        departments=[DEPARTMENT_TO_PROTO[d] for d in Department if d in conditions.departments],
        tags=sorted(conditions.tags),
    )


def conditions_from_proto(message: pb.SlaConditions) -> Conditions:
    return Conditions(
        priorities=frozenset(priority_from_proto(p) for p in message.priorities),
        # UNSPECIFIED or unknown is refused, since a condition on it would match nothing.
        types=frozenset(str(ticket_type_from_proto(t)) for t in message.types),
        channels=frozenset(str(channel_from_proto(c)) for c in message.channels),
        departments=frozenset(department_from_proto(d) for d in message.departments),
        tags=frozenset(message.tags),
    )


def target_proto(target: Target) -> pb.SlaTarget:
    return pb.SlaTarget(
        metric=metric_proto(target.metric),
        priority=PRIORITY_TO_PROTO[target.priority],
        target=duration(target.duration),
        time_basis=BASIS_TO_PROTO[target.basis],
    )


def target_from_proto(message: pb.SlaTarget) -> Target:
    return Target(
        metric_from_proto(message.metric),
        priority_from_proto(message.priority),
        message.target.ToTimedelta(),
        basis_from_proto(message.time_basis),
    )


def escalation_proto(escalation: Escalation) -> pb.SlaEscalation:
    return pb.SlaEscalation(
        metric=metric_proto(escalation.metric),
        trigger=TRIGGER_TO_PROTO[escalation.trigger],
        actions=[action_proto(action) for action in escalation.actions],
    )


def escalation_from_proto(message: pb.SlaEscalation) -> Escalation:
    return Escalation(
        metric_from_proto(message.metric),
        trigger_from_proto(message.trigger),
        tuple(action_from_proto(action) for action in message.actions),
    )


def policy_proto(policy: Policy) -> pb.SlaPolicy:
    return pb.SlaPolicy(
        policy_id=policy.policy_id,
        name=policy.name,
        position=policy.position,
        conditions=conditions_proto(policy.conditions),
        targets=[target_proto(target) for target in policy.targets],
        calendar_id=policy.calendar_id,
        warn_percent=policy.warn_percent,
        escalations=[escalation_proto(escalation) for escalation in policy.escalations],
    )


def policy_from_proto(message: pb.SlaPolicy) -> Policy:
    return Policy(
        policy_id=message.policy_id,
        name=message.name,
        position=message.position,
        conditions=conditions_from_proto(message.conditions),
        targets=tuple(target_from_proto(target) for target in message.targets),
        calendar_id=message.calendar_id,
        # The contract's zero is "not set": the default share.
        warn_percent=message.warn_percent or DEFAULT_WARN_PERCENT,
        escalations=tuple(escalation_from_proto(escalation) for escalation in message.escalations),
    )


# -- calendars -------------------------------------------------------------------------------------


def calendar_proto(calendar: Calendar) -> pb.Calendar:
    return pb.Calendar(
        calendar_id=calendar.calendar_id,
        name=calendar.name,
        time_zone=calendar.time_zone,
        open_intervals=[
            pb.OpenInterval(
                weekday=pb.Weekday.ValueType(interval.weekday + 1),
                opens=interval.opens_text,
                closes=interval.closes_text,
            )
            for interval in calendar.intervals
        ],
        holiday_countries=list(calendar.holiday_countries),
        holidays=[
            pb.Holiday(date=holiday.day.isoformat(), name=holiday.name) for holiday in calendar.holidays
        ],
    )


def calendar_from_proto(message: pb.Calendar) -> Calendar:
    return Calendar(
        calendar_id=message.calendar_id,
        name=message.name,
        time_zone=message.time_zone,
        # The domain refuses a weekday outside 0-6, which is what UNSPECIFIED and unknown values become.
        intervals=tuple(
            OpenInterval.parse(interval.weekday - 1, interval.opens, interval.closes)
            for interval in message.open_intervals
        ),
        holiday_countries=tuple(message.holiday_countries),
        holidays=tuple(Holiday.parse(holiday.date, holiday.name) for holiday in message.holidays),
    )
