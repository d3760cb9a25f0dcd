"""Creating a ticket: the request (`NewTicket`), validated and normalised into a `new` ticket at
version 1, its description the first public comment when asked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from helpline.v1 import ticket_events_pb2
from services.tickets.domain.commands.outcome import Outcome
from services.tickets.domain.commands.validation import (
    checked_text,
    normalise_custom_fields,
    normalise_subject,
    normalise_tags,
    require_field,
)
from services.tickets.domain.convert import actor_to_proto, to_snapshot
from services.tickets.domain.model import (
    Actor,
    AuthorType,
    Channel,
    Comment,
    Department,
    Priority,
    Status,
    Ticket,
    TicketType,
    Tier,
)


@dataclass(frozen=True)
class NewTicket:
    """The request to create a ticket; `create` validates and normalises it."""

    tenant_id: str
    subject: str
    description: str = ""
    requester_id: str = ""
    channel: Channel = Channel.API
    type: TicketType = TicketType.QUESTION
    priority: Priority = Priority.NORMAL
    department: Department = Department.SERVICE
    tier: Tier = Tier.L1
    group_id: str = ""
    assignee_id: str = ""
    tags: Sequence[str] = ()
    custom_fields: Mapping[str, str] = field(default_factory=dict)
    contact_id: str = ""


def create(draft: NewTicket, actor: Actor, now: datetime, *, ticket_id: str, comment_id: str = "") -> Outcome:
    """A new ticket, status `new` (even with an assignee: it opens when an agent replies), version 1.

    With `comment_id`, a non-empty description is also stored as the ticket's first public
    comment, as Zendesk does; it is part of the creation, not a reply, so it is no first response
    and has no TicketCommented of its own. A customer creating a ticket without naming a
    requester is the requester.
    """
    require_field(ticket_id, "ticket_id")
    require_field(draft.tenant_id, "tenant_id")
    description = checked_text(draft.description, "description", required=False)
    requester_id = draft.requester_id
    if not requester_id and actor.type is AuthorType.CUSTOMER:
        requester_id = actor.id
    has_comment = bool(comment_id and description.strip())
    ticket = Ticket(
        ticket_id=ticket_id,
        tenant_id=draft.tenant_id,
        subject=normalise_subject(draft.subject),
        created_at=now,
        updated_at=now,
        description=description,
        requester_id=requester_id,
        channel=draft.channel,
        type=draft.type,
        priority=draft.priority,
        status=Status.NEW,
        department=draft.department,
        tier=draft.tier,
        group_id=draft.group_id,
        assignee_id=draft.assignee_id,
        tags=normalise_tags(draft.tags),
        custom_fields=normalise_custom_fields(draft.custom_fields),
        contact_ids=(draft.contact_id,) if draft.contact_id else (),
        comment_count=1 if has_comment else 0,
    )
    comment = (
        Comment(comment_id, ticket_id, True, actor, description, now, draft.contact_id)
        if has_comment
        else None
    )
    created = ticket_events_pb2.TicketCreated(
        tenant_id=ticket.tenant_id,
        ticket=to_snapshot(ticket),
        created_by=actor_to_proto(actor),
        contact_id=draft.contact_id,
    )
    return Outcome(ticket, (created,), comment)
