"""The tickets gRPC API (helpline.v1.TicketService) on the service as it runs: built by
`services.tickets.app.build`, serving gRPC with API-key auth on real Redis, its outbox relayed to
real Kafka. Two tenants each hold a key; neither ever reaches the other's tickets."""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from grpc_health.v1 import health_pb2, health_pb2_grpc

from helpline.auth import ApiKeyStore
from helpline.events import Envelope, from_record
from helpline.kafka.port import Consumer, Start
from helpline.kafka.reading import reader
from helpline.service import ServiceRuntime
from helpline.v1 import common_pb2
from helpline.v1 import ticket_service_pb2 as pb
from helpline.v1.ticket_service_pb2_grpc import TicketServiceStub
from services.tickets.api.grpc import SERVICE_NAME
from services.tickets.app import TicketsSettings, build
from services.tickets.store import TOPIC
from tests.integration.api_checks import refused
from tests.integration.helpers import wait_until
from tests.stack_provider import Endpoints

KEY_NAME = "desk-7"


@dataclass(frozen=True)
class Service:
    runtime: ServiceRuntime
    stub: TicketServiceStub
    channel: grpc.Channel
    keys: ApiKeyStore
    kafka_bootstrap: str


@dataclass(frozen=True)
class Caller:
    tenant: str
    metadata: tuple[tuple[str, str], ...]


@pytest.fixture(scope="module")
def service(stack: Endpoints) -> Iterator[Service]:
    """One running service for the module (each test has tenants of its own), stopped at the end."""
    pepper = uuid.uuid4().hex
    runtime = build(
        TicketsSettings(
            service_name="tickets",
            redis_url=stack.redis_url,
            auth_redis_url=stack.redis_url,
            kafka_bootstrap=stack.kafka_bootstrap,
            api_key_pepper=pepper,
            http_port=0,
            grpc_port=0,
            log_format="console",
        )
    )
    thread = threading.Thread(target=runtime.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: runtime.grpc_port is not None, what="the gRPC server")
        channel = grpc.insecure_channel(f"127.0.0.1:{runtime.grpc_port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        keys = ApiKeyStore(runtime.auth_redis, pepper=pepper)
        yield Service(runtime, TicketServiceStub(channel), channel, keys, stack.kafka_bootstrap)
        channel.close()
    finally:
        runtime.stop()
        thread.join(60)


def _caller(service: Service, tenant: str) -> Caller:
    _, key = service.keys.create(tenant, KEY_NAME)
    return Caller(tenant, (("x-api-key", key),))


@pytest.fixture
def a(service: Service, unique: str) -> Caller:
    return _caller(service, f"a{unique}")


@pytest.fixture
def b(service: Service, unique: str) -> Caller:
    return _caller(service, f"b{unique}")


@pytest.fixture
def stub(service: Service) -> TicketServiceStub:
    return service.stub


def create(stub: TicketServiceStub, caller: Caller, **fields: object) -> pb.Ticket:
    request = pb.CreateTicketRequest(**{"subject": "Printer on fire", **fields})  # type: ignore[arg-type]
    return stub.CreateTicket(request, metadata=caller.metadata, timeout=10).ticket


def get(stub: TicketServiceStub, caller: Caller, ticket_id: str) -> pb.GetTicketResponse:
    request = pb.GetTicketRequest(ticket_id=ticket_id, include_comments=True)
    return stub.GetTicket(request, metadata=caller.metadata, timeout=10)


def move(
    stub: TicketServiceStub, caller: Caller, ticket: pb.Ticket, to: common_pb2.TicketStatus.ValueType
) -> pb.Ticket:
    request = pb.TransitionTicketRequest(
        ticket_id=ticket.ticket_id, to_status=to, expected_version=ticket.version
    )
    return stub.TransitionTicket(request, metadata=caller.metadata, timeout=10).ticket


def comment(
    stub: TicketServiceStub, caller: Caller, ticket_id: str, **fields: object
) -> pb.AddCommentResponse:
    request = pb.AddCommentRequest(**{"ticket_id": ticket_id, "public": True, **fields})  # type: ignore[arg-type]
    return stub.AddComment(request, metadata=caller.metadata, timeout=10)


# -- create and read ---------------------------------------------------------------------------


def test_create_is_idempotent_by_request_id(stub: TicketServiceStub, a: Caller, b: Caller) -> None:
    fields = {
        "request_id": "req-1",
        "description": "Smoke from tray 2",
        "priority": common_pb2.PRIORITY_HIGH,
        "channel": common_pb2.CHANNEL_EMAIL,
        "tags": ["Hardware", "hardware"],
        "custom_fields": {"site": "berlin"},
    }
    first = create(stub, a, **fields)
    assert (first.version, first.status) == (1, common_pb2.TICKET_STATUS_NEW)
    assert (first.priority, first.channel, first.department, first.tier) == (
        common_pb2.PRIORITY_HIGH,
        common_pb2.CHANNEL_EMAIL,
        common_pb2.DEPARTMENT_SERVICE,
        common_pb2.TIER_L1,
    )
    assert list(first.tags) == ["hardware"]
    assert dict(first.custom_fields) == {"site": "berlin"}

    assert create(stub, a, **fields) == first
    refused(
        lambda: create(stub, a, **{**fields, "priority": common_pb2.PRIORITY_LOW}),
        grpc.StatusCode.ALREADY_EXISTS,
        "request_id_reused",
    )
    # Request ids are the caller's tenant's own: another tenant's same id is another ticket.
    assert create(stub, b, **fields).ticket_id != first.ticket_id

    read = get(stub, a, first.ticket_id)
    assert read.ticket == first
    ((description,),) = [read.comments]
    assert (description.body, description.public) == ("Smoke from tray 2", True)
    assert (description.author_type, description.author_id) == (common_pb2.AUTHOR_TYPE_AGENT, KEY_NAME)


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"subject": " "}, "subject_required"),
        ({"priority": 99}, "unknown_enum"),
        ({"tags": ["no spaces"]}, "invalid_tag"),
        ({"request_id": "r" * 129}, "too_long"),
        ({"request_id": "with space"}, "invalid_request_id"),
    ],
)
def test_create_refuses_bad_requests(
    stub: TicketServiceStub, a: Caller, fields: dict[str, object], rule: str
) -> None:
    refused(lambda: create(stub, a, **fields), grpc.StatusCode.INVALID_ARGUMENT, rule)


def test_get_needs_an_id(stub: TicketServiceStub, a: Caller) -> None:
    refused(lambda: get(stub, a, ""), grpc.StatusCode.INVALID_ARGUMENT, "ticket_id_required")
    refused(lambda: get(stub, a, "T-none"), grpc.StatusCode.NOT_FOUND, "ticket_not_found")


def test_list_filters_and_pages(stub: TicketServiceStub, a: Caller) -> None:
    made = [create(stub, a, subject=f"s{n}", group_id="billing" if n % 2 else "") for n in range(7)]
    billing = [t.ticket_id for t in reversed(made) if t.group_id == "billing"]
    seen: list[str] = []
    token = ""
    while True:
        page = stub.ListTickets(
            pb.ListTicketsRequest(group_id="billing", page_size=2, page_token=token),
            metadata=a.metadata,
            timeout=10,
        )
        assert len(page.tickets) <= 2
        seen += [t.ticket_id for t in page.tickets]
        if not page.next_page_token:
            break
        token = page.next_page_token
    assert seen == billing  # newest first

    opened = move(stub, a, made[0], common_pb2.TICKET_STATUS_OPEN)
    only_open = stub.ListTickets(
        pb.ListTicketsRequest(statuses=[common_pb2.TICKET_STATUS_OPEN]), metadata=a.metadata, timeout=10
    )
    assert [t.ticket_id for t in only_open.tickets] == [opened.ticket_id]
    everything = stub.ListTickets(pb.ListTicketsRequest(), metadata=a.metadata, timeout=10)
    assert len(everything.tickets) == len(made)


@pytest.mark.parametrize(
    ("request_fields", "rule"),
    [
        ({"page_token": "%%%"}, "invalid_page_token"),
        ({"page_size": -1}, "invalid_page_size"),
        ({"statuses": [common_pb2.TICKET_STATUS_OPEN, common_pb2.TICKET_STATUS_NEW]}, "one_status_per_list"),
        ({"statuses": [common_pb2.TICKET_STATUS_UNSPECIFIED]}, "unspecified_enum"),
        ({"department": 42}, "unknown_enum"),
    ],
)
def test_list_refuses_bad_requests(
    stub: TicketServiceStub, a: Caller, request_fields: dict[str, object], rule: str
) -> None:
    request = pb.ListTicketsRequest(**request_fields)  # type: ignore[arg-type]
    refused(
        lambda: stub.ListTickets(request, metadata=a.metadata, timeout=10),
        grpc.StatusCode.INVALID_ARGUMENT,
        rule,
    )


# -- changes -----------------------------------------------------------------------------------


def update(stub: TicketServiceStub, caller: Caller, ticket: pb.Ticket, *paths: str) -> pb.Ticket:
    request = pb.UpdateTicketRequest(ticket=ticket, update_mask=FieldMask(paths=list(paths)))
    return stub.UpdateTicket(request, metadata=caller.metadata, timeout=10).ticket


def test_update_changes_only_the_masked_fields(stub: TicketServiceStub, a: Caller) -> None:
    ticket = create(stub, a, tags=["old"])
    wanted = pb.Ticket()
    wanted.CopyFrom(ticket)
    wanted.subject = "not in the mask"
    wanted.priority = common_pb2.PRIORITY_URGENT
    wanted.group_id = "tier-2"
    del wanted.tags[:]
    wanted.tags.append("new")

    after = update(stub, a, wanted, "priority", "tags", "group_id")
    assert after.version == ticket.version + 1
    assert (after.subject, after.priority, list(after.tags), after.group_id) == (
        ticket.subject,
        common_pb2.PRIORITY_URGENT,
        ["new"],
        "tier-2",
    )
    assert update(stub, a, wanted, "priority") == after  # nothing left to change

    for paths, rule in [
        (("status",), "unknown_update_path"),
        (("description",), "unknown_update_path"),
        ((), "update_mask_required"),
    ]:
        refused(lambda: update(stub, a, wanted, *paths), grpc.StatusCode.INVALID_ARGUMENT, rule)  # noqa: B023
    wanted.type = common_pb2.TICKET_TYPE_UNSPECIFIED
    refused(lambda: update(stub, a, wanted, "type"), grpc.StatusCode.INVALID_ARGUMENT, "unspecified_enum")


def test_status_lifecycle_and_refused_transitions(stub: TicketServiceStub, a: Caller) -> None:
    ticket = create(stub, a)
    opened = move(stub, a, ticket, common_pb2.TICKET_STATUS_OPEN)
    refused(
        lambda: move(stub, a, opened, common_pb2.TICKET_STATUS_CLOSED),
        grpc.StatusCode.FAILED_PRECONDITION,
        "closed_only_from_solved",
    )
    refused(
        lambda: move(stub, a, opened, common_pb2.TICKET_STATUS_NEW),
        grpc.StatusCode.FAILED_PRECONDITION,
        "new_never_returns",
    )
    solved = move(stub, a, opened, common_pb2.TICKET_STATUS_SOLVED)
    assert solved.HasField("solved_at")
    closed = move(stub, a, solved, common_pb2.TICKET_STATUS_CLOSED)
    assert (closed.status, closed.version) == (common_pb2.TICKET_STATUS_CLOSED, ticket.version + 3)
    assert closed.HasField("closed_at")
    refused(
        lambda: move(stub, a, closed, common_pb2.TICKET_STATUS_OPEN),
        grpc.StatusCode.FAILED_PRECONDITION,
        "closed_is_immutable",
    )
    refused(
        lambda: move(stub, a, closed, common_pb2.TICKET_STATUS_UNSPECIFIED),
        grpc.StatusCode.INVALID_ARGUMENT,
        "unspecified_enum",
    )


def test_a_stale_expected_version_is_aborted(stub: TicketServiceStub, a: Caller) -> None:
    ticket = create(stub, a)
    move(stub, a, ticket, common_pb2.TICKET_STATUS_OPEN)
    refused(
        lambda: move(stub, a, ticket, common_pb2.TICKET_STATUS_PENDING),
        grpc.StatusCode.ABORTED,
        "version_mismatch",
    )
    request = pb.AssignTicketRequest(ticket_id=ticket.ticket_id, assignee_id="ann", expected_version=1)
    refused(
        lambda: stub.AssignTicket(request, metadata=a.metadata, timeout=10),
        grpc.StatusCode.ABORTED,
        "version_mismatch",
    )
    # 0 skips the check.
    request.expected_version = 0
    assert stub.AssignTicket(request, metadata=a.metadata, timeout=10).ticket.assignee_id == "ann"


def test_assign_escalate_hand_off_and_link(stub: TicketServiceStub, a: Caller) -> None:
    ticket = create(stub, a, group_id="l1-desk")
    md = a.metadata
    assigned = stub.AssignTicket(
        pb.AssignTicketRequest(ticket_id=ticket.ticket_id, assignee_id="ann"), metadata=md, timeout=10
    ).ticket
    assert (assigned.assignee_id, assigned.group_id) == ("ann", "l1-desk")  # an empty group keeps it

    escalated = stub.EscalateTicket(
        pb.EscalateTicketRequest(
            ticket_id=ticket.ticket_id, to_tier=common_pb2.TIER_L2, group_id="l2-desk", reason="beyond L1"
        ),
        metadata=md,
        timeout=10,
    ).ticket
    assert (escalated.tier, escalated.group_id) == (common_pb2.TIER_L2, "l2-desk")
    down = pb.EscalateTicketRequest(ticket_id=ticket.ticket_id, to_tier=common_pb2.TIER_L1)
    refused(
        lambda: stub.EscalateTicket(down, metadata=md, timeout=10),
        grpc.StatusCode.INVALID_ARGUMENT,
        "escalation_must_raise_tier",
    )

    handed = stub.HandOffTicket(
        pb.HandOffTicketRequest(
            ticket_id=ticket.ticket_id, to_department=common_pb2.DEPARTMENT_SUPPORT, group_id="support-1"
        ),
        metadata=md,
        timeout=10,
    ).ticket
    assert (handed.department, handed.group_id, handed.assignee_id) == (
        common_pb2.DEPARTMENT_SUPPORT,
        "support-1",
        "",
    )
    same = pb.HandOffTicketRequest(ticket_id=ticket.ticket_id, to_department=common_pb2.DEPARTMENT_SUPPORT)
    refused(
        lambda: stub.HandOffTicket(same, metadata=md, timeout=10),
        grpc.StatusCode.INVALID_ARGUMENT,
        "hand_off_same_department",
    )

    link = pb.LinkContactRequest(
        ticket_id=ticket.ticket_id, contact_id="call-9", expected_version=handed.version
    )
    linked = stub.LinkContact(link, metadata=md, timeout=10).ticket
    assert (list(linked.contact_ids), linked.version) == (["call-9"], handed.version + 1)
    link.expected_version = 0
    assert stub.LinkContact(link, metadata=md, timeout=10).ticket == linked  # already linked
    refused(
        lambda: stub.LinkContact(pb.LinkContactRequest(ticket_id=ticket.ticket_id), metadata=md, timeout=10),
        grpc.StatusCode.INVALID_ARGUMENT,
        "contact_id_required",
    )


# -- comments ------------------------------------------------------------------------------------


def test_an_agent_reply_opens_a_new_ticket(stub: TicketServiceStub, a: Caller) -> None:
    ticket = create(stub, a)
    reply = comment(stub, a, ticket.ticket_id, body="On our way")
    assert reply.ticket.status == common_pb2.TICKET_STATUS_OPEN
    assert reply.ticket.HasField("first_responded_at")
    assert (reply.comment.author_type, reply.comment.author_id, reply.comment.ticket_id) == (
        common_pb2.AUTHOR_TYPE_AGENT,
        KEY_NAME,
        ticket.ticket_id,
    )
    note = comment(stub, a, ticket.ticket_id, body="call the vendor", public=False, author_id="bob")
    assert (note.comment.public, note.comment.author_id) == (False, "bob")
    assert note.ticket.status == common_pb2.TICKET_STATUS_OPEN
    assert [c.comment_id for c in get(stub, a, ticket.ticket_id).comments] == [
        reply.comment.comment_id,
        note.comment.comment_id,
    ]
    refused(
        lambda: comment(
            stub, a, ticket.ticket_id, body="psst", public=False, author_type=common_pb2.AUTHOR_TYPE_CUSTOMER
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "customer_comments_are_public",
    )
    refused(
        lambda: comment(stub, a, ticket.ticket_id, body=" "),
        grpc.StatusCode.INVALID_ARGUMENT,
        "body_required",
    )


def test_a_comment_with_a_request_id_is_made_once(stub: TicketServiceStub, a: Caller) -> None:
    ticket = create(stub, a)
    first = comment(stub, a, ticket.ticket_id, body="On our way", request_id="c-1")
    again = comment(stub, a, ticket.ticket_id, body="On our way", request_id="c-1")
    assert again == first
    assert len(get(stub, a, ticket.ticket_id).comments) == 1
    refused(
        lambda: comment(stub, a, ticket.ticket_id, body="Something else", request_id="c-1"),
        grpc.StatusCode.ALREADY_EXISTS,
        "request_id_reused",
    )
    # The same request id on another ticket is another request.
    other = create(stub, a)
    elsewhere = comment(stub, a, other.ticket_id, body="On our way", request_id="c-1")
    assert elsewhere.comment.comment_id != first.comment.comment_id


def test_comments_are_listed_a_page_at_a_time(stub: TicketServiceStub, a: Caller) -> None:
    ticket = create(stub, a, description="first")
    made = [comment(stub, a, ticket.ticket_id, body=f"reply {n}").comment for n in range(4)]
    pages, token = [], ""
    while True:
        request = pb.ListCommentsRequest(ticket_id=ticket.ticket_id, page_size=2, page_token=token)
        page = stub.ListComments(request, metadata=a.metadata, timeout=10)
        pages.append([c.body for c in page.comments])
        token = page.next_page_token
        if not token:
            break
    assert pages == [["first", "reply 0"], ["reply 1", "reply 2"], ["reply 3"]]
    read = get(stub, a, ticket.ticket_id)
    assert [c.comment_id for c in read.comments][1:] == [c.comment_id for c in made]
    assert read.next_comments_page_token == ""
    other = create(stub, a)
    first_page = pb.ListCommentsRequest(ticket_id=ticket.ticket_id, page_size=2)
    token = stub.ListComments(first_page, metadata=a.metadata, timeout=10).next_page_token
    for request in [
        pb.ListCommentsRequest(ticket_id=other.ticket_id, page_token=token),
        pb.ListCommentsRequest(ticket_id=ticket.ticket_id, page_token="not-a-token!"),
    ]:
        refused(
            functools.partial(stub.ListComments, request, metadata=a.metadata, timeout=10),
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid_page_token",
        )
    refused(
        lambda: stub.ListComments(
            pb.ListCommentsRequest(ticket_id=ticket.ticket_id, page_size=-1), metadata=a.metadata, timeout=10
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid_page_size",
    )


def test_a_customer_reply_to_a_closed_ticket_makes_one_follow_up(stub: TicketServiceStub, a: Caller) -> None:
    ticket = create(stub, a, requester_id="cust-1")
    for status in (common_pb2.TICKET_STATUS_SOLVED, common_pb2.TICKET_STATUS_CLOSED):
        ticket = move(stub, a, ticket, status)
    refused(
        lambda: comment(stub, a, ticket.ticket_id, body="more"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "closed_is_immutable",
    )

    reply = {"body": "It is on fire again", "author_type": common_pb2.AUTHOR_TYPE_CUSTOMER}
    answer = comment(stub, a, ticket.ticket_id, author_id="cust-1", request_id="mail-77", **reply)
    follow_up = answer.ticket
    assert follow_up.ticket_id != ticket.ticket_id
    assert (follow_up.follow_up_of_ticket_id, follow_up.status, follow_up.requester_id) == (
        ticket.ticket_id,
        common_pb2.TICKET_STATUS_NEW,
        "cust-1",
    )
    assert (answer.comment.ticket_id, answer.comment.author_id) == (follow_up.ticket_id, "cust-1")
    assert get(stub, a, ticket.ticket_id).ticket == ticket  # closed stays untouched

    assert comment(stub, a, ticket.ticket_id, author_id="cust-1", request_id="mail-77", **reply) == answer
    listed = stub.ListTickets(pb.ListTicketsRequest(requester_id="cust-1"), metadata=a.metadata, timeout=10)
    assert sorted(t.ticket_id for t in listed.tickets) == sorted([ticket.ticket_id, follow_up.ticket_id])

    without_id = comment(stub, a, ticket.ticket_id, author_id="cust-1", **reply)
    assert without_id.ticket.ticket_id not in {ticket.ticket_id, follow_up.ticket_id}


# -- auth and tenants ----------------------------------------------------------------------------


def test_a_call_without_a_valid_key_is_unauthenticated(stub: TicketServiceStub) -> None:
    request = pb.ListTicketsRequest()
    for metadata in [(), (("x-api-key", "hlk_" + "x" * 43),)]:
        with pytest.raises(grpc.RpcError) as info:
            stub.ListTickets(request, metadata=metadata, timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_the_service_is_registered_with_health(service: Service) -> None:
    health = health_pb2_grpc.HealthStub(service.channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


# Every RPC that names a ticket, with a request that would succeed for the ticket's own tenant.
FOREIGN_CALLS: dict[str, Callable[[str], object]] = {
    "GetTicket": lambda tid: pb.GetTicketRequest(ticket_id=tid, include_comments=True),
    "UpdateTicket": lambda tid: pb.UpdateTicketRequest(
        ticket=pb.Ticket(ticket_id=tid, subject="mine now"), update_mask=FieldMask(paths=["subject"])
    ),
    "TransitionTicket": lambda tid: pb.TransitionTicketRequest(
        ticket_id=tid, to_status=common_pb2.TICKET_STATUS_OPEN
    ),
    "AssignTicket": lambda tid: pb.AssignTicketRequest(ticket_id=tid, assignee_id="mallory"),
    "AddComment": lambda tid: pb.AddCommentRequest(ticket_id=tid, public=True, body="hi"),
    "EscalateTicket": lambda tid: pb.EscalateTicketRequest(ticket_id=tid, to_tier=common_pb2.TIER_L2),
    "HandOffTicket": lambda tid: pb.HandOffTicketRequest(
        ticket_id=tid, to_department=common_pb2.DEPARTMENT_SUPPORT
    ),
    "LinkContact": lambda tid: pb.LinkContactRequest(ticket_id=tid, contact_id="c-1"),
    "ListComments": lambda tid: pb.ListCommentsRequest(ticket_id=tid),
}


@pytest.mark.parametrize("rpc", sorted(FOREIGN_CALLS))
def test_another_tenants_ticket_is_not_found(stub: TicketServiceStub, a: Caller, b: Caller, rpc: str) -> None:
    ticket = create(stub, a)
    call = getattr(stub, rpc)
    request = FOREIGN_CALLS[rpc](ticket.ticket_id)
    refused(
        lambda: call(request, metadata=b.metadata, timeout=10), grpc.StatusCode.NOT_FOUND, "ticket_not_found"
    )
    assert get(stub, a, ticket.ticket_id).ticket == ticket
    # The owner's same call goes through, so the refusal above was about the tenant alone.
    call(request, metadata=a.metadata, timeout=10)


def test_another_tenants_tickets_are_not_listed(stub: TicketServiceStub, a: Caller, b: Caller) -> None:
    create(stub, a, requester_id="shared-name", group_id="shared-group")
    for request in [
        pb.ListTicketsRequest(),
        pb.ListTicketsRequest(requester_id="shared-name"),
        pb.ListTicketsRequest(group_id="shared-group"),
    ]:
        assert not stub.ListTickets(request, metadata=b.metadata, timeout=10).tickets


# -- events --------------------------------------------------------------------------------------


def _events_of(consumer: Consumer, ticket_id: str, count: int, timeout: float = 30) -> list[Envelope]:
    found: list[Envelope] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        envelopes = (from_record(r.headers, r.value, r.key) for r in consumer.poll(0.5, 500))
        found += [e for e in envelopes if e.subject == ticket_id]
    return found


def test_changes_publish_their_cloudevents_through_the_outbox(
    service: Service, stub: TicketServiceStub, a: Caller
) -> None:
    with reader(service.kafka_bootstrap, [TOPIC], Start.END) as consumer:
        ticket = create(stub, a)
        solved = move(stub, a, ticket, common_pb2.TICKET_STATUS_SOLVED)
        events = _events_of(consumer, ticket.ticket_id, 4)
    assert [e.type for e in events] == [
        "helpline.ticket.created.v1",
        "helpline.ticket.status_changed.v1",
        "helpline.ticket.solved.v1",
        "helpline.ticket.survey_requested.v1",
    ]
    assert {e.source for e in events} == {"/helpline/tickets"}
    assert {e.tenant_id for e in events} == {a.tenant}
    changed = events[1].message
    assert (changed.version, changed.to_status, changed.changed_by.id) == (  # type: ignore[attr-defined]
        solved.version,
        common_pb2.TICKET_STATUS_SOLVED,
        KEY_NAME,
    )
