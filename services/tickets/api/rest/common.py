"""What the tickets API's resources share: the use cases their handlers are provided with, the
headers, the refusals mapped to statuses, and a change applied to a ticket as the caller's agent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Response

from helpline.auth import Principal
from helpline.domain import NotFoundError
from helpline.optimistic import ContendedError
from helpline.rest import ProblemError, Provided, etag, parse_if_match, problem_responses
from services.tickets.api.authorship import actor_of
from services.tickets.api.schemas import TicketOut
from services.tickets.domain import commands
from services.tickets.domain.errors import DomainError, LimitReached, TransitionRefused
from services.tickets.domain.model import Actor, Ticket
from services.tickets.store import IdempotencyMismatchError
from services.tickets.usecases import PreconditionFailedError, Tickets

# The tickets' use cases, which the service's app builder provides (services.tickets.api.rest).
TICKETS: Provided[Tickets] = Provided("tickets")
UseCases = Annotated[Tickets, Depends(TICKETS.get)]

# Every ticket route's prefix and tag.
PREFIX, TAGS = "/v1/tickets", ["tickets"]


CHANGED = problem_responses(
    {
        404: "No such ticket for this tenant.",
        409: "The ticket's state refuses the change (`rule` says why).",
        412: "If-Match names a version the ticket has moved on from.",
    }
)


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


def ticket_response(response: Response, ticket: Ticket) -> TicketOut:
    response.headers["ETag"] = etag(ticket.version)
    return TicketOut.of(ticket)


def change(
    tickets: Tickets,
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
        result = tickets.change(
            caller.tenant_id, ticket_id, lambda ticket, now: decide(ticket, actor, now), expected
        )
    return ticket_response(response, result.ticket)
