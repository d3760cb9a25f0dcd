"""/v1/sla/policies: which targets a ticket gets, by the first policy whose conditions it matches."""

from __future__ import annotations

from fastapi import Response

from helpline.paging import DEFAULT_PAGE_SIZE, Cursor, Limit, paged
from helpline.rest import Caller, ProblemError, admits, resource_router
from helpline.roles import Access
from services.sla.api.order import policy_order
from services.sla.api.rest.common import MISSING, Configuration, ResourceId, created, not_found, put, refusals
from services.sla.api.schemas import PolicyIn, PolicyOut, PolicyPage

router = resource_router(prefix="/v1/sla/policies", tags=["sla policies"])


@router.put(
    "/{policy_id}",
    openapi_extra=admits(Access.CONFIGURE),
    response_model=PolicyOut,
    responses=put(PolicyOut, "policy"),
)
def put_policy(
    policy_id: ResourceId, body: PolicyIn, caller: Caller, config: Configuration, response: Response
) -> PolicyOut:
    """Create a policy or replace it whole; fields left out take their defaults. Tickets already
    running keep the targets they were given until their policy is selected again."""
    with refusals():
        policy = body.to_policy(policy_id)
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


@router.get("/{policy_id}", openapi_extra=admits(Access.READ), response_model=PolicyOut, responses=MISSING)
def get_policy(policy_id: ResourceId, caller: Caller, config: Configuration) -> PolicyOut:
    policy = config.policy(caller.tenant_id, policy_id)
    if policy is None:
        raise not_found("policy", policy_id)
    return PolicyOut.of(policy)


@router.delete(
    "/{policy_id}",
    openapi_extra=admits(Access.CONFIGURE),
    status_code=204,
    response_class=Response,
    responses={204: {"description": "The policy is gone."}, **MISSING},
)
def delete_policy(policy_id: ResourceId, caller: Caller, config: Configuration) -> Response:
    """Tickets it applies to keep their targets; they take another policy's when next updated."""
    if not config.delete_policy(caller.tenant_id, policy_id):
        raise not_found("policy", policy_id)
    return Response(status_code=204)


@router.get("", openapi_extra=admits(Access.READ), response_model=PolicyPage)
def list_policies(
    caller: Caller, config: Configuration, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = ""
) -> PolicyPage:
    """Policies in evaluation order: the first whose conditions match a ticket applies."""
    found = paged(config.policies(caller.tenant_id), policy_order, limit, cursor)
    return PolicyPage(items=[PolicyOut.of(p) for p in found.items], next_cursor=found.next_cursor or None)
