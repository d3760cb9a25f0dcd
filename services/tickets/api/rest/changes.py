"""/v1/tickets/{ticket_id}/transition, /assign, /links, /escalate and /hand-off: the changes of a
ticket's workflow, each a command the domain decides, applied as the caller's agent."""

from __future__ import annotations

from fastapi import Response

from helpline.rest import Caller, IfMatch, admits, parse_if_match, resource_router
from helpline.roles import Access
from services.tickets.api.authorship import actor_of
from services.tickets.api.rest.common import (
    CHANGED,
    PREFIX,
    TAGS,
    UseCases,
    change,
    refusals,
    ticket_response,
)
from services.tickets.api.schemas import AssignIn, EscalateIn, HandOffIn, LinkIn, TicketOut, TransitionIn
from services.tickets.domain import commands

router = resource_router(prefix=PREFIX, tags=TAGS)


@router.post(
    "/{ticket_id}/transition",
    openapi_extra=admits(Access.TICKET_WORK),
    response_model=TicketOut,
    responses=CHANGED,
)
def transition_ticket(
    ticket_id: str,
    body: TransitionIn,
    caller: Caller,
    tickets: UseCases,
    response: Response,
    if_match: IfMatch = None,
) -> TicketOut:
    expected = parse_if_match(if_match)
    with refusals():
        changed = tickets.transition(caller.tenant_id, ticket_id, body.status, actor_of(caller), expected)
    return ticket_response(response, changed.ticket)


@router.post(
    "/{ticket_id}/assign",
    openapi_extra=admits(Access.TICKET_WORK),
    response_model=TicketOut,
    responses=CHANGED,
)
def assign_ticket(
    ticket_id: str,
    body: AssignIn,
    caller: Caller,
    tickets: UseCases,
    response: Response,
    if_match: IfMatch = None,
) -> TicketOut:
    fields = body.model_dump(exclude_unset=True)
    return change(
        tickets,
        caller,
        ticket_id,
        if_match,
        response,
        lambda ticket, actor, now: commands.assign(
            ticket,
            actor,
            now,
            assignee_id=_cleared(fields, "assignee_id"),
            group_id=_cleared(fields, "group_id"),
        ),
    )


@router.post(
    "/{ticket_id}/links",
    openapi_extra=admits(Access.TICKET_WORK),
    response_model=TicketOut,
    responses=CHANGED,
)
def link_contact(
    ticket_id: str,
    body: LinkIn,
    caller: Caller,
    tickets: UseCases,
    response: Response,
    if_match: IfMatch = None,
) -> TicketOut:
    return change(
        tickets,
        caller,
        ticket_id,
        if_match,
        response,
        lambda ticket, actor, now: commands.link_contact(ticket, body.contact_id, actor, now),
    )


@router.post(
    "/{ticket_id}/escalate",
    openapi_extra=admits(Access.TICKET_WORK),
    response_model=TicketOut,
    responses=CHANGED,
)
def escalate_ticket(
    ticket_id: str,
    body: EscalateIn,
    caller: Caller,
    tickets: UseCases,
    response: Response,
    if_match: IfMatch = None,
) -> TicketOut:
    return change(
        tickets,
        caller,
        ticket_id,
        if_match,
        response,
        lambda ticket, actor, now: commands.escalate(
            ticket, body.tier, actor, now, group_id=body.group_id, reason=body.reason
        ),
    )


@router.post(
    "/{ticket_id}/hand-off",
    openapi_extra=admits(Access.TICKET_WORK),
    response_model=TicketOut,
    responses=CHANGED,
)
def hand_off_ticket(
    ticket_id: str,
    body: HandOffIn,
    caller: Caller,
    tickets: UseCases,
    response: Response,
    if_match: IfMatch = None,
) -> TicketOut:
    return change(
        tickets,
        caller,
        ticket_id,
        if_match,
        response,
        lambda ticket, actor, now: commands.hand_off(
            ticket, body.department, actor, now, group_id=body.group_id, reason=body.reason
        ),
    )


def _cleared(fields: dict[str, str | None], name: str) -> str | None:
    """In an assign body, a field left out keeps its value and an explicit null clears it."""
    if name not in fields:
        return None
    return fields[name] or ""
