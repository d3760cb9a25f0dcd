"""Who holds a ticket: its assignee and group, its support tier (escalation) and its department
(hand-off), and the SLA's escalation actions, which change one of them or its priority."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.message import Message

from helpline.domain import timestamp
from helpline.v1 import common_pb2, ticket_events_pb2
from services.tickets.domain.commands.outcome import Outcome, assigned_event, updated_event
from services.tickets.domain.commands.validation import ensure_mutable
from services.tickets.domain.convert import (
    DEPARTMENT_TO_PROTO,
    TIER_TO_PROTO,
    actor_to_proto,
    priority_from_proto,
    tier_from_proto,
)
from services.tickets.domain.errors import InvalidCommand
from services.tickets.domain.model import Actor, Department, Priority, Ticket, Tier

_TIER_RANK = {Tier.L1: 1, Tier.L2: 2, Tier.L3: 3}
_PRIORITY_RANK = {Priority.LOW: 1, Priority.NORMAL: 2, Priority.HIGH: 3, Priority.URGENT: 4}


def assign(
    ticket: Ticket,
    actor: Actor,
    now: datetime,
    *,
    assignee_id: str | None = None,
    group_id: str | None = None,
) -> Outcome:
    """Set the assignee and/or the group (None keeps one, "" clears it). The status is untouched:
    a `new` ticket stays new until an agent replies or moves it."""
    ensure_mutable(ticket)
    if assignee_id is None and group_id is None:
        raise InvalidCommand("nothing_to_assign", "name an assignee, a group, or both")
    changes: dict[str, Any] = {}
    if assignee_id is not None and assignee_id != ticket.assignee_id:
        changes["assignee_id"] = assignee_id
    if group_id is not None and group_id != ticket.group_id:
        changes["group_id"] = group_id
    if not changes:
        return Outcome(ticket)
    after = ticket.evolve(now, **changes)
    return Outcome(after, (assigned_event(ticket, after, actor, now),))


def escalate(
    ticket: Ticket,
    to_tier: Tier,
    actor: Actor,
    now: datetime,
    *,
    group_id: str | None = None,
    reason: str = "",
) -> Outcome:
    """Move the ticket up a support tier (L1 -> L2 -> L3), optionally to a group of that tier."""
    ensure_mutable(ticket)
    if ticket.tier is Tier.L3:
        raise InvalidCommand(
            "already_top_tier",
            f"ticket {ticket.ticket_id} is at L3; there is no tier above it",
            from_tier=ticket.tier.value,
            to_tier=to_tier.value,
        )
    if _TIER_RANK[to_tier] <= _TIER_RANK[ticket.tier]:
        raise InvalidCommand(
            "escalation_must_raise_tier",
            f"ticket {ticket.ticket_id} is at {ticket.tier.value}; escalation goes to a higher tier",
            from_tier=ticket.tier.value,
            to_tier=to_tier.value,
        )
    return _escalated(ticket, to_tier, actor, now, group_id, reason)


def hand_off(
    ticket: Ticket,
    to_department: Department,
    actor: Actor,
    now: datetime,
    *,
    group_id: str | None = None,
    reason: str = "",
) -> Outcome:
    """Move the ticket to another department, keeping its context (requester, comments, contacts,
    tags, fields, tier, status). Its group and assignee belong to the department it leaves, so
    the group becomes `group_id` (or none, for the new department to triage) and the assignee is
    cleared; a cleared assignee is also told by TicketAssigned, so assignment consumers need not
    read hand-offs."""
    ensure_mutable(ticket)
    if to_department is ticket.department:
        raise InvalidCommand(
            "hand_off_same_department",
            f"ticket {ticket.ticket_id} is already in {to_department.value}",
            department=to_department.value,
        )
    after = ticket.evolve(now, department=to_department, group_id=group_id or "", assignee_id="")
    handed = ticket_events_pb2.TicketHandedOff(
        tenant_id=after.tenant_id,
        ticket_id=after.ticket_id,
        version=after.version,
        from_department=DEPARTMENT_TO_PROTO[ticket.department],
        to_department=DEPARTMENT_TO_PROTO[to_department],
        from_group_id=ticket.group_id,
        to_group_id=after.group_id,
        reason=reason,
        handed_off_by=actor_to_proto(actor),
        handed_off_at=timestamp(now),
    )
    events: list[Message] = [handed]
    if ticket.assignee_id:
        events.append(assigned_event(ticket, after, actor, now))
    return Outcome(after, tuple(events))


def apply_escalation_action(
    ticket: Ticket,
    action: common_pb2.EscalationAction,
    actor: Actor,
    now: datetime,
    *,
    reason: str = "",
) -> Outcome:
    """Apply one SLA escalation action. Raising priority or tier never lowers either: an action
    that would is a no-op, as is one already in effect. `notify` and `move_to_queue` are not
    ticket changes (a notifier and the router act on them), so they are no-ops here too."""
    ensure_mutable(ticket)
    kind = action.WhichOneof("kind")
    if kind == "raise_priority":
        priority = priority_from_proto(action.raise_priority)
        if _PRIORITY_RANK[priority] <= _PRIORITY_RANK[ticket.priority]:
            return Outcome(ticket)
        after = ticket.evolve(now, priority=priority)
        return Outcome(after, (updated_event(after, ["priority"], actor),))
    if kind == "move_to_group":
        if not action.move_to_group or action.move_to_group == ticket.group_id:
            return Outcome(ticket)
        after = ticket.evolve(now, group_id=action.move_to_group)
        return Outcome(after, (assigned_event(ticket, after, actor, now),))
    if kind == "move_to_tier":
        tier = tier_from_proto(action.move_to_tier)
        if _TIER_RANK[tier] <= _TIER_RANK[ticket.tier]:
            return Outcome(ticket)
        return _escalated(ticket, tier, actor, now, None, reason)
    return Outcome(ticket)


def _escalated(
    ticket: Ticket, to_tier: Tier, actor: Actor, now: datetime, group_id: str | None, reason: str
) -> Outcome:
    changes: dict[str, Any] = {"tier": to_tier}
    if group_id is not None:
        changes["group_id"] = group_id
    after = ticket.evolve(now, **changes)
    escalated = ticket_events_pb2.TicketEscalated(
        tenant_id=after.tenant_id,
        ticket_id=after.ticket_id,
        version=after.version,
        from_tier=TIER_TO_PROTO[ticket.tier],
        to_tier=TIER_TO_PROTO[to_tier],
        group_id=after.group_id,
        reason=reason,
        escalated_by=actor_to_proto(actor),
        escalated_at=timestamp(now),
    )
    return Outcome(after, (escalated,))
