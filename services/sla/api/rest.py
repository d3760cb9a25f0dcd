"""The SLA service's REST API under /v1/sla: policies and calendars, each created or replaced whole
by a PUT to its id, read, listed a page at a time and deleted; and a ticket's SLA status, as gRPC
GetTicketSlaStatus gives it. API-key auth gives the tenant, and errors are problem+json.

Refusals map to statuses here: a policy or calendar the domain refuses is 422 with its `rule`, the
facts of the refusal and the body field at fault (`location`); so is a policy naming a calendar
the tenant does not have (`unknown_calendar`). Deleting a calendar a policy names is 409
(`calendar_in_use`). A PUT answers 201 when it created the resource and 200 when it replaced it.

A policy's calendar is checked and a calendar's users are looked up just before the write, not in
one transaction with it, so a policy saved at the same moment its calendar is deleted can name a
missing calendar; the engine then refuses that policy's business targets (`unknown_calendar`)
until the calendar is created again.

No `from __future__ import annotations`: FastAPI reads the route signatures at runtime, and the
`Caller` alias is local to `build_router`, out of reach of string annotations.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from helpline.auth import ApiKeyStore, Principal
from helpline.clock import Clock
from helpline.domain import DomainError
from helpline.paging import DEFAULT_PAGE_SIZE, Cursor, Limit, paged
from helpline.rest import (
    ProblemError,
    admits,
    authorized_router,
    problem_responses,
)
from helpline.roles import Access
from services.sla.api.order import calendar_order, policy_order
from services.sla.api.schemas import (
    ID_PATTERN,
    TICKET_ID_PATTERN,
    CalendarIn,
    CalendarOut,
    CalendarPage,
    PolicyIn,
    PolicyOut,
    PolicyPage,
    TicketSlaOut,
)
from services.sla.domain import engine
from services.sla.domain.calendar import Calendar
from services.sla.domain.model import SlaError
from services.sla.ticket_slas import TicketSlas

ResourceId = Annotated[str, Path(pattern=ID_PATTERN)]
TicketId = Annotated[str, Path(pattern=TICKET_ID_PATTERN)]


@contextmanager
def refusals() -> Iterator[None]:
    """The domain's refusals of a policy or calendar as 422 problems."""
    try:
        yield
    except DomainError as exc:
        raise ProblemError(422, "Invalid request", exc.message, rule=exc.rule, **exc.detail) from exc


def not_found(kind: str, item_id: str) -> ProblemError:
    return ProblemError(404, "Not Found", f"no {kind} {item_id}", kind=kind, id=item_id)


def created(response: Response, existed: bool, location: str) -> None:
    if not existed:
        response.status_code = 201
        response.headers["Location"] = location


def build_router(
    tickets: Callable[[], TicketSlas], keys: Callable[[], ApiKeyStore], clock: Clock
) -> APIRouter:
    api, resolve = authorized_router(keys, prefix="/v1/sla")
    Caller = Annotated[Principal, Depends(resolve)]  # noqa: N806 -- a type alias
    missing = problem_responses({404: "Nothing with this id for this tenant."})
    invalid = {
        422: "The request is invalid: `errors` list the fields, or `rule` names the refusal (e.g. "
        "`overlapping_intervals`, `unknown_time_zone`, `duplicate_target`, `unknown_calendar`) and "
        "`location` the field."
    }

    def put(model: type[Any], what: str) -> dict[int | str, dict[str, Any]]:
        return {
            201: {"model": model, "description": f"The {what} was created."},
            **problem_responses(invalid),
        }

    # -- policies --

    @api.put(
        "/policies/{policy_id}",
        openapi_extra=admits(Access.CONFIGURE),
        tags=["sla policies"],
        response_model=PolicyOut,
        responses=put(PolicyOut, "policy"),
    )
    def put_policy(policy_id: ResourceId, body: PolicyIn, caller: Caller, response: Response) -> PolicyOut:
        """Create a policy or replace it whole; fields left out take their defaults. Tickets already
        running keep the targets they were given until their policy is selected again."""
        with refusals():
            policy = body.to_policy(policy_id)
        config = tickets().config
        if policy.calendar_id and config.calendar(caller.tenant_id, policy.calendar_id) is None:
            raise ProblemError(
                422,
                "Invalid request",
                f"no calendar {policy.calendar_id}; create it first",
                rule="unknown_calendar",
                calendar_id=policy.calendar_id,
                location="body.calendar_id",
            )
        existed = config.policy(caller.tenant_id, policy_id) is not None
        config.put_policy(caller.tenant_id, policy)
        created(response, existed, f"/v1/sla/policies/{policy_id}")
        return PolicyOut.of(policy)

    @api.get(
        "/policies/{policy_id}",
        openapi_extra=admits(Access.READ),
        tags=["sla policies"],
        response_model=PolicyOut,
        responses=missing,
    )
    def get_policy(policy_id: ResourceId, caller: Caller) -> PolicyOut:
        policy = tickets().config.policy(caller.tenant_id, policy_id)
        if policy is None:
            raise not_found("policy", policy_id)
        return PolicyOut.of(policy)

    @api.delete(
        "/policies/{policy_id}",
        openapi_extra=admits(Access.CONFIGURE),
        tags=["sla policies"],
        status_code=204,
        response_class=Response,
        responses={204: {"description": "The policy is gone."}, **missing},
    )
    def delete_policy(policy_id: ResourceId, caller: Caller) -> Response:
        """Tickets it applies to keep their targets; they take another policy's when next updated."""
        if not tickets().config.delete_policy(caller.tenant_id, policy_id):
            raise not_found("policy", policy_id)
        return Response(status_code=204)

    @api.get("/policies", openapi_extra=admits(Access.READ), tags=["sla policies"], response_model=PolicyPage)
    def list_policies(caller: Caller, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = "") -> PolicyPage:
        """Policies in evaluation order: the first whose conditions match a ticket applies."""
        found = paged(tickets().config.policies(caller.tenant_id), policy_order, limit, cursor)
        return PolicyPage(items=[PolicyOut.of(p) for p in found.items], next_cursor=found.next_cursor or None)

    # -- calendars --

    @api.put(
        "/calendars/{calendar_id}",
        openapi_extra=admits(Access.CONFIGURE),
        tags=["sla calendars"],
        response_model=CalendarOut,
        responses=put(CalendarOut, "calendar"),
    )
    def put_calendar(
        calendar_id: ResourceId, body: CalendarIn, caller: Caller, response: Response
    ) -> CalendarOut:
        """Create a calendar or replace it whole. Deadlines already set stay as they are; they
        follow the change when their metric next pauses, resumes or is retargeted."""
        with refusals():
            calendar = body.to_calendar(calendar_id)
        config = tickets().config
        existed = config.calendar(caller.tenant_id, calendar_id) is not None
        config.put_calendar(caller.tenant_id, calendar)
        created(response, existed, f"/v1/sla/calendars/{calendar_id}")
        return CalendarOut.of(calendar)

    @api.get(
        "/calendars/{calendar_id}",
        openapi_extra=admits(Access.READ),
        tags=["sla calendars"],
        response_model=CalendarOut,
        responses=missing,
    )
    def get_calendar(calendar_id: ResourceId, caller: Caller) -> CalendarOut:
        calendar = tickets().config.calendar(caller.tenant_id, calendar_id)
        if calendar is None:
            raise not_found("calendar", calendar_id)
        return CalendarOut.of(calendar)

    @api.delete(
        "/calendars/{calendar_id}",
        openapi_extra=admits(Access.CONFIGURE),
        tags=["sla calendars"],
        status_code=204,
        response_class=Response,
        responses={
            204: {"description": "The calendar is gone."},
            **missing,
            **problem_responses({409: "A policy names the calendar (`calendar_in_use`): change it first."}),
        },
    )
    def delete_calendar(calendar_id: ResourceId, caller: Caller) -> Response:
        config = tickets().config
        users = [p.policy_id for p in config.policies(caller.tenant_id) if p.calendar_id == calendar_id]
        if users:
            raise ProblemError(
                409,
                "Conflict",
                f"calendar {calendar_id} is named by policies {', '.join(users)}; change them first",
                rule="calendar_in_use",
                calendar_id=calendar_id,
                policy_ids=users,
            )
        if not config.delete_calendar(caller.tenant_id, calendar_id):
            raise not_found("calendar", calendar_id)
        return Response(status_code=204)

    @api.get(
        "/calendars", openapi_extra=admits(Access.READ), tags=["sla calendars"], response_model=CalendarPage
    )
    def list_calendars(caller: Caller, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = "") -> CalendarPage:
        stored = tickets().config.calendars(caller.tenant_id).values()
        calendars = [calendar for calendar in stored if isinstance(calendar, Calendar)]
        found = paged(calendars, calendar_order, limit, cursor)
        return CalendarPage(
            items=[CalendarOut.of(c) for c in found.items], next_cursor=found.next_cursor or None
        )

    # -- a ticket's status --

    @api.get(
        "/tickets/{ticket_id}",
        openapi_extra=admits(Access.READ),
        tags=["sla tickets"],
        response_model=TicketSlaOut,
        responses={
            **problem_responses({404: "The SLA service has seen no ticket with this id for this tenant."}),
            **problem_responses(
                {409: "A metric counts business hours of a calendar that was deleted (`unknown_calendar`)."}
            ),
        },
    )
    def get_ticket_sla(ticket_id: TicketId, caller: Caller) -> TicketSlaOut:
        """Every metric instance of the ticket: its state, deadlines and the target time left now."""
        slas = tickets()
        sla = slas.get(caller.tenant_id, ticket_id)
        if sla is None:
            raise not_found("ticket", ticket_id)
        try:
            readings = engine.status(sla, clock.now(), slas.config.calendars(caller.tenant_id))
        except SlaError as exc:
            raise ProblemError(409, "Conflict", exc.message, rule=exc.rule, **exc.detail) from exc
        return TicketSlaOut.of(sla, readings)

    return api
