"""/v1/routing-profiles: which queues an agent following the profile serves, in what order."""

from __future__ import annotations

from fastapi import Response

from helpline.paging import DEFAULT_PAGE_SIZE, Cursor, Limit
from helpline.rest import Caller, admits, etag, resource_router
from helpline.roles import Access
from services.router.api.rest.common import MISSING, Configuration, ResourceId, listing, put, refusals, saved
from services.router.api.schemas import ProfileIn, ProfileList, ProfileOut

router = resource_router(prefix="/v1/routing-profiles", tags=["routing profiles"])


@router.put(
    "/{profile_id}",
    openapi_extra=admits(Access.CONFIGURE),
    response_model=ProfileOut,
    responses=put(ProfileOut, "routing profile"),
)
def put_profile(
    profile_id: ResourceId, body: ProfileIn, caller: Caller, catalog: Configuration, response: Response
) -> ProfileOut:
    """Create a routing profile or replace it; the agents who follow it follow the change."""
    with refusals():
        record = catalog.put_profile(caller.tenant_id, profile_id, body.name, body.to_profile())
    saved(response, record.version, f"/v1/routing-profiles/{profile_id}")
    return ProfileOut.of(record)


@router.get("/{profile_id}", openapi_extra=admits(Access.READ), response_model=ProfileOut, responses=MISSING)
def get_profile(
    profile_id: ResourceId, caller: Caller, catalog: Configuration, response: Response
) -> ProfileOut:
    with refusals():
        record = catalog.profile(caller.tenant_id, profile_id)
    response.headers["ETag"] = etag(record.version)
    return ProfileOut.of(record)


@router.get("", openapi_extra=admits(Access.READ), response_model=ProfileList)
def list_profiles(
    caller: Caller, catalog: Configuration, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = ""
) -> ProfileList:
    listed, after = listing(catalog, caller.tenant_id, "profiles", limit, cursor)
    return ProfileList(items=[ProfileOut.of(r) for r in listed], next_cursor=after)
