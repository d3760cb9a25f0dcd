"""/v1/agents: an agent's skills and routing profile, and the router's view of them."""

from __future__ import annotations

from fastapi import Response

from helpline.domain import NotFoundError
from helpline.paging import DEFAULT_PAGE_SIZE, Cursor, Limit
from helpline.rest import Caller, admits, etag, resource_router
from helpline.roles import Access
from services.router.api.rest.common import MISSING, Configuration, ResourceId, listing, put, refusals, saved
from services.router.api.schemas import AgentIn, AgentList, AgentOut
from services.router.domain.errors import InvalidConfiguration

router = resource_router(prefix="/v1/agents", tags=["agents"])


@router.put(
    "/{agent_id}",
    openapi_extra=admits(Access.CONFIGURE),
    response_model=AgentOut,
    responses=put(AgentOut, "agent"),
)
def put_agent(
    agent_id: ResourceId, body: AgentIn, caller: Caller, catalog: Configuration, response: Response
) -> AgentOut:
    """Create an agent or replace their skills and routing profile; status, state and load are
    the router's and stay as they are."""
    with refusals():
        config = body.to_config(agent_id)
        try:
            record = catalog.put_agent(caller.tenant_id, config)
        except NotFoundError as exc:
            # The only thing a PUT looks up that may be missing is the profile the body names.
            raise InvalidConfiguration(
                "unknown_profile",
                f"no routing profile {exc.identifier}; create it first",
                profile_id=exc.identifier,
            ) from exc
    saved(response, record.version, f"/v1/agents/{agent_id}")
    return AgentOut.of(record)


@router.get("/{agent_id}", openapi_extra=admits(Access.READ), response_model=AgentOut, responses=MISSING)
def get_agent(agent_id: ResourceId, caller: Caller, catalog: Configuration, response: Response) -> AgentOut:
    """The agent's configuration and the router's view of them: status, state and load."""
    with refusals():
        record = catalog.agent(caller.tenant_id, agent_id)
    response.headers["ETag"] = etag(record.version)
    return AgentOut.of(record)


@router.get("", openapi_extra=admits(Access.READ), response_model=AgentList)
def list_agents(
    caller: Caller, catalog: Configuration, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = ""
) -> AgentList:
    listed, after = listing(catalog, caller.tenant_id, "agents", limit, cursor)
    return AgentList(items=[AgentOut.of(r) for r in listed], next_cursor=after)
