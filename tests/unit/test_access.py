"""Every operation of every service names its class of access, and the classes admit the roles
helpline.roles says: read from the OpenAPI documents and the gRPC descriptors themselves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from helpline.grpc import admitted_by
from helpline.roles import ADMITS, Access, Role, admitted, agent_refusal, refusal
from helpline.v1 import options_pb2, router_service_pb2, sla_service_pb2, ticket_service_pb2
from services.router.api import rest as router_rest
from services.sla.api import rest as sla_rest
from services.tickets.api import rest as tickets_rest

SERVICES = (router_service_pb2, ticket_service_pb2, sla_service_pb2)


def _routes() -> Iterator[tuple[str, dict[str, Any]]]:
    app = FastAPI()
    # Only the routes: the document is read without serving a request, so nothing is provided.
    for api in (router_rest.api, sla_rest.api, tickets_rest.api):
        app.include_router(api)
    for path, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def _rpcs() -> Iterator[tuple[str, str]]:
    for module in SERVICES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield (
                    f"/{service.full_name}/{method.name}",
                    method.GetOptions().Extensions[options_pb2.access],
                )


def test_every_route_names_its_class_of_access_and_the_roles_it_admits() -> None:
    routes = dict(_routes())
    assert len(routes) == 39
    classes = {access.value for access in Access}
    assert [name for name, op in routes.items() if op.get("x-access") not in classes] == []
    wrong = [name for name, op in routes.items() if op["x-roles"] != sorted(ADMITS[Access(op["x-access"])])]
    assert wrong == []


def test_every_rpc_names_its_class_of_access() -> None:
    rpcs = dict(_rpcs())
    assert len(rpcs) == 29
    assert [name for name, access in rpcs.items() if access not in {a.value for a in Access}] == []
    assert all(admitted_by(name) for name in rpcs)


def test_configuration_is_the_admins_and_the_channels_cannot_act_as_agents() -> None:
    routes = dict(_routes())
    assert routes["PUT /v1/queues/{queue_id}"]["x-roles"] == ["admin"]
    assert routes["DELETE /v1/sla/policies/{policy_id}"]["x-roles"] == ["admin"]
    assert routes["PUT /v1/settings/surveys"]["x-roles"] == ["admin"]
    assert routes["GET /v1/settings/surveys"]["x-roles"] == ["admin", "agent", "reader", "supervisor"]
    assert admitted_by("/helpline.v1.RouterService/SetAgentStatus") == {
        Role.ADMIN,
        Role.SUPERVISOR,
        Role.AGENT,
    }
    assert admitted_by("/helpline.v1.RouterService/SubmitContact") == {Role.ADMIN, Role.GATEWAY}
    assert Role.GATEWAY not in admitted_by("/helpline.v1.TicketService/ListTickets")


@pytest.mark.parametrize("access", [None, "", "everything", "CONFIGURE"])
def test_an_operation_of_no_known_class_admits_no_role(access: str | None) -> None:
    assert admitted(access) == frozenset()
    assert admitted_by("/helpline.v1.RouterService/NoSuchRpc") == frozenset()


def test_a_refusal_names_the_role_and_what_the_operation_takes() -> None:
    assert refusal(Role.ADMIN, ADMITS[Access.CONFIGURE], "PUT /v1/queues/{queue_id}") is None
    why = refusal(Role.AGENT, ADMITS[Access.CONFIGURE], "PUT /v1/queues/{queue_id}")
    assert why == "a key of role agent cannot PUT /v1/queues/{queue_id}; it takes admin"
    assert "takes no role" in str(refusal(Role.ADMIN, frozenset(), "call Nothing"))


def test_an_agents_key_acts_for_its_own_agent_only() -> None:
    assert agent_refusal(Role.AGENT, "ann", "ann") is None
    assert agent_refusal(Role.AGENT, "ann", "bob") == "this key acts for agent 'ann' only, not 'bob'"
    assert agent_refusal(Role.SUPERVISOR, None, "bob") is None
