"""What a ticket command returns (`Outcome`: the ticket after it and the events that describe
the change), and the events several commands emit: a status move with its TicketStatusChanged,
TicketSolved, TicketReopened and TicketClosed; TicketUpdated; TicketAssigned."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.message import Message

from helpline.domain import timestamp
from helpline.v1 import ticket_events_pb2
from services.tickets.domain import lifecycle
from services.tickets.domain.convert import (
    CHANNEL_TO_PROTO,
    DEPARTMENT_TO_PROTO,
    STATUS_TO_PROTO,
    actor_to_proto,
    to_snapshot,
)
from services.tickets.domain.model import Actor, Comment, Status, Ticket
from services.tickets.domain.survey_settings import SurveyMark


@dataclass(frozen=True)
class Outcome:
    """What a command decided. `ticket` is the ticket after the command (the same object when
    nothing changed); `comment` the comment to store; `follow_up` the new ticket a customer reply
    to a closed ticket created (then `ticket` is the untouched closed ticket, and `comment` and
    `events` belong to the follow-up); `survey_mark` the requester's survey throttle a solve's
    survey request sets, with the change."""

    ticket: Ticket
    events: tuple[Message, ...] = ()
    comment: Comment | None = None
    follow_up: Ticket | None = None
    survey_mark: SurveyMark | None = None


def move_status(
    ticket: Ticket, to: Status, actor: Actor, now: datetime, *, automatic: bool = False
) -> tuple[Ticket, list[Message]]:
    move = lifecycle.move(ticket, to, now)
    after = ticket.evolve(now, **move.changes())
    return after, status_events(ticket, after, move, actor, now, automatic=automatic)


def status_events(
    before: Ticket,
    after: Ticket,
    move: lifecycle.Move,
    actor: Actor,
    now: datetime,
    *,
    automatic: bool = False,
) -> list[Message]:
    by = actor_to_proto(actor)
    events: list[Message] = [
        ticket_events_pb2.TicketStatusChanged(
            tenant_id=after.tenant_id,
            ticket_id=after.ticket_id,
            version=after.version,
            from_status=STATUS_TO_PROTO[before.status],
            to_status=STATUS_TO_PROTO[after.status],
            changed_by=by,
            changed_at=timestamp(now),
        )
    ]
    if after.status is Status.SOLVED:
        events.append(
            ticket_events_pb2.TicketSolved(
                tenant_id=after.tenant_id,
                ticket_id=after.ticket_id,
                version=after.version,
                solved_by=by,
                assignee_id=after.assignee_id,
                department=DEPARTMENT_TO_PROTO[after.department],
                channel=CHANNEL_TO_PROTO[after.channel],
                contact_count=len(after.contact_ids),
                reopen_count=after.reopen_count,
                created_at=timestamp(after.created_at),
                solved_at=timestamp(now),
            )
        )
    if move.reopened:
        reopened = ticket_events_pb2.TicketReopened(
            tenant_id=after.tenant_id,
            ticket_id=after.ticket_id,
            version=after.version,
            from_status=STATUS_TO_PROTO[before.status],
            reopened_by=by,
            reopen_count=after.reopen_count,
            reopened_at=timestamp(now),
        )
        if before.solved_at is not None:
            reopened.solved_at.CopyFrom(timestamp(before.solved_at))
        events.append(reopened)
    if after.status is Status.CLOSED:
        events.append(
            ticket_events_pb2.TicketClosed(
                tenant_id=after.tenant_id,
                ticket_id=after.ticket_id,
                version=after.version,
                automatic=automatic,
                closed_by=by,
                closed_at=timestamp(now),
            )
        )
    return events


def updated_event(after: Ticket, fields: Sequence[str], actor: Actor) -> ticket_events_pb2.TicketUpdated:
    return ticket_events_pb2.TicketUpdated(
        tenant_id=after.tenant_id,
        ticket=to_snapshot(after),
        changed_fields=list(fields),
        updated_by=actor_to_proto(actor),
    )


def assigned_event(
    before: Ticket, after: Ticket, actor: Actor, now: datetime
) -> ticket_events_pb2.TicketAssigned:
    return ticket_events_pb2.TicketAssigned(
        tenant_id=after.tenant_id,
        ticket_id=after.ticket_id,
        version=after.version,
        assignee_id=after.assignee_id,
        previous_assignee_id=before.assignee_id,
        group_id=after.group_id,
        previous_group_id=before.group_id,
        assigned_by=actor_to_proto(actor),
        assigned_at=timestamp(now),
    )
