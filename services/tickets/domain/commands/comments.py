"""Comments on a ticket: a public reply or an internal note, moving the status as the lifecycle
says for who wrote it, and the follow-up ticket a customer's reply to a closed ticket creates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.message import Message

from helpline.domain import timestamp
from helpline.v1 import ticket_events_pb2
from services.tickets.domain import lifecycle
from services.tickets.domain.commands.outcome import Outcome, status_events
from services.tickets.domain.commands.validation import (
    MAX_LINKED_CONTACTS,
    SUBJECT_MAX,
    checked_text,
    ensure_mutable,
    require_field,
)
from services.tickets.domain.convert import AUTHOR_TYPE_TO_PROTO, actor_to_proto, to_snapshot
from services.tickets.domain.errors import InvalidCommand
from services.tickets.domain.model import Actor, AuthorType, Comment, Status, Ticket

FOLLOW_UP_PREFIX = "Re: "


def add_comment(
    ticket: Ticket,
    body: str,
    actor: Actor,
    now: datetime,
    *,
    comment_id: str,
    public: bool = True,
    contact_id: str = "",
    follow_up_id: str = "",
) -> Outcome:
    """Add a public reply or an internal note, by `actor` (agent, customer or system).

    The first public agent reply is the first response (`first_agent_reply_at`, and
    `first_response` on TicketCommented) and opens a `new` ticket. A public customer reply moves
    the status by the lifecycle rules (pending -> open; solved -> open, a reopen), emitting the
    status events with the same version. Notes and system comments never move the status. A
    contact the comment came through is linked to the ticket.

    A public customer reply to a closed ticket creates the follow-up `follow_up_id` instead (see
    `_follow_up`); every other comment on a closed ticket is refused.
    """
    require_field(comment_id, "comment_id")
    body = checked_text(body, "body", required=True)
    if actor.type is AuthorType.CUSTOMER and not public:
        raise InvalidCommand(
            "customer_comments_are_public", "internal notes are for agents and the system; customers reply"
        )
    if ticket.status is Status.CLOSED and actor.type is AuthorType.CUSTOMER:
        return _follow_up(ticket, body, actor, now, comment_id, contact_id, follow_up_id)
    ensure_mutable(ticket)

    target = ticket.status
    if public and actor.type is AuthorType.CUSTOMER:
        target = lifecycle.after_customer_reply(ticket.status) or ticket.status
    elif public and actor.type is AuthorType.AGENT:
        target = lifecycle.after_agent_reply(ticket.status)
    first_response = public and actor.type is AuthorType.AGENT and ticket.first_agent_reply_at is None

    changes: dict[str, Any] = {"comment_count": ticket.comment_count + 1}
    if first_response:
        changes["first_agent_reply_at"] = now
    # A comment is never refused for its contact: past the most a ticket links, it is kept unlinked.
    if contact_id and contact_id not in ticket.contact_ids and len(ticket.contact_ids) < MAX_LINKED_CONTACTS:
        changes["contact_ids"] = (*ticket.contact_ids, contact_id)
    move = lifecycle.move(ticket, target, now) if target is not ticket.status else None
    if move is not None:
        changes.update(move.changes())
    after = ticket.evolve(now, **changes)

    comment = Comment(comment_id, ticket.ticket_id, public, actor, body, now, contact_id)
    commented = ticket_events_pb2.TicketCommented(
        tenant_id=after.tenant_id,
        ticket_id=after.ticket_id,
        version=after.version,
        comment_id=comment_id,
        public=public,
        author_type=AUTHOR_TYPE_TO_PROTO[actor.type],
        author_id=actor.id,
        body=body,
        first_response=first_response,
        contact_id=contact_id,
        commented_at=timestamp(now),
    )
    events: list[Message] = [commented]
    if move is not None:
        events.extend(status_events(ticket, after, move, actor, now))
    return Outcome(after, tuple(events), comment)


def _follow_up(
    closed: Ticket,
    body: str,
    actor: Actor,
    now: datetime,
    comment_id: str,
    contact_id: str,
    follow_up_id: str,
) -> Outcome:
    """A new ticket for a customer's reply to a closed one (Zendesk follow-up). It carries the
    closed ticket's requester, subject ("Re: ..."), channel, type, priority, department, tier,
    group, tags and custom fields; the reply is its first comment and description. It starts
    `new` and unassigned, so routing picks it up afresh. The closed ticket stays untouched, so
    the link is only `follow_up_of` on the new ticket."""
    if not follow_up_id:
        raise InvalidCommand(
            "follow_up_id_required",
            f"ticket {closed.ticket_id} is closed: a customer reply needs an id for its follow-up ticket",
        )
    subject = (FOLLOW_UP_PREFIX + closed.subject)[:SUBJECT_MAX]
    follow_up = Ticket(
        ticket_id=follow_up_id,
        tenant_id=closed.tenant_id,
        subject=subject,
        created_at=now,
        updated_at=now,
        description=body,
        requester_id=closed.requester_id or actor.id,
        channel=closed.channel,
        type=closed.type,
        priority=closed.priority,
        department=closed.department,
        tier=closed.tier,
        group_id=closed.group_id,
        tags=closed.tags,
        custom_fields=dict(closed.custom_fields),
        contact_ids=(contact_id,) if contact_id else (),
        follow_up_of=closed.ticket_id,
        comment_count=1,
    )
    comment = Comment(comment_id, follow_up_id, True, actor, body, now, contact_id)
    created = ticket_events_pb2.TicketCreated(
        tenant_id=follow_up.tenant_id,
        ticket=to_snapshot(follow_up),
        created_by=actor_to_proto(actor),
        contact_id=contact_id,
        follow_up_of_ticket_id=closed.ticket_id,
    )
    return Outcome(closed, (created,), comment, follow_up)
