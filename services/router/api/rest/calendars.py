"""/v1/calendars: the business hours a queue's hours of operation follow, in the SLA calendars'
shape (helpline.calendar_schema), so one can be pasted from the SLA API into this one."""

from __future__ import annotations

from fastapi import Response

from helpline.calendar_schema import CalendarIn, CalendarOut
from helpline.paging import DEFAULT_PAGE_SIZE, Cursor, Limit
from helpline.rest import Caller, admits, etag, parse_if_match, problem_responses, resource_router
from helpline.roles import Access
from services.router.api.rest.common import (
    MISSING,
    WRITTEN,
    Configuration,
    IfMatch,
    ResourceId,
    listing,
    put,
    refusals,
    saved,
)
from services.router.api.schemas import CalendarList

router = resource_router(prefix="/v1/calendars", tags=["calendars"])
STALE = problem_responses({412: "If-Match names a version the calendar is not at."})


@router.put(
    "/{calendar_id}",
    openapi_extra=admits(Access.CONFIGURE),
    response_model=CalendarOut,
    responses={**put(CalendarOut, "calendar"), **STALE},
)
def put_calendar(
    calendar_id: ResourceId,
    body: CalendarIn,
    caller: Caller,
    catalog: Configuration,
    response: Response,
    if_match: IfMatch = None,
) -> CalendarOut:
    """Create a calendar or replace it whole. Contacts already waiting follow the change at their
    queue's next closing under the old hours at the latest."""
    expected = parse_if_match(if_match)
    with refusals():
        record = catalog.put_calendar(caller.tenant_id, body.to_calendar(calendar_id), expected)
    saved(response, record.version, f"/v1/calendars/{calendar_id}")
    return CalendarOut.of(record.calendar)


@router.get(
    "/{calendar_id}", openapi_extra=admits(Access.READ), response_model=CalendarOut, responses=MISSING
)
def get_calendar(
    calendar_id: ResourceId, caller: Caller, catalog: Configuration, response: Response
) -> CalendarOut:
    with refusals():
        record = catalog.calendar(caller.tenant_id, calendar_id)
    response.headers["ETag"] = etag(record.version)
    return CalendarOut.of(record.calendar)


@router.delete(
    "/{calendar_id}",
    openapi_extra=admits(Access.CONFIGURE),
    status_code=204,
    response_class=Response,
    responses={**MISSING, **WRITTEN, **STALE},
)
def delete_calendar(
    calendar_id: ResourceId, caller: Caller, catalog: Configuration, if_match: IfMatch = None
) -> Response:
    """Remove a calendar no queue names (else 422 `calendar_in_use`)."""
    expected = parse_if_match(if_match)
    with refusals():
        catalog.remove_calendar(caller.tenant_id, calendar_id, expected)
    return Response(status_code=204)


@router.get("", openapi_extra=admits(Access.READ), response_model=CalendarList)
def list_calendars(
    caller: Caller, catalog: Configuration, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = ""
) -> CalendarList:
    listed, after = listing(catalog, caller.tenant_id, "calendars", limit, cursor)
    return CalendarList(items=[CalendarOut.of(r.calendar) for r in listed], next_cursor=after)
