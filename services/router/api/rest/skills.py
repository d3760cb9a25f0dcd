"""/v1/skills: the skills a tenant's queues require and its agents have."""

from __future__ import annotations

from fastapi import Response

from helpline.paging import DEFAULT_PAGE_SIZE, Cursor, Limit
from helpline.rest import Caller, admits, etag, resource_router
from helpline.roles import Access
from services.router.api.rest.common import MISSING, Configuration, SkillPath, listing, put, refusals, saved
from services.router.api.schemas import SkillIn, SkillList, SkillOut

router = resource_router(prefix="/v1/skills", tags=["skills"])


@router.put(
    "/{name}",
    openapi_extra=admits(Access.CONFIGURE),
    response_model=SkillOut,
    responses=put(SkillOut, "skill"),
)
def put_skill(
    name: SkillPath, body: SkillIn, caller: Caller, catalog: Configuration, response: Response
) -> SkillOut:
    """Create a skill or change its description."""
    with refusals():
        record = catalog.put_skill(caller.tenant_id, name, body.description)
    saved(response, record.version, f"/v1/skills/{name}")
    return SkillOut.of(record)


@router.get("/{name}", openapi_extra=admits(Access.READ), response_model=SkillOut, responses=MISSING)
def get_skill(name: SkillPath, caller: Caller, catalog: Configuration, response: Response) -> SkillOut:
    with refusals():
        record = catalog.skill(caller.tenant_id, name)
    response.headers["ETag"] = etag(record.version)
    return SkillOut.of(record)


@router.get("", openapi_extra=admits(Access.READ), response_model=SkillList)
def list_skills(
    caller: Caller, catalog: Configuration, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = ""
) -> SkillList:
    listed, after = listing(catalog, caller.tenant_id, "skills", limit, cursor)
    return SkillList(items=[SkillOut.of(r) for r in listed], next_cursor=after)
