"""SLA policies and calendars in the contract's terms (SlaPolicy, Calendar), and back.

The contract's weekdays count from WEEKDAY_MONDAY = 1 (0 is unspecified), the domain's from
Monday = 0 like `date.weekday()`. Reading a message refuses what the domain cannot hold (an
unspecified or unknown enum value) with the domain's error, as the REST API's validation would.
"""

from __future__ import annotations

from typing import Any

from helpline.domain import duration
from helpline.v1 import common_pb2
from helpline.v1 import sla_service_pb2 as pb
from services.sla.convert import action_from_proto, action_proto, from_proto, metric_proto, to_proto
from services.sla.domain.calendar import Calendar, Holiday, OpenInterval
from services.sla.domain.model import Basis, Department, Metric, Priority, SlaError, Trigger
from services.sla.domain.policy import DEFAULT_WARN_PERCENT, Conditions, Escalation, Policy, Target

ProtoEnum = Any


def _word_proto(wrapper: ProtoEnum, prefix: str, word: str) -> Any:
    return wrapper.Value(f"{prefix}{word.upper()}")


def _word(wrapper: ProtoEnum, prefix: str, value: int) -> str:
    """The tickets service's word for a contract value ("incident"); UNSPECIFIED or unknown is refused,
    since a condition on it would match nothing."""
    try:
        if value == 0:
            raise ValueError(value)
        return str(wrapper.Name(value)).removeprefix(prefix).lower()
    except ValueError as exc:
        raise SlaError(
            "unknown_enum", f"{prefix.rstrip('_')} value {value} is not one the SLA service knows"
        ) from exc


# -- policies --------------------------------------------------------------------------------------


def conditions_proto(conditions: Conditions) -> pb.SlaConditions:
    return pb.SlaConditions(
        priorities=[
            to_proto(common_pb2.Priority, "PRIORITY_", p) for p in Priority if p in conditions.priorities
        ],
        types=[_word_proto(common_pb2.TicketType, "TICKET_TYPE_", t) for t in sorted(conditions.types)],
        channels=[_word_proto(common_pb2.Channel, "CHANNEL_", c) for c in sorted(conditions.channels)],
        departments=[
            to_proto(common_pb2.Department, "DEPARTMENT_", d)
            for d in Department
            if d in conditions.departments
        ],
        tags=sorted(conditions.tags),
    )


def conditions_from_proto(message: pb.SlaConditions) -> Conditions:
    return Conditions(
        priorities=frozenset(
            from_proto(common_pb2.Priority, "PRIORITY_", p, Priority) for p in message.priorities
        ),
        types=frozenset(_word(common_pb2.TicketType, "TICKET_TYPE_", t) for t in message.types),
        channels=frozenset(_word(common_pb2.Channel, "CHANNEL_", c) for c in message.channels),
        departments=frozenset(
            from_proto(common_pb2.Department, "DEPARTMENT_", d, Department) for d in message.departments
        ),
        tags=frozenset(message.tags),
    )


def target_proto(target: Target) -> pb.SlaTarget:
    return pb.SlaTarget(
        metric=metric_proto(target.metric),
        priority=to_proto(common_pb2.Priority, "PRIORITY_", target.priority),
        target=duration(target.duration),
        time_basis=to_proto(common_pb2.SlaTimeBasis, "SLA_TIME_BASIS_", target.basis),
    )


def target_from_proto(message: pb.SlaTarget) -> Target:
    return Target(
        from_proto(common_pb2.SlaMetric, "SLA_METRIC_", message.metric, Metric),
        from_proto(common_pb2.Priority, "PRIORITY_", message.priority, Priority),
        message.target.ToTimedelta(),
        from_proto(common_pb2.SlaTimeBasis, "SLA_TIME_BASIS_", message.time_basis, Basis),
    )


def escalation_proto(escalation: Escalation) -> pb.SlaEscalation:
    return pb.SlaEscalation(
        metric=metric_proto(escalation.metric),
        trigger=to_proto(pb.SlaEscalationTrigger, "SLA_ESCALATION_TRIGGER_", escalation.trigger),
        actions=[action_proto(action) for action in escalation.actions],
    )


def escalation_from_proto(message: pb.SlaEscalation) -> Escalation:
    return Escalation(
        from_proto(common_pb2.SlaMetric, "SLA_METRIC_", message.metric, Metric),
        from_proto(pb.SlaEscalationTrigger, "SLA_ESCALATION_TRIGGER_", message.trigger, Trigger),
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
