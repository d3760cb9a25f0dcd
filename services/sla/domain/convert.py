"""Between the contracts and the SLA domain: ticket events in as engine facts, engine outputs out as
SLA events. Enums map by name (SLA_METRIC_FIRST_REPLY is Metric.FIRST_REPLY) through
`helpline.domain.enum_map`, the ticket's words (status, author, priority...) through the shared
vocabulary's tables; a reader refuses UNSPECIFIED and unknown values with an SlaError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from helpline.domain import EnumReader, duration, enum_map, from_timestamp, timestamp
from helpline.v1 import common_pb2, sla_events_pb2, ticket_events_pb2
from helpline.vocabulary import (
    AUTHOR_TYPE_TO_PROTO,
    CONTACT_CHANNEL_TO_PROTO,
    DEPARTMENT_TO_PROTO,
    PRIORITY_TO_PROTO,
    TICKET_STATUS_TO_PROTO,
    TICKET_TYPE_TO_PROTO,
    TIER_TO_PROTO,
)
from services.sla.domain.engine import Commented, Created, Fact, Reopened, StatusChanged, TicketSla, Updated
from services.sla.domain.model import (
    Action,
    Basis,
    Metric,
    MoveToGroup,
    MoveToTier,
    Notify,
    RaisePriority,
    SlaError,
    Status,
    TicketFacts,
    Trigger,
)
from services.sla.domain.outputs import (
    Applied,
    Breached,
    Fulfilled,
    Output,
    Paused,
    Resumed,
    Retargeted,
    Warned,
)
from services.sla.domain.policy import Target

METRIC_TO_PROTO = enum_map(Metric, common_pb2.SlaMetric, "SLA_METRIC_")
TRIGGER_TO_PROTO = enum_map(Trigger, sla_events_pb2.SlaTrigger, "SLA_TRIGGER_")
BASIS_TO_PROTO = enum_map(Basis, common_pb2.SlaTimeBasis, "SLA_TIME_BASIS_")

metric_from_proto = EnumReader(METRIC_TO_PROTO, "SlaMetric", SlaError)
basis_from_proto = EnumReader(BASIS_TO_PROTO, "SlaTimeBasis", SlaError)
priority_from_proto = EnumReader(PRIORITY_TO_PROTO, "Priority", SlaError)
department_from_proto = EnumReader(DEPARTMENT_TO_PROTO, "Department", SlaError)
tier_from_proto = EnumReader(TIER_TO_PROTO, "Tier", SlaError)
status_from_proto = EnumReader(TICKET_STATUS_TO_PROTO, "TicketStatus", SlaError)
author_from_proto = EnumReader(AUTHOR_TYPE_TO_PROTO, "AuthorType", SlaError)
# Policies match a ticket's type and channel as words ("incident", "web_form"); a ticket opened
# through the API has no channel (CHANNEL_UNSPECIFIED), which no condition names.
ticket_type_from_proto = EnumReader(TICKET_TYPE_TO_PROTO, "TicketType", SlaError)
channel_from_proto = EnumReader(CONTACT_CHANNEL_TO_PROTO, "Channel", SlaError)

# The refusals of the readers above: an event carrying one is a poison message, not a bug.
ENUM_RULES = frozenset({"unspecified_enum", "unknown_enum"})

_TYPE_WORDS: dict[int, str] = {value: str(member) for member, value in TICKET_TYPE_TO_PROTO.items()}
_CHANNEL_WORDS: dict[int, str] = {value: str(member) for member, value in CONTACT_CHANNEL_TO_PROTO.items()}
_CHANNEL_VALUES = {str(member): value for member, value in CONTACT_CHANNEL_TO_PROTO.items()}

# The ticket fields policies match on, as TicketUpdated names them.
MATCHED_FIELDS = frozenset({"priority", "type", "channel", "department", "tags"})


def type_word(value: int) -> str:
    """ "incident" for TICKET_TYPE_INCIDENT; "" for UNSPECIFIED or a value this build does not know."""
    return _TYPE_WORDS.get(value, "")


def channel_word(value: int) -> str:
    """ "web_form" for CHANNEL_WEB_FORM; "" for UNSPECIFIED or a value this build does not know."""
    return _CHANNEL_WORDS.get(value, "")


def channel_proto(word: str) -> common_pb2.Channel.ValueType:
    """CHANNEL_WEB_FORM for "web_form"; CHANNEL_UNSPECIFIED for "" (a channel this build does not know)."""
    return _CHANNEL_VALUES.get(word, common_pb2.CHANNEL_UNSPECIFIED)


def metric_proto(metric: Metric) -> common_pb2.SlaMetric.ValueType:
    return METRIC_TO_PROTO[metric]


def status_proto(status: Status) -> common_pb2.TicketStatus.ValueType:
    return TICKET_STATUS_TO_PROTO[status]


# -- ticket events in ------------------------------------------------------------------------------


def facts_of(ticket: ticket_events_pb2.TicketSnapshot) -> TicketFacts:
    priority = priority_from_proto(ticket.priority)
    department = department_from_proto(ticket.department) if ticket.department else None
    return TicketFacts(
        priority=priority,
        type=type_word(ticket.type),
        channel=channel_word(ticket.channel),
        department=department,
        tags=frozenset(tag.lower() for tag in ticket.tags),
    )


def _created(event: ticket_events_pb2.TicketCreated, _sla: TicketSla | None) -> Fact:
    ticket = event.ticket
    status = status_from_proto(ticket.status)
    return Created(
        ticket.ticket_id, ticket.version, facts_of(ticket), status, from_timestamp(ticket.created_at)
    )


def _updated(event: ticket_events_pb2.TicketUpdated, _sla: TicketSla | None) -> Fact | None:
    changed = tuple(field for field in event.changed_fields if field in MATCHED_FIELDS)
    if not changed:
        return None
    ticket = event.ticket
    return Updated(ticket.version, facts_of(ticket), changed, from_timestamp(ticket.updated_at))


def _status_changed(event: ticket_events_pb2.TicketStatusChanged, _sla: TicketSla | None) -> Fact:
    status = status_from_proto(event.to_status)
    return StatusChanged(event.version, status, from_timestamp(event.changed_at))


def _commented(event: ticket_events_pb2.TicketCommented, _sla: TicketSla | None) -> Fact:
    author = author_from_proto(event.author_type)
    return Commented(event.version, event.public, author, from_timestamp(event.commented_at))


def _reopened(event: ticket_events_pb2.TicketReopened, _sla: TicketSla | None) -> Fact:
    return Reopened(event.version, from_timestamp(event.reopened_at))


def _handed_off(event: ticket_events_pb2.TicketHandedOff, sla: TicketSla | None) -> Fact | None:
    # A hand-off changes the department without a TicketUpdated: the policy may change with it.
    if sla is None:
        return None
    department = department_from_proto(event.to_department)
    facts = TicketFacts(sla.facts.priority, sla.facts.type, sla.facts.channel, department, sla.facts.tags)
    return Updated(event.version, facts, ("department",), from_timestamp(event.handed_off_at))


TICKET_FACTS: dict[type[Message], Callable[[Any, TicketSla | None], Fact | None]] = {
    ticket_events_pb2.TicketCreated: _created,
    ticket_events_pb2.TicketUpdated: _updated,
    ticket_events_pb2.TicketStatusChanged: _status_changed,
    ticket_events_pb2.TicketCommented: _commented,
    ticket_events_pb2.TicketReopened: _reopened,
    ticket_events_pb2.TicketHandedOff: _handed_off,
}


def ticket_id_of(event: Any) -> str:
    """The ticket a ticket event is about: in its snapshot, or a field of its own."""
    if isinstance(event, ticket_events_pb2.TicketCreated | ticket_events_pb2.TicketUpdated):
        return str(event.ticket.ticket_id)
    return str(event.ticket_id)


# -- SLA events out --------------------------------------------------------------------------------


def action_proto(action: Action) -> common_pb2.EscalationAction:
    if isinstance(action, RaisePriority):
        return common_pb2.EscalationAction(raise_priority=PRIORITY_TO_PROTO[action.priority])
    if isinstance(action, MoveToGroup):
        return common_pb2.EscalationAction(move_to_group=action.group_id)
    if isinstance(action, MoveToTier):
        return common_pb2.EscalationAction(move_to_tier=TIER_TO_PROTO[action.tier])
    notify = common_pb2.EscalationAction.Notify(targets=list(action.targets), template=action.template)
    return common_pb2.EscalationAction(notify=notify)


def action_from_proto(action: common_pb2.EscalationAction) -> Action:
    kind = action.WhichOneof("kind")
    if kind == "raise_priority":
        return RaisePriority(priority_from_proto(action.raise_priority))
    if kind == "move_to_group":
        return MoveToGroup(action.move_to_group)
    if kind == "move_to_tier":
        return MoveToTier(tier_from_proto(action.move_to_tier))
    if kind == "notify":
        return Notify(tuple(action.notify.targets), action.notify.template)
    raise SlaError("unknown_action", f"escalation action {kind or 'unset'} is not one tickets can apply")


def _target_fields(target: Target) -> dict[str, Any]:
    return {
        "target": duration(target.duration),
        "time_basis": BASIS_TO_PROTO[target.basis],
    }


def _when(message: Message, **moments: Any) -> None:
    for name, moment in moments.items():
        if moment is not None:
            getattr(message, name).CopyFrom(timestamp(moment))


def output_event(tenant_id: str, sla: TicketSla, output: Output) -> Message:
    """The SLA event of one engine output, for the ticket in state `sla`."""
    instance = output.instance
    common: dict[str, Any] = {
        "tenant_id": tenant_id,
        "ticket_id": sla.ticket_id,
        "metric": metric_proto(instance.metric),
        "instance_id": instance.instance_id,
    }
    policy_id = instance.terms.policy_id if instance.terms else ""
    message: Message
    if isinstance(output, Applied):
        message = sla_events_pb2.SlaApplied(
            **common,
            policy_id=output.policy_id,
            calendar_id=instance.terms.calendar_id if instance.terms else "",
            ticket_version=sla.version,
            **_target_fields(output.target),
        )
        _when(message, started_at=output.started_at, warn_at=output.warn_at, deadline=output.deadline)
    elif isinstance(output, Paused):
        message = sla_events_pb2.SlaPaused(
            **common,
            policy_id=policy_id,
            status=status_proto(output.status),
            remaining=duration(output.remaining),
        )
        _when(message, paused_at=output.at)
    elif isinstance(output, Resumed):
        message = sla_events_pb2.SlaResumed(**common, policy_id=policy_id, status=status_proto(output.status))
        _when(message, warn_at=output.warn_at, deadline=output.deadline, resumed_at=output.at)
    elif isinstance(output, Fulfilled):
        message = sla_events_pb2.SlaFulfilled(
            **common, policy_id=policy_id, elapsed=duration(output.elapsed), breached=output.breached
        )
        _when(message, deadline=output.deadline, fulfilled_at=output.at)
    elif isinstance(output, Retargeted):
        message = sla_events_pb2.SlaRetargeted(
            **common,
            policy_id=output.policy_id or "",
            previous_policy_id=output.previous_policy_id,
            changed_fields=list(output.changed_fields),
            ticket_version=sla.version,
        )
        if output.target is not None:
            message.target.CopyFrom(duration(output.target.duration))
        _when(
            message,
            previous_deadline=output.previous_deadline,
            warn_at=output.warn_at,
            deadline=output.deadline,
            retargeted_at=output.at,
        )
    elif isinstance(output, Warned):
        message = sla_events_pb2.SlaWarning(
            **common, policy_id=policy_id, actions=[action_proto(a) for a in output.actions]
        )
        _when(message, deadline=output.deadline, warned_at=output.at)
    else:
        assert isinstance(output, Breached)
        message = sla_events_pb2.SlaBreached(
            **common, policy_id=policy_id, actions=[action_proto(a) for a in output.actions]
        )
        _when(message, deadline=output.deadline, breached_at=output.at)
    return message


def notification_events(
    tenant_id: str, sla: TicketSla, output: Output, alert_event_id: str
) -> list[sla_events_pb2.SlaNotificationRequested]:
    """One SlaNotificationRequested per notify action of a warning or breach (none for any other
    output), each naming the SlaWarning or SlaBreached event `alert_event_id` it goes with."""
    if not isinstance(output, Warned | Breached):
        return []
    instance = output.instance
    terms = instance.terms
    trigger = Trigger.BREACH if isinstance(output, Breached) else Trigger.WARNING
    found = []
    for action in output.actions:
        if not isinstance(action, Notify):
            continue
        message = sla_events_pb2.SlaNotificationRequested(
            tenant_id=tenant_id,
            ticket_id=sla.ticket_id,
            metric=metric_proto(instance.metric),
            trigger=TRIGGER_TO_PROTO[trigger],
            policy_id=terms.policy_id if terms else "",
            instance_id=instance.instance_id,
            calendar_id=terms.calendar_id if terms else "",
            recipients=list(action.targets),
            template=action.template,
            alert_event_id=alert_event_id,
            **(_target_fields(terms.target) if terms else {}),
        )
        _when(message, deadline=output.deadline, fired_at=output.at)
        found.append(message)
    return found
