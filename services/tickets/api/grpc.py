"""The tickets gRPC API, `helpline.v1.TicketService`.

Every RPC is a `Tickets` use case for the tenant of the caller's API key, deciding with the pure
domain commands; another tenant's ticket is simply not found. Refusals become status codes in one
place (`_refusal`), and every status's details start with the rule that refused, e.g.
`closed_only_from_solved: ticket ... is open; only a solved ticket can be closed`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import grpc

from helpline.auth import require_principal
from helpline.domain import NotFoundError, new_id
from helpline.grpc import Refusal, answers_refusals
from helpline.optimistic import ContendedError
from helpline.v1 import ticket_service_pb2 as pb
from helpline.v1 import ticket_service_pb2_grpc
from services.tickets.api.authorship import AuthorshipError, actor_of, comment_author
from services.tickets.domain import commands
from services.tickets.domain.commands.creation import NewTicket
from services.tickets.domain.commands.outcome import Outcome
from services.tickets.domain.convert import (
    author_type_from_proto,
    channel_from_proto,
    comment_to_proto,
    department_from_proto,
    priority_from_proto,
    status_from_proto,
    tier_from_proto,
    to_proto,
    type_from_proto,
)
from services.tickets.domain.errors import InvalidCommand, LimitReached, TransitionRefused
from services.tickets.domain.model import (
    Actor,
    AuthorType,
    Comment,
    Department,
    Priority,
    Status,
    Ticket,
    TicketType,
    Tier,
)
from services.tickets.store import (
    COMMENT_PAGE_DEFAULT,
    COMMENT_PAGE_MAX,
    IdempotencyMismatchError,
    ListFilter,
    VersionConflictError,
    decode_comment_cursor,
    decode_cursor,
)
from services.tickets.usecases import Changed, PreconditionFailedError, Tickets

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TicketService"].full_name
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

Decide = Callable[[Ticket, Actor, datetime], Outcome]

# update_mask path -> the value `commands.update_fields` takes under the same name, read from the
# request's Ticket. Status and assignee have RPCs of their own; the Ticket message has no
# description (the description is the first comment), so neither is a path here.
_UPDATABLE: Mapping[str, Callable[[pb.Ticket], object]] = {
    "subject": lambda ticket: ticket.subject,
    "type": lambda ticket: type_from_proto(ticket.type),
    "priority": lambda ticket: priority_from_proto(ticket.priority),
    "requester_id": lambda ticket: ticket.requester_id,
    "group_id": lambda ticket: ticket.group_id,
    "tags": lambda ticket: tuple(ticket.tags),
    "custom_fields": lambda ticket: dict(ticket.custom_fields),
}


# -- refusals as status codes ------------------------------------------------------------------


def _refusal(exc: Exception) -> Refusal | None:
    """The status of an exception the use cases raise on purpose; None for anything else (a bug
    or an outage), which gRPC reports as UNKNOWN with the exception logged."""
    if isinstance(exc, TransitionRefused | LimitReached):
        return Refusal(grpc.StatusCode.FAILED_PRECONDITION, exc.rule, exc.message)
    if isinstance(exc, InvalidCommand):
        return Refusal(grpc.StatusCode.INVALID_ARGUMENT, exc.rule, exc.message)
    if isinstance(exc, NotFoundError):
        return Refusal(grpc.StatusCode.NOT_FOUND, "ticket_not_found", str(exc))
    if isinstance(exc, PreconditionFailedError):
        return Refusal(grpc.StatusCode.ABORTED, "version_mismatch", str(exc))
    if isinstance(exc, ContendedError | VersionConflictError):
        # Another writer won the race; the caller reads again and retries, as ABORTED asks.
        return Refusal(grpc.StatusCode.ABORTED, "contended", str(exc))
    if isinstance(exc, AuthorshipError):
        return Refusal(grpc.StatusCode.PERMISSION_DENIED, "author_not_the_keys", str(exc))
    if isinstance(exc, IdempotencyMismatchError):
        # The caller's own id is taken (by another request), the case ALREADY_EXISTS names; unlike
        # FAILED_PRECONDITION, no change to the ticket can make the call succeed: only a new id.
        return Refusal(
            grpc.StatusCode.ALREADY_EXISTS,
            "request_id_reused",
            f"request_id {exc} was used before with a different request; choose a new one",
        )
    return None


_answers_refusals = answers_refusals(_refusal)


# -- request reading -------------------------------------------------------------------------------


def _caller() -> tuple[str, Actor]:
    """The caller's tenant, and who its key acts as (services.tickets.api.authorship)."""
    principal = require_principal()
    return principal.tenant_id, actor_of(principal)


def _required(value: str, name: str) -> str:
    if not value:
        raise InvalidCommand(f"{name}_required", f"{name} is required")
    return value


def _pinned(expected_version: int) -> int | None:
    if expected_version < 0:
        raise InvalidCommand("invalid_expected_version", "expected_version is a ticket version, or 0")
    return expected_version or None


def _fingerprint(request: pb.CreateTicketRequest) -> str:
    """The request without its request_id, hashed: a retry matches it, another request does not."""
    body = pb.CreateTicketRequest()
    body.CopyFrom(request)
    body.ClearField("request_id")
    return hashlib.sha256(body.SerializeToString(deterministic=True)).hexdigest()


def _new_ticket(tenant: str, request: pb.CreateTicketRequest) -> NewTicket:
    return NewTicket(
        tenant_id=tenant,
        subject=request.subject,
        description=request.description,
        requester_id=request.requester_id,
        channel=channel_from_proto(request.channel),
        type=type_from_proto(request.type, TicketType.QUESTION),
        priority=priority_from_proto(request.priority, Priority.NORMAL),
        department=department_from_proto(request.department, Department.SERVICE),
        tier=tier_from_proto(request.tier, Tier.L1),
        group_id=request.group_id,
        assignee_id=request.assignee_id,
        tags=tuple(request.tags),
        custom_fields=dict(request.custom_fields),
        contact_id=request.contact_id,
    )


def _list_filter(request: pb.ListTicketsRequest) -> ListFilter:
    statuses = sorted({status_from_proto(value).value for value in request.statuses})
    if len(statuses) > 1:
        # Each status is its own index; a union of them would need a merge across pages.
        raise InvalidCommand("one_status_per_list", f"filter by one status at a time, not {statuses}")
    return ListFilter(
        statuses=tuple(statuses),
        assignee_id=request.assignee_id,
        group_id=request.group_id,
        requester_id=request.requester_id,
        department=department_from_proto(request.department).value if request.department else "",
    )


def _page_size(requested: int, default: int = DEFAULT_PAGE_SIZE, most: int = MAX_PAGE_SIZE) -> int:
    if requested < 0:
        raise InvalidCommand("invalid_page_size", f"page_size {requested} is negative")
    return min(requested or default, most)


def _page_token(token: str, decode: Callable[[str], object] = decode_cursor) -> str:
    try:
        decode(token)
    except ValueError as exc:
        raise InvalidCommand("invalid_page_token", "page_token is not one this API returned") from exc
    return token


def _field_changes(request: pb.UpdateTicketRequest) -> dict[str, Any]:
    paths = list(request.update_mask.paths)
    if not paths:
        raise InvalidCommand("update_mask_required", "name the fields to change in update_mask")
    unknown = sorted(set(paths) - set(_UPDATABLE))
    if unknown:
        raise InvalidCommand(
            "unknown_update_path",
            f"update_mask paths {unknown} cannot be updated; use {sorted(_UPDATABLE)}",
        )
    return {path: _UPDATABLE[path](request.ticket) for path in paths}


def _derived_id(kind: str, ticket_id: str, request_id: str) -> str:
    """The same id for every retry of one request, so a retry finds what the first call made."""
    return hashlib.sha256(f"{kind}\n{ticket_id}\n{request_id}".encode()).hexdigest()[:32]


# -- AddComment, idempotent by request_id --------------------------------------------------------


class _CommentOnce:
    """A `Tickets.change` decision that adds the comment, unless an earlier call with the same
    request_id already did; then it changes nothing and `earlier` holds what that call made.

    Without a request_id every call is a new comment. With one, the comment (and a follow-up ticket,
    for a customer reply to a closed ticket) get ids derived from it, and the check runs inside the
    decision: a concurrent retry that commits first bumps the version, so this one is decided again
    and finds it. The earlier comment is looked up by its id (the store keeps each comment's
    position), never by reading the ticket's comments, so a retry costs the same on any ticket; and
    a retry of the comment that filled the ticket still answers with it.
    """

    def __init__(self, tickets: Tickets, tenant: str, request: pb.AddCommentRequest, author: Actor) -> None:
        self.tickets = tickets
        self.tenant = tenant
        self.request = request
        self.author = author
        request_id = request.request_id
        if request_id:
            self.comment_id = _derived_id("comment", request.ticket_id, request_id)
            self.follow_up_id = _derived_id("follow_up", request.ticket_id, request_id)
        else:
            self.comment_id, self.follow_up_id = new_id(), new_id()
        self.earlier: Changed | None = None

    def __call__(self, ticket: Ticket, now: datetime) -> Outcome:
        self.earlier = self._earlier(ticket) if self.request.request_id else None
        if self.earlier is not None:
            return Outcome(ticket)
        return commands.add_comment(
            ticket,
            self.request.body,
            self.author,
            now,
            comment_id=self.comment_id,
            public=self.request.public,
            contact_id=self.request.contact_id,
            follow_up_id=self.follow_up_id,
        )

    def _earlier(self, ticket: Ticket) -> Changed | None:
        comment = self._find(ticket.ticket_id)
        if comment is not None:
            return Changed(ticket, comment)
        if ticket.status is not Status.CLOSED:
            return None
        try:
            follow_up = self.tickets.get(self.tenant, self.follow_up_id)
        except NotFoundError:
            return None
        return Changed(ticket, self._find(follow_up.ticket_id), follow_up)

    def _find(self, ticket_id: str) -> Comment | None:
        found = self.tickets.find_comment(self.tenant, ticket_id, self.comment_id)
        if found is not None and not self._same_request(found):
            raise IdempotencyMismatchError(self.request.request_id)
        return found

    def _same_request(self, comment: Comment) -> bool:
        asked = self.request
        return (comment.body, comment.public, comment.author, comment.contact_id) == (
            asked.body,
            asked.public,
            self.author,
            asked.contact_id,
        )


# -- the service -----------------------------------------------------------------------------------


class TicketServicer(ticket_service_pb2_grpc.TicketServiceServicer):
    def __init__(self, tickets: Callable[[], Tickets]) -> None:
        self._tickets = tickets

    @_answers_refusals
    def CreateTicket(  # noqa: N802 -- the generated base class names the methods after the RPCs
        self, request: pb.CreateTicketRequest, context: grpc.ServicerContext
    ) -> pb.CreateTicketResponse:
        tenant, actor = _caller()
        draft = _new_ticket(tenant, request)
        # A fresh comment id each call: on a retry the store answers with the first ticket anyway.
        comment_id = new_id()
        result = self._tickets().create(
            lambda ticket_id, now: commands.create(
                draft, actor, now, ticket_id=ticket_id, comment_id=comment_id
            ),
            idempotency_key=request.request_id,
            fingerprint=_fingerprint(request),
        )
        return pb.CreateTicketResponse(ticket=to_proto(result.ticket))

    @_answers_refusals
    def GetTicket(  # noqa: N802
        self, request: pb.GetTicketRequest, context: grpc.ServicerContext
    ) -> pb.GetTicketResponse:
        tenant, _ = _caller()
        ticket_id = _required(request.ticket_id, "ticket_id")
        ticket = self._tickets().get(tenant, ticket_id)
        if not request.include_comments:
            return pb.GetTicketResponse(ticket=to_proto(ticket))
        page = self._tickets().comments(tenant, ticket_id, page_size=COMMENT_PAGE_DEFAULT)
        return pb.GetTicketResponse(
            ticket=to_proto(ticket),
            comments=[comment_to_proto(comment) for comment in page.comments],
            next_comments_page_token=page.next_cursor,
        )

    @_answers_refusals
    def ListComments(  # noqa: N802
        self, request: pb.ListCommentsRequest, context: grpc.ServicerContext
    ) -> pb.ListCommentsResponse:
        tenant, _ = _caller()
        ticket_id = _required(request.ticket_id, "ticket_id")
        page = self._tickets().comments(
            tenant,
            ticket_id,
            page_size=_page_size(request.page_size, COMMENT_PAGE_DEFAULT, COMMENT_PAGE_MAX),
            cursor=_page_token(request.page_token, lambda token: decode_comment_cursor(token, ticket_id)),
        )
        return pb.ListCommentsResponse(
            comments=[comment_to_proto(comment) for comment in page.comments],
            next_page_token=page.next_cursor,
        )

    @_answers_refusals
    def ListTickets(  # noqa: N802
        self, request: pb.ListTicketsRequest, context: grpc.ServicerContext
    ) -> pb.ListTicketsResponse:
        tenant, _ = _caller()
        page = self._tickets().list_tickets(
            tenant,
            _list_filter(request),
            page_size=_page_size(request.page_size),
            cursor=_page_token(request.page_token),
            descending=True,
        )
        return pb.ListTicketsResponse(
            tickets=[to_proto(ticket) for ticket in page.tickets], next_page_token=page.next_cursor
        )

    @_answers_refusals
    def UpdateTicket(  # noqa: N802
        self, request: pb.UpdateTicketRequest, context: grpc.ServicerContext
    ) -> pb.UpdateTicketResponse:
        changes = _field_changes(request)
        ticket = self._change(
            request.ticket.ticket_id,
            request.expected_version,
            lambda current, actor, now: commands.update_fields(current, actor, now, **changes),
        )
        return pb.UpdateTicketResponse(ticket=ticket)

    @_answers_refusals
    def TransitionTicket(  # noqa: N802
        self, request: pb.TransitionTicketRequest, context: grpc.ServicerContext
    ) -> pb.TransitionTicketResponse:
        to = status_from_proto(request.to_status)
        tenant, actor = _caller()
        changed = self._tickets().transition(
            tenant,
            _required(request.ticket_id, "ticket_id"),
            to,
            actor,
            expected_version=_pinned(request.expected_version),
        )
        return pb.TransitionTicketResponse(ticket=to_proto(changed.ticket))

    @_answers_refusals
    def AssignTicket(  # noqa: N802
        self, request: pb.AssignTicketRequest, context: grpc.ServicerContext
    ) -> pb.AssignTicketResponse:
        ticket = self._change(
            request.ticket_id,
            request.expected_version,
            lambda current, actor, now: commands.assign(
                current, actor, now, assignee_id=request.assignee_id, group_id=request.group_id or None
            ),
        )
        return pb.AssignTicketResponse(ticket=ticket)

    @_answers_refusals
    def AddComment(  # noqa: N802
        self, request: pb.AddCommentRequest, context: grpc.ServicerContext
    ) -> pb.AddCommentResponse:
        principal = require_principal()
        tenant = principal.tenant_id
        author = comment_author(
            principal, author_type_from_proto(request.author_type, AuthorType.AGENT), request.author_id
        )
        tickets = self._tickets()
        decide = _CommentOnce(tickets, tenant, request, author)
        changed = tickets.change(tenant, _required(request.ticket_id, "ticket_id"), decide)
        made = decide.earlier or changed
        if made.comment is None:  # pragma: no cover -- add_comment always makes one, or refuses
            raise RuntimeError(f"no comment for request {request.request_id!r}")
        return pb.AddCommentResponse(
            comment=comment_to_proto(made.comment), ticket=to_proto(made.follow_up or made.ticket)
        )

    @_answers_refusals
    def EscalateTicket(  # noqa: N802
        self, request: pb.EscalateTicketRequest, context: grpc.ServicerContext
    ) -> pb.EscalateTicketResponse:
        to_tier = tier_from_proto(request.to_tier)
        ticket = self._change(
            request.ticket_id,
            request.expected_version,
            lambda current, actor, now: commands.escalate(
                current, to_tier, actor, now, group_id=request.group_id or None, reason=request.reason
            ),
        )
        return pb.EscalateTicketResponse(ticket=ticket)

    @_answers_refusals
    def HandOffTicket(  # noqa: N802
        self, request: pb.HandOffTicketRequest, context: grpc.ServicerContext
    ) -> pb.HandOffTicketResponse:
        to_department = department_from_proto(request.to_department)
        ticket = self._change(
            request.ticket_id,
            request.expected_version,
            lambda current, actor, now: commands.hand_off(
                current, to_department, actor, now, group_id=request.group_id, reason=request.reason
            ),
        )
        return pb.HandOffTicketResponse(ticket=ticket)

    @_answers_refusals
    def LinkContact(  # noqa: N802
        self, request: pb.LinkContactRequest, context: grpc.ServicerContext
    ) -> pb.LinkContactResponse:
        ticket = self._change(
            request.ticket_id,
            request.expected_version,
            lambda current, actor, now: commands.link_contact(current, request.contact_id, actor, now),
        )
        return pb.LinkContactResponse(ticket=ticket)

    def _change(self, ticket_id: str, expected_version: int, decide: Decide) -> pb.Ticket:
        """Apply a command by the caller's agent to one of the caller's tenant's tickets."""
        tenant, actor = _caller()
        changed = self._tickets().change(
            tenant,
            _required(ticket_id, "ticket_id"),
            lambda ticket, now: decide(ticket, actor, now),
            expected_version=_pinned(expected_version),
        )
        return to_proto(changed.ticket)


def registration(tickets: Callable[[], Tickets]) -> Callable[[grpc.Server], None]:
    """What `ServiceRuntime.add_grpc` calls to add the servicer to its server."""

    def register(server: grpc.Server) -> None:
        ticket_service_pb2_grpc.add_TicketServiceServicer_to_server(TicketServicer(tickets), server)

    return register
