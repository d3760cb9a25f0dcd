"""Between the contracts and the SLA domain: ticket events in as engine facts, engine outputs out as
SLA events. The domain's enums spell the proto names in lower case (SLA_METRIC_FIRST_REPLY is
Metric.FIRST_REPLY), so the mapping goes by name."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

from google.protobuf.message import Message

from helpline.domain import duration, from_timestamp, timestamp
from helpline.v1 import common_pb2, sla_events_pb2, ticket_events_pb2
from helpline.vocabulary import Department, Priority, Tier
from services.sla.domain.engine import Commented, Created, Fact, Reopened, StatusChanged, TicketSla, Updated
from services.sla.domain.model import (
    Action,
    Author,
    Metric,
    MoveToGroup,
    MoveToTier,
    Notify,
    RaisePriority,
    SlaError,
    Status,
    TicketFacts,
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

E = TypeVar("E", bound=StrEnum)
# A generated proto enum (common_pb2.SlaMetric...): its stubs give each one a class of its own, and
# its values a NewType each, so these helpers take and give them untyped.
ProtoEnum = Any

# The ticket fields policies match on, as TicketUpdated names them.
MATCHED_FIELDS = frozenset({"priority", "type", "channel", "department", "tags"})


def to_proto(wrapper: ProtoEnum, prefix: str, member: StrEnum) -> Any:
    return wrapper.Value(f"{prefix}{member.value.upper()}")


def from_proto(wrapper: ProtoEnum, prefix: str, value: int, kind: type[E]) -> E:
    """The domain member of a proto value; UNSPECIFIED or an unknown value is refused."""
    try:
        name = wrapper.Name(value)
        if value == 0:
            raise ValueError(name)
        return kind(name.removeprefix(prefix).lower())
    except ValueError as exc:
        raise SlaError(
            "unknown_enum", f"{prefix.rstrip('_')} value {value} is not one the SLA service knows"
        ) from exc


def word(wrapper: ProtoEnum, prefix: str, value: int) -> str:
    """ "incident" for TICKET_TYPE_INCIDENT; "" for UNSPECIFIED or a value this build does not know."""
    if value == 0:
        return ""
    try:
        return str(wrapper.Name(value)).removeprefix(prefix).lower()
    except ValueError:
        return ""


def metric_proto(metric: Metric) -> Any:
    return to_proto(common_pb2.SlaMetric, "SLA_METRIC_", metric)


def status_proto(status: Status) -> Any:
    return to_proto(common_pb2.TicketStatus, "TICKET_STATUS_", status)


# -- ticket events in ------------------------------------------------------------------------------


def facts_of(ticket: ticket_events_pb2.TicketSnapshot) -> TicketFacts:
    priority = from_proto(common_pb2.Priority, "PRIORITY_", ticket.priority, Priority)
    department = (
        from_proto(common_pb2.Department, "DEPARTMENT_", ticket.department, Department)
        if ticket.department
        else None
    )
    return TicketFacts(
        priority=priority,
        type=word(common_pb2.TicketType, "TICKET_TYPE_", ticket.type),
        channel=word(common_pb2.Channel, "CHANNEL_", ticket.channel),
        department=department,
        tags=frozenset(tag.lower() for tag in ticket.tags),
    )


def _created(event: ticket_events_pb2.TicketCreated, _sla: TicketSla | None) -> Fact:
    ticket = event.ticket
    status = from_proto(common_pb2.TicketStatus, "TICKET_STATUS_", ticket.status, Status)
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
    status = from_proto(common_pb2.TicketStatus, "TICKET_STATUS_", event.to_status, Status)
    return StatusChanged(event.version, status, from_timestamp(event.changed_at))


def _commented(event: ticket_events_pb2.TicketCommented, _sla: TicketSla | None) -> Fact:
    author = from_proto(common_pb2.AuthorType, "AUTHOR_TYPE_", event.author_type, Author)
    return Commented(event.version, event.public, author, from_timestamp(event.commented_at))


def _reopened(event: ticket_events_pb2.TicketReopened, _sla: TicketSla | None) -> Fact:
    return Reopened(event.version, from_timestamp(event.reopened_at))


def _handed_off(event: ticket_events_pb2.TicketHandedOff, sla: TicketSla | None) -> Fact | None:
    # A hand-off changes the department without a TicketUpdated: the policy may change with it.
    if sla is None:
        return None
    department = from_proto(common_pb2.Department, "DEPARTMENT_", event.to_department, Department)
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
        return common_pb2.EscalationAction(
            raise_priority=to_proto(common_pb2.Priority, "PRIORITY_", action.priority)
        )
    if isinstance(action, MoveToGroup):
        return common_pb2.EscalationAction(move_to_group=action.group_id)
    if isinstance(action, MoveToTier):
        return common_pb2.EscalationAction(move_to_tier=common_pb2.Tier.Value(f"TIER_{action.tier.value}"))
    notify = common_pb2.EscalationAction.Notify(targets=list(action.targets), template=action.template)
    return common_pb2.EscalationAction(notify=notify)


def action_from_proto(action: common_pb2.EscalationAction) -> Action:
    kind = action.WhichOneof("kind")
    if kind == "raise_priority":
        return RaisePriority(from_proto(common_pb2.Priority, "PRIORITY_", action.raise_priority, Priority))
    if kind == "move_to_group":
        return MoveToGroup(action.move_to_group)
    if kind == "move_to_tier":
        return MoveToTier(Tier(common_pb2.Tier.Name(action.move_to_tier).removeprefix("TIER_")))
    if kind == "notify":
        return Notify(tuple(action.notify.targets), action.notify.template)
    raise SlaError("unknown_action", f"escalation action {kind or 'unset'} is not one tickets can apply")


def _target_fields(target: Target) -> dict[str, Any]:
    return {
        "target": duration(target.duration),
        "time_basis": to_proto(common_pb2.SlaTimeBasis, "SLA_TIME_BASIS_", target.basis),
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
