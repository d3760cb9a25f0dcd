"""/v1/tickets and /v1/tickets/{ticket_id}: a ticket created (safely retried with an
Idempotency-Key), read, its fields changed, and the tenant's tickets listed and filtered."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated

from fastapi import Header, Query, Response, status

from helpline.domain import new_id
from helpline.rest import Caller, IfMatch, ProblemError, admits, resource_router
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
from services.tickets.api.schemas import TicketCreate, TicketOut, TicketPage, TicketPatch
from services.tickets.domain import commands
from services.tickets.domain.model import Department, Priority, Status
from services.tickets.store import ListFilter, decode_cursor

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Makes the create safe to retry: the same key and body return the first result.",
    ),
]
# With a zone, always: a timestamp without one names a different instant in every office. Pydantic's
# own datetime parsing would also take bare numbers as Unix times, which the spec does not offer.
RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"

router = resource_router(prefix=PREFIX, tags=TAGS)


def fingerprint(body: TicketCreate) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


@router.post(
    "",
    openapi_extra=admits(Access.TICKET_INTAKE),
    status_code=status.HTTP_201_CREATED,
    response_model=TicketOut,
    responses=CHANGED,
)
def create_ticket(
    body: TicketCreate,
    caller: Caller,
    tickets: UseCases,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TicketOut:
    draft = commands.NewTicket(
        tenant_id=caller.tenant_id,
        subject=body.subject,
        description=body.description,
        requester_id=body.requester_id or "",
        channel=body.channel,
        type=body.type,
        priority=body.priority,
        department=body.department,
        tier=body.tier,
        group_id=body.group_id or "",
        assignee_id=body.assignee_id or "",
        tags=body.tags,
        custom_fields=body.custom_fields,
        contact_id=body.contact_id or "",
    )
    actor = actor_of(caller)
    with refusals():
        result = tickets.create(
            lambda ticket_id, now: commands.create(
                draft, actor, now, ticket_id=ticket_id, comment_id=new_id()
            ),
            idempotency_key=idempotency_key or "",
            fingerprint=fingerprint(body),
        )
    response.headers["Location"] = f"/v1/tickets/{result.ticket.ticket_id}"
    if not result.created:
        response.headers["Idempotent-Replayed"] = "true"
    return ticket_response(response, result.ticket)


@router.get(
    "/{ticket_id}",
    openapi_extra=admits(Access.READ),
    response_model=TicketOut,
    responses={404: CHANGED[404]},
)
def get_ticket(ticket_id: str, caller: Caller, tickets: UseCases, response: Response) -> TicketOut:
    with refusals():
        ticket = tickets.get(caller.tenant_id, ticket_id)
    return ticket_response(response, ticket)


@router.patch(
    "/{ticket_id}", openapi_extra=admits(Access.TICKET_WORK), response_model=TicketOut, responses=CHANGED
)
def patch_ticket(
    ticket_id: str,
    body: TicketPatch,
    caller: Caller,
    tickets: UseCases,
    response: Response,
    if_match: IfMatch = None,
) -> TicketOut:
    fields = body.model_dump(exclude_none=True)
    if not fields:
        raise ProblemError(
            422, "Invalid request", "name at least one field to change", rule="nothing_to_change"
        )
    return change(
        tickets,
        caller,
        ticket_id,
        if_match,
        response,
        lambda ticket, actor, now: commands.update_fields(ticket, actor, now, **fields),
    )


@router.get("", openapi_extra=admits(Access.READ), response_model=TicketPage)
def list_tickets(
    caller: Caller,
    tickets: UseCases,
    status: Status | None = None,
    priority: Priority | None = None,
    assignee_id: Annotated[str | None, Query(max_length=128)] = None,
    group_id: Annotated[str | None, Query(max_length=128)] = None,
    requester_id: Annotated[str | None, Query(max_length=128)] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    department: Department | None = None,
    updated_since: Annotated[
        str | None,
        Query(
            pattern=RFC3339,
            description="Only tickets updated at or after this instant, e.g. 2026-11-25T09:00:00Z.",
        ),
    ] = None,
    sort: Annotated[str, Query(pattern="^-?updated_at$")] = "-updated_at",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> TicketPage:
    try:
        decode_cursor(cursor)
    except ValueError as exc:
        raise ProblemError(400, "Bad Request", "the cursor is not one this API returned") from exc
    try:
        since = datetime.fromisoformat(updated_since) if updated_since else None
    except ValueError as exc:
        raise ProblemError(422, "Invalid request", f"updated_since: {exc}") from exc
    filters = ListFilter(
        statuses=(status.value,) if status else (),
        priority=priority.value if priority else "",
        assignee_id=assignee_id or "",
        group_id=group_id or "",
        requester_id=requester_id or "",
        tag=(tag or "").lower(),
        department=department.value if department else "",
        updated_since=since,
    )
    page = tickets.list_tickets(
        caller.tenant_id, filters, page_size=limit, cursor=cursor, descending=sort.startswith("-")
    )
    return TicketPage(items=[TicketOut.of(t) for t in page.tickets], next_cursor=page.next_cursor or None)
