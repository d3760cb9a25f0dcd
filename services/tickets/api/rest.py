"""The tickets REST API under /v1: FastAPI, API-key auth, problem+json errors, ETag/If-Match.

Every write goes through the use cases with a pure domain command, so REST, gRPC and the event
consumers decide alike. The domain's refusals map to statuses here: the ticket's state forbids
it (TransitionRefused, LimitReached) is 409, a request that cannot apply (InvalidCommand) is 422,
a stale If-Match is 412; each body carries the refusing `rule`.

No `from __future__ import annotations`: FastAPI reads the route signatures at runtime, and the
`Caller` alias is local to `build_router`, out of reach of string annotations.
"""

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status

from helpline.auth import ApiKeyStore, Principal
from helpline.domain import NotFoundError, new_id
from helpline.optimistic import ContendedError
from helpline.rest import (
    ProblemError,
    admits,
    authorized_router,
    etag,
    parse_if_match,
    problem_responses,
)
from helpline.roles import Access
from services.tickets.api.authorship import AuthorshipError, actor_of, comment_author
from services.tickets.api.schemas import (
    AssignIn,
    CommentCreated,
    CommentIn,
    CommentOut,
    CommentPage,
    EscalateIn,
    HandOffIn,
    LinkIn,
    TicketCreate,
    TicketOut,
    TicketPage,
    TicketPatch,
    TransitionIn,
)
from services.tickets.domain import commands
from services.tickets.domain.errors import DomainError, LimitReached, TransitionRefused
from services.tickets.domain.model import Actor, Department, Priority, Status, Ticket
from services.tickets.store import (
    COMMENT_PAGE_DEFAULT,
    COMMENT_PAGE_MAX,
    IdempotencyMismatchError,
    ListFilter,
    decode_comment_cursor,
    decode_cursor,
)
from services.tickets.usecases import PreconditionFailedError, Tickets

IF_MATCH_DOC = (
    'The ETag the caller last saw (e.g. `"3"`); a stale one is a 412. '
    "Without it, the change applies to the current version."
)
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
IfMatch = Annotated[str | None, Header(max_length=64, description=IF_MATCH_DOC)]


def not_found(ticket_id: str) -> ProblemError:
    return ProblemError(404, "Not Found", f"no ticket {ticket_id}", ticket_id=ticket_id)


def stale(exc: PreconditionFailedError) -> ProblemError:
    return ProblemError(
        412, "Precondition Failed", str(exc), expected_version=exc.expected, current_version=exc.current
    )


@contextmanager
def refusals() -> Iterator[None]:
    """Turn the use cases' and the domain's refusals into problem responses."""
    try:
        yield
    except NotFoundError as exc:
        raise not_found(exc.identifier) from exc
    except PreconditionFailedError as exc:
        raise stale(exc) from exc
    except DomainError as exc:
        refused_by_state = isinstance(exc, TransitionRefused | LimitReached)
        code, title = (409, "Conflict") if refused_by_state else (422, "Invalid request")
        raise ProblemError(code, title, exc.message, rule=exc.rule, **exc.detail) from exc
    except ContendedError as exc:
        raise ProblemError(409, "Conflict", str(exc), rule="contended") from exc
    except IdempotencyMismatchError as exc:
        raise ProblemError(
            422,
            "Invalid request",
            "this Idempotency-Key was used for a different request; use a new key for a new ticket",
            rule="idempotency_key_reused",
        ) from exc


def fingerprint(body: TicketCreate) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


def ticket_response(response: Response, ticket: Ticket) -> TicketOut:
    response.headers["ETag"] = etag(ticket.version)
    return TicketOut.of(ticket)


def build_router(tickets: Callable[[], Tickets], api_keys: Callable[[], ApiKeyStore]) -> APIRouter:
    router, resolve = authorized_router(api_keys, prefix="/v1/tickets", tags=["tickets"])
    Caller = Annotated[Principal, Depends(resolve)]  # noqa: N806 -- a type alias
    changed = problem_responses(
        {
            404: "No such ticket for this tenant.",
            409: "The ticket's state refuses the change (`rule` says why).",
            412: "If-Match names a version the ticket has moved on from.",
        }
    )

    def change(
        caller: Principal,
        ticket_id: str,
        if_match: str | None,
        response: Response,
        decide: Callable[[Ticket, Actor, datetime], commands.Outcome],
    ) -> TicketOut:
        """Apply `decide` as the caller's agent, pinned to If-Match when given."""
        expected = parse_if_match(if_match)
        actor = actor_of(caller)
        with refusals():
            result = tickets().change(
                caller.tenant_id, ticket_id, lambda ticket, now: decide(ticket, actor, now), expected
            )
        return ticket_response(response, result.ticket)

    @router.post(
        "",
        openapi_extra=admits(Access.TICKET_INTAKE),
        status_code=status.HTTP_201_CREATED,
        response_model=TicketOut,
        responses=changed,
    )
    def create_ticket(
        body: TicketCreate, caller: Caller, response: Response, idempotency_key: IdempotencyKey = None
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
            result = tickets().create(
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
        responses={404: changed[404]},
    )
    def get_ticket(ticket_id: str, caller: Caller, response: Response) -> TicketOut:
        with refusals():
            ticket = tickets().get(caller.tenant_id, ticket_id)
        return ticket_response(response, ticket)

    @router.patch(
        "/{ticket_id}", openapi_extra=admits(Access.TICKET_WORK), response_model=TicketOut, responses=changed
    )
    def patch_ticket(
        ticket_id: str, body: TicketPatch, caller: Caller, response: Response, if_match: IfMatch = None
    ) -> TicketOut:
        fields = body.model_dump(exclude_none=True)
        if not fields:
            raise ProblemError(
                422, "Invalid request", "name at least one field to change", rule="nothing_to_change"
            )
        return change(
            caller,
            ticket_id,
            if_match,
            response,
            lambda ticket, actor, now: commands.update_fields(ticket, actor, now, **fields),
        )

    @router.post(
        "/{ticket_id}/transition",
        openapi_extra=admits(Access.TICKET_WORK),
        response_model=TicketOut,
        responses=changed,
    )
    def transition_ticket(
        ticket_id: str, body: TransitionIn, caller: Caller, response: Response, if_match: IfMatch = None
    ) -> TicketOut:
        # Every solve asks the requester for feedback (proactive outreach, DOMAIN.md).
        survey_id = new_id() if body.status is Status.SOLVED else ""
        return change(
            caller,
            ticket_id,
            if_match,
            response,
            lambda ticket, actor, now: commands.transition(
                ticket, body.status, actor, now, survey_id=survey_id
            ),
        )

    @router.post(
        "/{ticket_id}/assign",
        openapi_extra=admits(Access.TICKET_WORK),
        response_model=TicketOut,
        responses=changed,
    )
    def assign_ticket(
        ticket_id: str, body: AssignIn, caller: Caller, response: Response, if_match: IfMatch = None
    ) -> TicketOut:
        fields = body.model_dump(exclude_unset=True)
        return change(
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
        responses=changed,
    )
    def link_contact(
        ticket_id: str, body: LinkIn, caller: Caller, response: Response, if_match: IfMatch = None
    ) -> TicketOut:
        return change(
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
        responses=changed,
    )
    def escalate_ticket(
        ticket_id: str, body: EscalateIn, caller: Caller, response: Response, if_match: IfMatch = None
    ) -> TicketOut:
        return change(
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
        responses=changed,
    )
    def hand_off_ticket(
        ticket_id: str, body: HandOffIn, caller: Caller, response: Response, if_match: IfMatch = None
    ) -> TicketOut:
        return change(
            caller,
            ticket_id,
            if_match,
            response,
            lambda ticket, actor, now: commands.hand_off(
                ticket, body.department, actor, now, group_id=body.group_id, reason=body.reason
            ),
        )

    @router.get(
        "/{ticket_id}/comments",
        openapi_extra=admits(Access.READ),
        response_model=CommentPage,
        responses={404: changed[404]},
    )
    def list_comments(
        ticket_id: str,
        caller: Caller,
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
            page = tickets().comments(caller.tenant_id, ticket_id, page_size=page_size, cursor=cursor)
        return CommentPage(
            items=[CommentOut.of(c) for c in page.comments], next_cursor=page.next_cursor or None
        )

    @router.post(
        "/{ticket_id}/comments",
        openapi_extra=admits(Access.TICKET_INTAKE),
        status_code=status.HTTP_201_CREATED,
        response_model=CommentCreated,
        responses=changed,
    )
    def add_comment(
        ticket_id: str, body: CommentIn, caller: Caller, response: Response, if_match: IfMatch = None
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
            result = tickets().change(
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

    @router.get("", openapi_extra=admits(Access.READ), response_model=TicketPage)
    def list_tickets(
        caller: Caller,
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
        page = tickets().list_tickets(
            caller.tenant_id, filters, page_size=limit, cursor=cursor, descending=sort.startswith("-")
        )
        return TicketPage(items=[TicketOut.of(t) for t in page.tickets], next_cursor=page.next_cursor or None)

    return router


def _cleared(fields: dict[str, str | None], name: str) -> str | None:
    """In an assign body, a field left out keeps its value and an explicit null clears it."""
    if name not in fields:
        return None
    return fields[name] or ""
