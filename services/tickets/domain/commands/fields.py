"""Changing a ticket's own fields: subject, description, type, priority, requester, tags, custom
fields and group (`update_fields`), and the contacts linked to it (`link_contact`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from google.protobuf.message import Message

from services.tickets.domain.commands.outcome import Outcome, assigned_event, updated_event
from services.tickets.domain.commands.validation import (
    MAX_LINKED_CONTACTS,
    checked_text,
    differs,
    ensure_mutable,
    normalise_custom_fields,
    normalise_subject,
    normalise_tags,
    require_field,
)
from services.tickets.domain.errors import LimitReached
from services.tickets.domain.model import Actor, Priority, Ticket, TicketType

# The update_fields fields in the order changed_fields lists them.
_UPDATABLE = ("subject", "description", "type", "priority", "requester_id", "tags", "custom_fields")


def update_fields(
    ticket: Ticket,
    actor: Actor,
    now: datetime,
    *,
    subject: str | None = None,
    description: str | None = None,
    type: TicketType | None = None,
    priority: Priority | None = None,
    group_id: str | None = None,
    tags: Sequence[str] | None = None,
    custom_fields: Mapping[str, str] | None = None,
    requester_id: str | None = None,
) -> Outcome:
    """Change the fields given (None leaves a field alone); `tags` and `custom_fields` replace the
    whole set. TicketUpdated lists exactly the fields whose value changed. A group change is an
    assignment, so it is told by TicketAssigned (the contract keeps TicketUpdated for fields
    without their own event). Setting every field to its current value changes nothing."""
    ensure_mutable(ticket)
    wanted: dict[str, Any] = {}
    if subject is not None:
        wanted["subject"] = normalise_subject(subject)
    if description is not None:
        wanted["description"] = checked_text(description, "description", required=False)
    if type is not None:
        wanted["type"] = type
    if priority is not None:
        wanted["priority"] = priority
    if requester_id is not None:
        wanted["requester_id"] = requester_id
    if tags is not None:
        wanted["tags"] = normalise_tags(tags)
    if custom_fields is not None:
        wanted["custom_fields"] = normalise_custom_fields(custom_fields)
    changes = {
        name: wanted[name]
        for name in _UPDATABLE
        if name in wanted and differs(getattr(ticket, name), wanted[name])
    }
    group_changed = group_id is not None and group_id != ticket.group_id
    if group_changed:
        changes["group_id"] = group_id
    if not changes:
        return Outcome(ticket)
    after = ticket.evolve(now, **changes)
    events: list[Message] = []
    fields = [name for name in _UPDATABLE if name in changes]
    if fields:
        events.append(updated_event(after, fields, actor))
    if group_changed:
        events.append(assigned_event(ticket, after, actor, now))
    return Outcome(after, tuple(events))


def link_contact(ticket: Ticket, contact_id: str, actor: Actor, now: datetime) -> Outcome:
    """Link a contact (a call, chat, email...) to the ticket; linking one already linked is a no-op.
    The contact count feeds first-contact resolution when the ticket is solved."""
    ensure_mutable(ticket)
    require_field(contact_id, "contact_id")
    if contact_id in ticket.contact_ids:
        return Outcome(ticket)
    if len(ticket.contact_ids) >= MAX_LINKED_CONTACTS:
        raise LimitReached(
            "contact_limit_reached",
            f"ticket {ticket.ticket_id} has {len(ticket.contact_ids):,} contacts linked; at most "
            f"{MAX_LINKED_CONTACTS:,}: open a follow-up ticket",
            limit=str(MAX_LINKED_CONTACTS),
        )
    after = ticket.evolve(now, contact_ids=(*ticket.contact_ids, contact_id))
    return Outcome(after, (updated_event(after, ["contact_ids"], actor),))
