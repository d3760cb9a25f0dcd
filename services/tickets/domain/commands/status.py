"""Moving a ticket through its lifecycle: an asked-for transition (with the survey a solve may
request), the automatic close of a ticket solved long enough, and the survey request itself."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from helpline.domain import timestamp
from helpline.v1 import common_pb2, ticket_events_pb2
from services.tickets.domain import lifecycle
from services.tickets.domain.commands.outcome import Outcome, move_status
from services.tickets.domain.commands.validation import check_survey, ensure_mutable
from services.tickets.domain.convert import CHANNEL_TO_PROTO
from services.tickets.domain.errors import InvalidCommand
from services.tickets.domain.model import SYSTEM, Actor, Status, Ticket
from services.tickets.domain.survey_settings import DEFAULT_SETTINGS, KIND_TO_PROTO, SurveyAsk, decide_survey

DEFAULT_SURVEY_KINDS: tuple[common_pb2.SurveyKind.ValueType, ...] = tuple(
    KIND_TO_PROTO[kind] for kind in DEFAULT_SETTINGS.kinds
)


def transition(
    ticket: Ticket, to: Status, actor: Actor, now: datetime, *, survey: SurveyAsk | None = None
) -> Outcome:
    """Move the ticket to `to` (lifecycle rules). Emits TicketStatusChanged, plus TicketSolved (and,
    with a `survey` the tenant's settings send, TicketSurveyRequested and the requester's throttle
    mark) on solve, TicketReopened when leaving solved, and TicketClosed on close. Moving to the
    current status changes nothing."""
    lifecycle.check_transition(ticket, to)
    if to is ticket.status:
        return Outcome(ticket)
    after, events = move_status(ticket, to, actor, now)
    decided = decide_survey(survey, ticket.requester_id) if to is Status.SOLVED and survey else None
    if survey is None or decided is None:
        return Outcome(after, tuple(events))
    kinds = [KIND_TO_PROTO[kind] for kind in decided.kinds]
    events.append(request_survey(after, survey.survey_id, now, kinds=kinds))
    return Outcome(after, tuple(events), survey_mark=decided.mark)


def auto_close(ticket: Ticket, now: datetime, close_after: timedelta) -> Outcome:
    """Close a ticket solved at least `close_after` ago (DOMAIN.md: after N days solved)."""
    ensure_mutable(ticket)
    if ticket.status is not Status.SOLVED or ticket.solved_at is None:
        raise InvalidCommand(
            "not_solved",
            f"ticket {ticket.ticket_id} is {ticket.status.value}; only a solved ticket closes automatically",
            status=ticket.status.value,
        )
    due = ticket.solved_at + close_after
    if due > now:
        raise InvalidCommand(
            "not_due",
            f"ticket {ticket.ticket_id} closes at {due.isoformat()}, not before",
            due_at=due.isoformat(),
        )
    after, events = move_status(ticket, Status.CLOSED, SYSTEM, now, automatic=True)
    return Outcome(after, tuple(events))


def request_survey(
    ticket: Ticket,
    survey_id: str,
    now: datetime,
    *,
    kinds: Sequence[common_pb2.SurveyKind.ValueType] = DEFAULT_SURVEY_KINDS,
) -> ticket_events_pb2.TicketSurveyRequested:
    """Ask the requester about a solved ticket; the answers are credited to its assignee. It
    changes nothing on the ticket, so it is only the event."""
    check_survey(survey_id, kinds)
    if ticket.status is not Status.SOLVED:
        raise InvalidCommand(
            "survey_needs_solved",
            f"ticket {ticket.ticket_id} is {ticket.status.value}; surveys follow a solve",
            status=ticket.status.value,
        )
    return ticket_events_pb2.TicketSurveyRequested(
        tenant_id=ticket.tenant_id,
        ticket_id=ticket.ticket_id,
        survey_id=survey_id,
        kinds=list(kinds),
        requester_id=ticket.requester_id,
        agent_id=ticket.assignee_id,
        # The latest contact is the one the customer remembers.
        contact_id=ticket.contact_ids[-1] if ticket.contact_ids else "",
        channel=CHANNEL_TO_PROTO[ticket.channel],
        requested_at=timestamp(now),
    )
