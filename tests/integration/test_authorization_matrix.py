"""Every role against every class of operation, on the router, tickets and SLA services as processes:
a key whose role the operation's class does not admit gets 403 / PERMISSION_DENIED naming its role,
and one it admits gets past authorization (whatever the operation then answers); an agent's key
acts for its own agent only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass

import grpc
import httpx
import pytest
import redis

from helpline.auth import ApiKeyStore
from helpline.roles import ADMITS, ROLES, Access, Role
from helpline.v1 import (
    router_service_pb2,
    router_service_pb2_grpc,
    sla_service_pb2,
    sla_service_pb2_grpc,
    ticket_service_pb2,
    ticket_service_pb2_grpc,
)
from tests.integration.service_process import ServiceProcess, running, service_env
from tests.stack_provider import Endpoints

SERVICES = ("router", "tickets", "sla")
AGENT = "ann"


@dataclass(frozen=True)
class Services:
    processes: dict[str, ServiceProcess]
    # The keys of the services' pepper.
    keys: ApiKeyStore


@pytest.fixture(scope="module")
def services(stack: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    pepper = "matrix-pepper"
    folder = tmp_path_factory.mktemp("matrix")
    with ExitStack() as started, closing(redis.Redis.from_url(stack.redis_url)) as client:
        processes = {
            name: started.enter_context(
                running(
                    name,
                    service_env(name, stack.redis_url, stack.kafka_bootstrap, pepper),
                    folder / f"{name}.log",
                )
            )
            for name in SERVICES
        }
        yield Services(processes, ApiKeyStore(client, pepper=pepper))


# A call answers whether the key was refused for its role, and the status it got: an HTTP status,
# or a gRPC code's name. Only a refusal for the role counts: an admitted key may still be refused
# what it asked (a comment written as another author, services/tickets/api/authorship.py).
Call = Callable[[str], tuple[bool, str]]
ROLE_REFUSED = "a key of role "


@dataclass(frozen=True)
class Operation:
    name: str
    access: Access
    call: Call


def _rest(method: str, url: str, json: object = None) -> Call:
    def call(key: str) -> tuple[bool, str]:
        answer = httpx.request(method, url, json=json, headers={"X-API-Key": key}, timeout=15)
        refused = answer.status_code == 403 and answer.json()["detail"].startswith(ROLE_REFUSED)
        return refused, str(answer.status_code)

    return call


def _rpc(method: Callable[..., object], request: object) -> Call:
    def call(key: str) -> tuple[bool, str]:
        try:
            method(request, metadata=(("x-api-key", key),), timeout=15)
        except grpc.RpcError as error:
            refused = error.code() is grpc.StatusCode.PERMISSION_DENIED and (
                error.details() or ""
            ).startswith(ROLE_REFUSED)
            return refused, error.code().name
        return False, "OK"

    return call


def _operations(processes: dict[str, ServiceProcess], channels: dict[str, grpc.Channel]) -> list[Operation]:
    router, tickets, sla = (f"http://127.0.0.1:{processes[name].port}" for name in SERVICES)
    routing = router_service_pb2_grpc.RouterServiceStub(channels["router"])
    ticketing = ticket_service_pb2_grpc.TicketServiceStub(channels["tickets"])
    slas = sla_service_pb2_grpc.SlaServiceStub(channels["sla"])
    r, t, s = router_service_pb2, ticket_service_pb2, sla_service_pb2
    return [
        Operation("PUT a skill", Access.CONFIGURE, _rest("PUT", f"{router}/v1/skills/billing", {})),
        Operation("list queues", Access.READ, _rest("GET", f"{router}/v1/queues")),
        Operation("PUT a calendar", Access.CONFIGURE, _rest("PUT", f"{sla}/v1/sla/calendars/c1", {})),
        Operation("list SLA policies", Access.READ, _rest("GET", f"{sla}/v1/sla/policies")),
        Operation("open a ticket", Access.TICKET_INTAKE, _rest("POST", f"{tickets}/v1/tickets", {})),
        Operation("change a ticket", Access.TICKET_WORK, _rest("PATCH", f"{tickets}/v1/tickets/t1", {})),
        Operation("list tickets", Access.READ, _rest("GET", f"{tickets}/v1/tickets")),
        Operation("submit a contact", Access.INTAKE, _rpc(routing.SubmitContact, r.SubmitContactRequest())),
        Operation(
            "set the agent's status",
            Access.AGENT_DESK,
            _rpc(routing.SetAgentStatus, r.SetAgentStatusRequest(agent_id=AGENT)),
        ),
        Operation(
            "a queue's status", Access.QUEUE_STATUS, _rpc(routing.GetQueueStatus, r.GetQueueStatusRequest())
        ),
        Operation(
            "comment on a ticket", Access.TICKET_INTAKE, _rpc(ticketing.AddComment, t.AddCommentRequest())
        ),
        Operation(
            "assign a ticket", Access.TICKET_WORK, _rpc(ticketing.AssignTicket, t.AssignTicketRequest())
        ),
        Operation("list tickets", Access.READ, _rpc(ticketing.ListTickets, t.ListTicketsRequest())),
        Operation("list SLA policies", Access.READ, _rpc(slas.ListPolicies, s.ListPoliciesRequest())),
    ]


UNAUTHENTICATED = {"401", "UNAUTHENTICATED"}


def test_each_role_gets_past_authorization_exactly_where_its_operations_class_admits_it(
    services: Services, unique: str
) -> None:
    processes, store = services.processes, services.keys
    tenant = f"matrix{unique}"
    keys = {
        role: store.create(tenant, role.value, role=role, agent_id=AGENT if role is Role.AGENT else None)[1]
        for role in ROLES
    }
    channels = {name: grpc.insecure_channel(f"127.0.0.1:{processes[name].grpc_port}") for name in SERVICES}
    try:
        wrong = []
        operations = _operations(processes, channels)
        assert {operation.access for operation in operations} == set(Access)
        for operation in operations:
            for role in ROLES:
                refused, answer = operation.call(keys[role])
                admitted = role in ADMITS[operation.access]
                if answer in UNAUTHENTICATED or refused == admitted:
                    wrong.append(f"{role} {operation.name}: {answer}, admitted: {admitted}")
        assert wrong == []
    finally:
        for channel in channels.values():
            channel.close()


def test_a_refusal_says_which_role_was_refused_and_which_roles_the_operation_takes(
    services: Services, unique: str
) -> None:
    processes, store = services.processes, services.keys
    tenant = f"matrix{unique}"
    desk = store.create(tenant, "desk", role=Role.AGENT, agent_id=AGENT)[1]
    router = processes["router"]
    refused = httpx.put(
        f"http://127.0.0.1:{router.port}/v1/queues/q1", json={}, headers={"X-API-Key": desk}, timeout=15
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    body = refused.json()
    assert body["detail"] == "a key of role agent cannot PUT /v1/queues/{queue_id}; it takes admin"
    assert (body["role"], body["admits"]) == ("agent", ["admin"])
    with grpc.insecure_channel(f"127.0.0.1:{router.grpc_port}") as channel:
        routing = router_service_pb2_grpc.RouterServiceStub(channel)

        def set_status(agent: str) -> tuple[grpc.StatusCode, str]:
            request = router_service_pb2.SetAgentStatusRequest(agent_id=agent)
            try:
                routing.SetAgentStatus(request, metadata=(("x-api-key", desk),), timeout=15)
            except grpc.RpcError as error:
                return error.code(), error.details() or ""
            return grpc.StatusCode.OK, ""

        assert set_status("bob") == (
            grpc.StatusCode.PERMISSION_DENIED,
            "this key acts for agent 'ann' only, not 'bob'",
        )
        assert set_status(AGENT)[0] is not grpc.StatusCode.PERMISSION_DENIED


def test_a_comment_is_recorded_under_the_keys_author_and_a_forged_one_is_refused(
    services: Services, unique: str
) -> None:
    processes, store = services.processes, services.keys
    tenant = f"authors{unique}"
    desk = {"X-API-Key": store.create(tenant, "desk", role=Role.AGENT, agent_id=AGENT)[1]}
    web = {"X-API-Key": store.create(tenant, "web", role=Role.GATEWAY)[1]}
    base = f"http://127.0.0.1:{processes['tickets'].port}/v1/tickets"
    opened = httpx.post(base, json={"subject": "Refund", "requester_id": "cust-7"}, headers=web, timeout=15)
    assert opened.status_code == 201, opened.text
    comments = f"{base}/{opened.json()['id']}/comments"

    for forged in ({"author_type": "customer", "author_id": "cust-7"}, {"author_type": "system"}):
        refused = httpx.post(comments, json={"body": "all fine", **forged}, headers=desk, timeout=15)
        assert refused.status_code == 403, refused.text
        assert refused.json()["rule"] == "author_not_the_keys"
    as_agent = httpx.post(comments, json={"body": "On it"}, headers=desk, timeout=15)
    assert as_agent.status_code == 201, as_agent.text
    as_customer = httpx.post(
        comments,
        json={"body": "Thanks", "author_type": "customer", "author_id": "cust-7"},
        headers=web,
        timeout=15,
    )
    assert as_customer.status_code == 201, as_customer.text
    listed = httpx.get(comments, headers=desk, timeout=15).json()["items"]
    authors = [(c["author_type"], c["author_id"]) for c in listed]
    assert authors[-2:] == [("agent", AGENT), ("customer", "cust-7")]


def test_revoking_a_key_ends_the_offer_stream_it_opened(services: Services, unique: str) -> None:
    processes, store = services.processes, services.keys
    tenant = f"revoke{unique}"
    setup = {"X-API-Key": store.create(tenant, "setup", role=Role.ADMIN)[1]}
    router = processes["router"]
    base = f"http://127.0.0.1:{router.port}/v1"
    for path, body in (
        ("/queues/chat", {"name": "Chat", "channels": ["chat"]}),
        ("/routing-profiles/desk", {"queues": [{"queue_id": "chat"}]}),
        (f"/agents/{AGENT}", {"routing_profile_id": "desk"}),
    ):
        assert httpx.put(f"{base}{path}", json=body, headers=setup, timeout=15).status_code in (200, 201)
    key_id, desk = store.create(tenant, "desk", role=Role.AGENT, agent_id=AGENT)
    with grpc.insecure_channel(f"127.0.0.1:{router.grpc_port}") as channel:
        stream = router_service_pb2_grpc.RouterServiceStub(channel).StreamOffers(
            router_service_pb2.StreamOffersRequest(agent_id=AGENT),
            metadata=(("x-api-key", desk),),
            timeout=60,
        )
        ended: list[grpc.RpcError] = []

        def follow() -> None:
            try:
                for _ in stream:
                    pass
            except grpc.RpcError as error:
                ended.append(error)

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        # A while on purpose: the stream stays open under a valid key before the revocation.
        time.sleep(1)
        assert follower.is_alive()
        revoked_at = time.monotonic()
        assert store.revoke(key_id)
        follower.join(timeout=10)
        assert not follower.is_alive()
        assert time.monotonic() - revoked_at < 5
    assert [(e.code(), e.details()) for e in ended] == [
        (grpc.StatusCode.UNAUTHENTICATED, "the API key was revoked or has expired")
    ]
