"""The model in the contracts' terms (protobuf), and back for the enums.

The model uses DOMAIN.md's words; the contracts use `TICKET_STATUS_ON_HOLD`-style enums whose zero
value means "not set". Reading a zero back is an error unless the caller names a default, because
the domain never holds an unknown status, type or tier. `Channel.API` (created through the API, no
contact) has no contract value: it goes out as CHANNEL_UNSPECIFIED and comes back as `Channel.API`.
"""

from __future__ import annotations

from typing import Any

from helpline.domain import enum_from_proto, enum_map, reverse, timestamp
from helpline.v1 import common_pb2, ticket_events_pb2, ticket_service_pb2
from helpline.vocabulary import DEPARTMENT_TO_PROTO as DEPARTMENT_TO_PROTO
from helpline.vocabulary import PRIORITY_TO_PROTO as PRIORITY_TO_PROTO
from helpline.vocabulary import TIER_TO_PROTO as TIER_TO_PROTO
from services.tickets.domain.errors import InvalidCommand
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

STATUS_TO_PROTO = enum_map(Status, common_pb2.TicketStatus, "TICKET_STATUS_")
TYPE_TO_PROTO = enum_map(TicketType, common_pb2.TicketType, "TICKET_TYPE_")
AUTHOR_TYPE_TO_PROTO = enum_map(AuthorType, common_pb2.AuthorType, "AUTHOR_TYPE_")
CHANNEL_TO_PROTO = enum_map(
    Channel, common_pb2.Channel, "CHANNEL_", {Channel.API: common_pb2.CHANNEL_UNSPECIFIED}
)

_STATUS_FROM = reverse(STATUS_TO_PROTO)
_TYPE_FROM = reverse(TYPE_TO_PROTO)
_PRIORITY_FROM = reverse(PRIORITY_TO_PROTO)
_DEPARTMENT_FROM = reverse(DEPARTMENT_TO_PROTO)
_TIER_FROM = reverse(TIER_TO_PROTO)
_AUTHOR_TYPE_FROM = reverse(AUTHOR_TYPE_TO_PROTO)
_CHANNEL_FROM = reverse(CHANNEL_TO_PROTO)


def status_from_proto(value: int, default: Status | None = None) -> Status:
    return enum_from_proto(_STATUS_FROM, value, "TicketStatus", default, InvalidCommand)


def type_from_proto(value: int, default: TicketType | None = None) -> TicketType:
    return enum_from_proto(_TYPE_FROM, value, "TicketType", default, InvalidCommand)


def priority_from_proto(value: int, default: Priority | None = None) -> Priority:
    return enum_from_proto(_PRIORITY_FROM, value, "Priority", default, InvalidCommand)


def department_from_proto(value: int, default: Department | None = None) -> Department:
    return enum_from_proto(_DEPARTMENT_FROM, value, "Department", default, InvalidCommand)


def tier_from_proto(value: int, default: Tier | None = None) -> Tier:
    return enum_from_proto(_TIER_FROM, value, "Tier", default, InvalidCommand)


def author_type_from_proto(value: int, default: AuthorType | None = None) -> AuthorType:
    return enum_from_proto(_AUTHOR_TYPE_FROM, value, "AuthorType", default, InvalidCommand)


def channel_from_proto(value: int) -> Channel:
    # CHANNEL_UNSPECIFIED is taken by Channel.API, so every known value has a meaning.
    return enum_from_proto(_CHANNEL_FROM, value, "Channel", None, InvalidCommand)


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
