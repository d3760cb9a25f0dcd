"""The model in the contracts' terms (protobuf), and back for the enums.

The model uses DOMAIN.md's words; the contracts use `TICKET_STATUS_ON_HOLD`-style enums whose zero
value means "not set". Reading a zero back is an error unless the caller names a default, because
the domain never holds an unknown status, type or tier. `Channel.API` (created through the API, no
contact) has no contract value: it goes out as CHANNEL_UNSPECIFIED and comes back as `Channel.API`.
"""

from __future__ import annotations

from typing import Any

from helpline.domain import EnumReader, timestamp
from helpline.v1 import common_pb2, ticket_events_pb2, ticket_service_pb2
from helpline.vocabulary import AUTHOR_TYPE_TO_PROTO as AUTHOR_TYPE_TO_PROTO
from helpline.vocabulary import CHANNEL_TO_PROTO as CHANNEL_TO_PROTO
from helpline.vocabulary import DEPARTMENT_TO_PROTO as DEPARTMENT_TO_PROTO
from helpline.vocabulary import PRIORITY_TO_PROTO as PRIORITY_TO_PROTO
from helpline.vocabulary import TICKET_STATUS_TO_PROTO, TICKET_TYPE_TO_PROTO
from helpline.vocabulary import TIER_TO_PROTO as TIER_TO_PROTO
from services.tickets.domain.errors import InvalidCommand
from services.tickets.domain.model import (
    Actor,
    Comment,
    Ticket,
)

STATUS_TO_PROTO = TICKET_STATUS_TO_PROTO
TYPE_TO_PROTO = TICKET_TYPE_TO_PROTO

status_from_proto = EnumReader(STATUS_TO_PROTO, "TicketStatus", InvalidCommand)
type_from_proto = EnumReader(TYPE_TO_PROTO, "TicketType", InvalidCommand)
priority_from_proto = EnumReader(PRIORITY_TO_PROTO, "Priority", InvalidCommand)
department_from_proto = EnumReader(DEPARTMENT_TO_PROTO, "Department", InvalidCommand)
tier_from_proto = EnumReader(TIER_TO_PROTO, "Tier", InvalidCommand)
author_type_from_proto = EnumReader(AUTHOR_TYPE_TO_PROTO, "AuthorType", InvalidCommand)
# CHANNEL_UNSPECIFIED is taken by Channel.API, so every known value has a meaning.
channel_from_proto = EnumReader(CHANNEL_TO_PROTO, "Channel", InvalidCommand)


def actor_to_proto(actor: Actor) -> common_pb2.Actor:
    return common_pb2.Actor(type=AUTHOR_TYPE_TO_PROTO[actor.type], id=actor.id)


def actor_from_proto(actor: common_pb2.Actor) -> Actor:
    return Actor(author_type_from_proto(actor.type), actor.id)


def _matching_fields(ticket: Ticket) -> dict[str, Any]:
    """The fields the snapshot (events) and the gRPC Ticket share, mapped once."""
    return {
        "status": STATUS_TO_PROTO[ticket.status],
        "priority": PRIORITY_TO_PROTO[ticket.priority],
        "type": TYPE_TO_PROTO[ticket.type],
        "channel": CHANNEL_TO_PROTO[ticket.channel],
        "department": DEPARTMENT_TO_PROTO[ticket.department],
        "tier": TIER_TO_PROTO[ticket.tier],
        "group_id": ticket.group_id,
        "assignee_id": ticket.assignee_id,
        "requester_id": ticket.requester_id,
        "tags": list(ticket.tags),
        "custom_fields": dict(ticket.custom_fields),
    }


def to_snapshot(ticket: Ticket) -> ticket_events_pb2.TicketSnapshot:
    return ticket_events_pb2.TicketSnapshot(
        ticket_id=ticket.ticket_id,
        version=ticket.version,
        **_matching_fields(ticket),
        created_at=timestamp(ticket.created_at),
        updated_at=timestamp(ticket.updated_at),
        subject=ticket.subject,
    )


def to_proto(ticket: Ticket) -> ticket_service_pb2.Ticket:
    """The gRPC form. It has no description or comment count: those are read with the comments."""
    message = ticket_service_pb2.Ticket(
        ticket_id=ticket.ticket_id,
        version=ticket.version,
        subject=ticket.subject,
        **_matching_fields(ticket),
        contact_ids=list(ticket.contact_ids),
        follow_up_of_ticket_id=ticket.follow_up_of,
        follow_up_ticket_ids=list(ticket.follow_up_ids),
        reopen_count=ticket.reopen_count,
        created_at=timestamp(ticket.created_at),
        updated_at=timestamp(ticket.updated_at),
    )
    # Unset optional moments stay absent (HasField false) rather than reading as the epoch.
    if ticket.first_agent_reply_at is not None:
        message.first_responded_at.CopyFrom(timestamp(ticket.first_agent_reply_at))
    if ticket.solved_at is not None:
        message.solved_at.CopyFrom(timestamp(ticket.solved_at))
    if ticket.closed_at is not None:
        message.closed_at.CopyFrom(timestamp(ticket.closed_at))
    return message


def comment_to_proto(comment: Comment) -> ticket_service_pb2.Comment:
    return ticket_service_pb2.Comment(
        comment_id=comment.comment_id,
        ticket_id=comment.ticket_id,
        public=comment.public,
        author_type=AUTHOR_TYPE_TO_PROTO[comment.author.type],
        author_id=comment.author.id,
        body=comment.body,
        contact_id=comment.contact_id,
        created_at=timestamp(comment.created_at),
    )
