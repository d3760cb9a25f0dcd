"""The router's REST admin API under /v1: skills, queues, routing profiles and agents, each created
or replaced whole by a PUT to its id, read one by one or listed. API-key auth gives the tenant, and
errors are problem+json.

Writes go through the catalog, which checks every reference, so REST and gRPC refuse alike. Its
refusals map to statuses here: an invalid configuration (InvalidConfiguration) is 422 with its
`rule`, a stale If-Match is 412, a write that kept losing races is 409. A PUT answers 201 when it
created the resource (its version is 1) and 200 when it replaced it, with the version as ETag.

No `from __future__ import annotations`: FastAPI reads the route signatures at runtime, and the
`Caller` alias is local to `build_router`, out of reach of string annotations.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Response

from helpline.auth import ApiKeyStore, Principal
from helpline.domain import NotFoundError
from helpline.optimistic import ContendedError
from helpline.paging import DEFAULT_PAGE_SIZE, Cursor, Limit, by_id, paged
from helpline.rest import (
    ProblemError,
    admits,
    authorized_router,
    etag,
    parse_if_match,
    problem_responses,
)
from helpline.roles import Access
from services.router.api.schemas import (
    ID_PATTERN,
    SKILL_PATTERN,
    AgentIn,
    AgentList,
    AgentOut,
    ProfileIn,
    ProfileList,
    ProfileOut,
    SkillIn,
    SkillList,
    SkillOut,
)
from services.router.api.schemas_queue import QueueIn, QueueList, QueueOut
from services.router.composition import Router
from services.router.domain.errors import InvalidConfiguration
from services.router.usecases.configuration import Catalog

IF_MATCH_DOC = (
    'The ETag the caller last saw (e.g. `"3"`); a stale one is a 412, and so is any on a queue that '
    "does not exist yet. Without it, a PUT replaces, and a DELETE removes, whatever is there."
)
IfMatch = Annotated[str | None, Header(max_length=64, description=IF_MATCH_DOC)]
ResourceId = Annotated[str, Path(pattern=ID_PATTERN)]
SkillPath = Annotated[str, Path(pattern=SKILL_PATTERN)]
# The catalog's rule for a stale expected version.
STALE_RULE = "version_mismatch"


@contextmanager
def refusals() -> Iterator[None]:
    """Turn the catalog's and the domain's refusals into problem responses."""
    try:
        yield
    except NotFoundError as exc:
        raise ProblemError(404, "Not Found", str(exc), kind=exc.kind, id=exc.identifier) from exc
    except InvalidConfiguration as exc:
        code, title = (412, "Precondition Failed") if exc.rule == STALE_RULE else (422, "Invalid request")
        raise ProblemError(code, title, exc.message, rule=exc.rule, **exc.detail) from exc
    except ContendedError as exc:
        raise ProblemError(409, "Conflict", str(exc), rule="contended") from exc


def listing(
    catalog: Catalog, tenant: str, kind: str, limit: int, cursor: str
) -> tuple[list[Any], str | None]:
    """A page of the tenant's configuration of a kind (skills, queues, profiles, agents), by id: the
    records, read for that page only, and the cursor of the next page (None on the last)."""
    found = paged(catalog.ids(tenant, kind), by_id, limit, cursor)
    load: Callable[[str, list[str]], list[Any]] = getattr(catalog, kind)
    return load(tenant, found.items), found.next_cursor or None


def saved(response: Response, version: int, location: str) -> None:
    """A PUT's answer: 201 and where it lives when it created the resource, the ETag always."""
    response.headers["ETag"] = etag(version)
    if version == 1:
        response.status_code = 201
        response.headers["Location"] = location


def build_router(router: Callable[[], Router], keys: Callable[[], ApiKeyStore]) -> APIRouter:
    api, resolve = authorized_router(keys, prefix="/v1")
    Caller = Annotated[Principal, Depends(resolve)]  # noqa: N806 -- a type alias
    missing = problem_responses({404: "Nothing with this id for this tenant."})
    written = problem_responses(
        {
            409: "The write kept losing races with other writes (`contended`); try again.",
            422: "The request is invalid: `errors` list the fields, or `rule` names the refusal "
            "(e.g. `unknown_skill`, `unknown_queue`, `impossible_capacity`).",
        }
    )

    def put(model: type[Any], what: str) -> dict[int | str, dict[str, Any]]:
        return {201: {"model": model, "description": f"The {what} was created."}, **written}

    # -- skills --

    @api.put(
        "/skills/{name}",
        openapi_extra=admits(Access.CONFIGURE),
        tags=["skills"],
        response_model=SkillOut,
        responses=put(SkillOut, "skill"),
    )
    def put_skill(name: SkillPath, body: SkillIn, caller: Caller, response: Response) -> SkillOut:
        """Create a skill or change its description."""
        with refusals():
            record = router().catalog.put_skill(caller.tenant_id, name, body.description)
        saved(response, record.version, f"/v1/skills/{name}")
        return SkillOut.of(record)

    @api.get(
        "/skills/{name}",
        openapi_extra=admits(Access.READ),
        tags=["skills"],
        response_model=SkillOut,
        responses=missing,
    )
    def get_skill(name: SkillPath, caller: Caller, response: Response) -> SkillOut:
        with refusals():
            record = router().catalog.skill(caller.tenant_id, name)
        response.headers["ETag"] = etag(record.version)
        return SkillOut.of(record)

    @api.get("/skills", openapi_extra=admits(Access.READ), tags=["skills"], response_model=SkillList)
    def list_skills(caller: Caller, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = "") -> SkillList:
        listed, after = listing(router().catalog, caller.tenant_id, "skills", limit, cursor)
        return SkillList(items=[SkillOut.of(r) for r in listed], next_cursor=after)

    # -- queues --

    @api.put(
        "/queues/{queue_id}",
        openapi_extra=admits(Access.CONFIGURE),
        tags=["queues"],
        response_model=QueueOut,
        responses={
            **put(QueueOut, "queue"),
            **problem_responses({412: "If-Match names a version the queue is not at."}),
        },
    )
    def put_queue(
        queue_id: ResourceId, body: QueueIn, caller: Caller, response: Response, if_match: IfMatch = None
    ) -> QueueOut:
        """Create a queue or replace its whole configuration; fields left out take their defaults."""
        expected = parse_if_match(if_match)
        with refusals():
            queue = router().catalog.put_queue(body.to_queue(caller.tenant_id, queue_id), expected)
        saved(response, queue.version, f"/v1/queues/{queue_id}")
        return QueueOut.of(queue)

    @api.get(
        "/queues/{queue_id}",
        openapi_extra=admits(Access.READ),
        tags=["queues"],
        response_model=QueueOut,
        responses=missing,
    )
    def get_queue(queue_id: ResourceId, caller: Caller, response: Response) -> QueueOut:
        with refusals():
            queue = router().catalog.queue(caller.tenant_id, queue_id)
        response.headers["ETag"] = etag(queue.version)
        return QueueOut.of(queue)

    @api.delete(
        "/queues/{queue_id}",
        openapi_extra=admits(Access.CONFIGURE),
        tags=["queues"],
        status_code=204,
        response_class=Response,
        responses={
            **missing,
            **written,
            **problem_responses({412: "If-Match names a version the queue is not at."}),
        },
    )
    def delete_queue(queue_id: ResourceId, caller: Caller, if_match: IfMatch = None) -> Response:
        """Remove a queue nothing uses any more: no agent serves it, no routing profile lists it, no
        queue overflows to it and no contact waits in it (else 422 `queue_in_use`)."""
        expected = parse_if_match(if_match)
        with refusals():
            router().catalog.remove_queue(caller.tenant_id, queue_id, expected)
        return Response(status_code=204)

    @api.get("/queues", openapi_extra=admits(Access.READ), tags=["queues"], response_model=QueueList)
    def list_queues(caller: Caller, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = "") -> QueueList:
        listed, after = listing(router().catalog, caller.tenant_id, "queues", limit, cursor)
        return QueueList(items=[QueueOut.of(q) for q in listed], next_cursor=after)

    # -- routing profiles --

    @api.put(
        "/routing-profiles/{profile_id}",
        openapi_extra=admits(Access.CONFIGURE),
        tags=["routing profiles"],
        response_model=ProfileOut,
        responses=put(ProfileOut, "routing profile"),
    )
    def put_profile(
        profile_id: ResourceId, body: ProfileIn, caller: Caller, response: Response
    ) -> ProfileOut:
        """Create a routing profile or replace it; the agents who follow it follow the change."""
        with refusals():
            record = router().catalog.put_profile(caller.tenant_id, profile_id, body.name, body.to_profile())
        saved(response, record.version, f"/v1/routing-profiles/{profile_id}")
        return ProfileOut.of(record)

    @api.get(
        "/routing-profiles/{profile_id}",
        openapi_extra=admits(Access.READ),
        tags=["routing profiles"],
        response_model=ProfileOut,
        responses=missing,
    )
    def get_profile(profile_id: ResourceId, caller: Caller, response: Response) -> ProfileOut:
        with refusals():
            record = router().catalog.profile(caller.tenant_id, profile_id)
        response.headers["ETag"] = etag(record.version)
        return ProfileOut.of(record)

    @api.get(
        "/routing-profiles",
        openapi_extra=admits(Access.READ),
        tags=["routing profiles"],
        response_model=ProfileList,
    )
    def list_profiles(caller: Caller, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = "") -> ProfileList:
        listed, after = listing(router().catalog, caller.tenant_id, "profiles", limit, cursor)
        return ProfileList(items=[ProfileOut.of(r) for r in listed], next_cursor=after)

    # -- agents --

    @api.put(
        "/agents/{agent_id}",
        openapi_extra=admits(Access.CONFIGURE),
        tags=["agents"],
        response_model=AgentOut,
        responses=put(AgentOut, "agent"),
    )
    def put_agent(agent_id: ResourceId, body: AgentIn, caller: Caller, response: Response) -> AgentOut:
        """Create an agent or replace their skills and routing profile; status, state and load are
        the router's and stay as they are."""
        with refusals():
            config = body.to_config(agent_id)
            try:
                record = router().catalog.put_agent(caller.tenant_id, config)
            except NotFoundError as exc:
                # The only thing a PUT looks up that may be missing is the profile the body names.
                raise InvalidConfiguration(
                    "unknown_profile",
                    f"no routing profile {exc.identifier}; create it first",
                    profile_id=exc.identifier,
                ) from exc
        saved(response, record.version, f"/v1/agents/{agent_id}")
        return AgentOut.of(record)

    @api.get(
        "/agents/{agent_id}",
        openapi_extra=admits(Access.READ),
        tags=["agents"],
        response_model=AgentOut,
        responses=missing,
    )
    def get_agent(agent_id: ResourceId, caller: Caller, response: Response) -> AgentOut:
        """The agent's configuration and the router's view of them: status, state and load."""
        with refusals():
            record = router().catalog.agent(caller.tenant_id, agent_id)
        response.headers["ETag"] = etag(record.version)
        return AgentOut.of(record)

    @api.get("/agents", openapi_extra=admits(Access.READ), tags=["agents"], response_model=AgentList)
    def list_agents(caller: Caller, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = "") -> AgentList:
        listed, after = listing(router().catalog, caller.tenant_id, "agents", limit, cursor)
        return AgentList(items=[AgentOut.of(r) for r in listed], next_cursor=after)

    return api
