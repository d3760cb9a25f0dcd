"""/v1/tickets/{ticket_id}/comments: a ticket's public replies and internal notes, listed a page at
a time and added (a customer's reply to a closed ticket opening a follow-up)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response, status

from helpline.domain import new_id
from helpline.rest import Caller, IfMatch, ProblemError, admits, etag, parse_if_match, resource_router
from helpline.roles import Access
from services.tickets.api.authorship import AuthorshipError, comment_author
from services.tickets.api.rest.common import CHANGED, PREFIX, TAGS, UseCases, refusals
from services.tickets.api.schemas import CommentCreated, CommentIn, CommentOut, CommentPage, TicketOut
from services.tickets.domain import commands
from services.tickets.store import COMMENT_PAGE_DEFAULT, COMMENT_PAGE_MAX, decode_comment_cursor

router = resource_router(prefix=PREFIX, tags=TAGS)


@router.get(
    "/{ticket_id}/comments",
    openapi_extra=admits(Access.READ),
    response_model=CommentPage,
    responses={404: CHANGED[404]},
)
def list_comments(
    ticket_id: str,
    caller: Caller,
    tickets: UseCases,
    page_size: Annotated[
        int, Query(ge=1, le=COMMENT_PAGE_MAX, description="The most comments on the page.")
    ] = COMMENT_PAGE_DEFAULT,
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> CommentPage:
    """The ticket's comments, oldest first, a page at a time: follow `next_cursor`."""
    try:
        decode_comment_cursor(cursor, ticket_id)
    except ValueError as exc:
        raise ProblemError(400, "Bad Request", "the cursor is not one this API returned") from exc
    with refusals():
        page = tickets.comments(caller.tenant_id, ticket_id, page_size=page_size, cursor=cursor)
    return CommentPage(items=[CommentOut.of(c) for c in page.comments], next_cursor=page.next_cursor or None)


@router.post(
    "/{ticket_id}/comments",
    openapi_extra=admits(Access.TICKET_INTAKE),
    status_code=status.HTTP_201_CREATED,
    response_model=CommentCreated,
    responses=CHANGED,
)
def add_comment(
    ticket_id: str,
    body: CommentIn,
    caller: Caller,
    tickets: UseCases,
    response: Response,
    if_match: IfMatch = None,
) -> CommentCreated:
    """A public reply or an internal note. A customer's reply to a closed ticket creates a linked
    follow-up ticket, returned as `follow_up` (the comment is its first). A ticket holds at
    most a set number of comments (10,000 unless the operator changed it); one more is a 409
    `comment_limit_reached`."""
    try:
        actor = comment_author(caller, body.author_type, body.author_id or "")
    except AuthorshipError as exc:
        raise ProblemError(403, "Forbidden", str(exc), rule="author_not_the_keys") from exc
    comment_id, follow_up_id = new_id(), new_id()
    expected = parse_if_match(if_match)
    with refusals():
        result = tickets.change(
            caller.tenant_id,
            ticket_id,
            lambda ticket, now: commands.add_comment(
                ticket,
                body.body,
                actor,
                now,
                comment_id=comment_id,
                public=body.public,
                contact_id=body.contact_id or "",
                follow_up_id=follow_up_id,
            ),
            expected,
        )
    assert result.comment is not None, "add_comment always makes a comment"
    response.headers["ETag"] = etag(result.ticket.version)
    if result.follow_up is not None:
        response.headers["Location"] = f"/v1/tickets/{result.follow_up.ticket_id}"
    return CommentCreated(
        ticket=TicketOut.of(result.ticket),
        comment=CommentOut.of(result.comment),
        follow_up=TicketOut.of(result.follow_up) if result.follow_up else None,
    )
