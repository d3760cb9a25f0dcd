"""/v1/sla/calendars: the business hours and holidays a policy's business-time targets count in."""

from __future__ import annotations

from fastapi import Response

from helpline.business_hours import Calendar
from helpline.calendar_schema import CalendarIn, CalendarOut
from helpline.paging import DEFAULT_PAGE_SIZE, Cursor, Limit, paged
from helpline.rest import Caller, ProblemError, admits, problem_responses, resource_router
from helpline.roles import Access
from services.sla.api.order import calendar_order
from services.sla.api.rest.common import MISSING, Configuration, ResourceId, created, not_found, put, refusals
from services.sla.api.schemas import CalendarPage

router = resource_router(prefix="/v1/sla/calendars", tags=["sla calendars"])


@router.put(
    "/{calendar_id}",
    openapi_extra=admits(Access.CONFIGURE),
    response_model=CalendarOut,
    responses=put(CalendarOut, "calendar"),
)
def put_calendar(
    calendar_id: ResourceId, body: CalendarIn, caller: Caller, config: Configuration, response: Response
) -> CalendarOut:
    """Create a calendar or replace it whole. Deadlines already set stay as they are; they
    follow the change when their metric next pauses, resumes or is retargeted."""
    with refusals():
        calendar = body.to_calendar(calendar_id)
    existed = config.calendar(caller.tenant_id, calendar_id) is not None
    config.put_calendar(caller.tenant_id, calendar)
    created(response, existed, f"/v1/sla/calendars/{calendar_id}")
    return CalendarOut.of(calendar)


@router.get(
    "/{calendar_id}", openapi_extra=admits(Access.READ), response_model=CalendarOut, responses=MISSING
)
def get_calendar(calendar_id: ResourceId, caller: Caller, config: Configuration) -> CalendarOut:
    calendar = config.calendar(caller.tenant_id, calendar_id)
    if calendar is None:
        raise not_found("calendar", calendar_id)
    return CalendarOut.of(calendar)


@router.delete(
    "/{calendar_id}",
    openapi_extra=admits(Access.CONFIGURE),
    status_code=204,
    response_class=Response,
    responses={
        204: {"description": "The calendar is gone."},
        **MISSING,
        **problem_responses({409: "A policy names the calendar (`calendar_in_use`): change it first."}),
    },
)
def delete_calendar(calendar_id: ResourceId, caller: Caller, config: Configuration) -> Response:
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


@router.get("", openapi_extra=admits(Access.READ), response_model=CalendarPage)
def list_calendars(
    caller: Caller, config: Configuration, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = ""
) -> CalendarPage:
    stored = config.calendars(caller.tenant_id).values()
    calendars = [calendar for calendar in stored if isinstance(calendar, Calendar)]
    found = paged(calendars, calendar_order, limit, cursor)
    return CalendarPage(items=[CalendarOut.of(c) for c in found.items], next_cursor=found.next_cursor or None)
