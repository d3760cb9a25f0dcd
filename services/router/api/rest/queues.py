"""/v1/queues: where contacts wait for an agent, each with its whole routing configuration."""

from __future__ import annotations

from fastapi import Response

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
from services.router.api.schemas_queue import QueueIn, QueueList, QueueOut

router = resource_router(prefix="/v1/queues", tags=["queues"])
STALE = problem_responses({412: "If-Match names a version the queue is not at."})


@router.put(
    "/{queue_id}",
    openapi_extra=admits(Access.CONFIGURE),
    response_model=QueueOut,
    responses={**put(QueueOut, "queue"), **STALE},
)
def put_queue(
    queue_id: ResourceId,
    body: QueueIn,
    caller: Caller,
    catalog: Configuration,
    response: Response,
    if_match: IfMatch = None,
) -> QueueOut:
    """Create a queue or replace its whole configuration; fields left out take their defaults."""
    expected = parse_if_match(if_match)
    with refusals():
        queue = catalog.put_queue(body.to_queue(caller.tenant_id, queue_id), expected)
    saved(response, queue.version, f"/v1/queues/{queue_id}")
    return QueueOut.of(queue)


@router.get("/{queue_id}", openapi_extra=admits(Access.READ), response_model=QueueOut, responses=MISSING)
def get_queue(queue_id: ResourceId, caller: Caller, catalog: Configuration, response: Response) -> QueueOut:
    with refusals():
        queue = catalog.queue(caller.tenant_id, queue_id)
    response.headers["ETag"] = etag(queue.version)
    return QueueOut.of(queue)


@router.delete(
    "/{queue_id}",
    openapi_extra=admits(Access.CONFIGURE),
    status_code=204,
    response_class=Response,
    responses={**MISSING, **WRITTEN, **STALE},
)
def delete_queue(
    queue_id: ResourceId, caller: Caller, catalog: Configuration, if_match: IfMatch = None
) -> Response:
    """Remove a queue nothing uses any more: no agent serves it, no routing profile lists it, no
    queue overflows to it and no contact waits in it (else 422 `queue_in_use`)."""
    expected = parse_if_match(if_match)
    with refusals():
        catalog.remove_queue(caller.tenant_id, queue_id, expected)
    return Response(status_code=204)


@router.get("", openapi_extra=admits(Access.READ), response_model=QueueList)
def list_queues(
    caller: Caller, catalog: Configuration, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = ""
) -> QueueList:
    listed, after = listing(catalog, caller.tenant_id, "queues", limit, cursor)
    return QueueList(items=[QueueOut.of(q) for q in listed], next_cursor=after)
