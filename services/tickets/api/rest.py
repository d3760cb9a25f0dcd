"""The tickets REST API under /v1: FastAPI, API-key auth, problem+json errors, ETag/If-Match.

No `from __future__ import annotations`: FastAPI reads the route signatures at runtime, and the
`Caller` alias is local to `build_router`, out of reach of string annotations.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from helpline.auth import ApiKeyStore, Principal
from helpline.rest import ProblemError, principal_dependency
from services.tickets.api.schemas import CommentOut, TicketOut, TicketPage
from services.tickets.domain.model import Department, Priority, Status
from services.tickets.store import ListFilter, decode_cursor
from services.tickets.usecases import NotFoundError, PreconditionFailedError, Tickets


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(if_match: str | None) -> int | None:
    """`If-Match: "7"` (or `W/"7"`, or a bare 7) pins the version a write applies to."""
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ProblemError(
            400, "Bad Request", f'If-Match must be a ticket ETag such as "3", not {if_match!r}'
        )
    return int(text)


def not_found(ticket_id: str) -> ProblemError:
    return ProblemError(404, "Not Found", f"no ticket {ticket_id}", ticket_id=ticket_id)


def stale(exc: PreconditionFailedError) -> ProblemError:
    return ProblemError(
        412, "Precondition Failed", str(exc), expected_version=exc.expected, current_version=exc.current
    )


def build_router(tickets: Callable[[], Tickets], api_keys: Callable[[], ApiKeyStore]) -> APIRouter:
    router = APIRouter(prefix="/v1/tickets", tags=["tickets"])
    Caller = Annotated[Principal, Depends(principal_dependency(api_keys))]  # noqa: N806 -- a type alias

    @router.get("/{ticket_id}", response_model=TicketOut)
    def get_ticket(ticket_id: str, caller: Caller, response: Response) -> TicketOut:
        try:
            ticket = tickets().get(caller.tenant_id, ticket_id)
        except NotFoundError as exc:
            raise not_found(ticket_id) from exc
        response.headers["ETag"] = etag(ticket.version)
        return TicketOut.of(ticket)

    @router.get("/{ticket_id}/comments", response_model=list[CommentOut])
    def list_comments(ticket_id: str, caller: Caller) -> list[CommentOut]:
        try:
            return [CommentOut.of(c) for c in tickets().comments(caller.tenant_id, ticket_id)]
        except NotFoundError as exc:
            raise not_found(ticket_id) from exc

    @router.get("", response_model=TicketPage)
    def list_tickets(
        caller: Caller,
        status: Status | None = None,
        priority: Priority | None = None,
        assignee_id: Annotated[str | None, Query(max_length=128)] = None,
        group_id: Annotated[str | None, Query(max_length=128)] = None,
        requester_id: Annotated[str | None, Query(max_length=128)] = None,
        tag: Annotated[str | None, Query(max_length=50)] = None,
        department: Department | None = None,
        updated_since: datetime | None = None,
        sort: Annotated[str, Query(pattern="^-?updated_at$")] = "-updated_at",
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str, Query(max_length=512)] = "",
    ) -> TicketPage:
        try:
            decode_cursor(cursor)
        except ValueError as exc:
            raise ProblemError(400, "Bad Request", "the cursor is not one this API returned") from exc
        if updated_since is not None and updated_since.tzinfo is None:
            raise ProblemError(
                422, "Invalid request", "updated_since needs a time zone, e.g. 2026-11-25T09:00:00Z"
            )
        filters = ListFilter(
            statuses=(status.value,) if status else (),
            priority=priority.value if priority else "",
            assignee_id=assignee_id or "",
            group_id=group_id or "",
            requester_id=requester_id or "",
            tag=(tag or "").lower(),
            department=department.value if department else "",
            updated_since=updated_since,
        )
        page = tickets().list_tickets(
            caller.tenant_id, filters, page_size=limit, cursor=cursor, descending=sort.startswith("-")
        )
        return TicketPage(items=[TicketOut.of(t) for t in page.tickets], next_cursor=page.next_cursor or None)

    return router
