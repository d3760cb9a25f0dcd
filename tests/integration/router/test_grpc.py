"""The router gRPC API (helpline.v1.RouterService) on a real gRPC server with API-key auth, over
the router's engine on the real Redis, with a clock the tests move. Two tenants each hold a key;
neither reaches the other's contacts, agents or queues."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, timedelta

import grpc
import pytest
import redis

from helpline.auth import ApiKeyStore
from helpline.clock import FakeClock
from helpline.grpc import build_grpc_server, stop_grpc_server
from helpline.v1 import common_pb2
from helpline.v1 import router_service_pb2 as pb
from helpline.v1.router_service_pb2_grpc import RouterServiceStub
from services.router.api.grpc import SERVICE_NAME, registration
from services.router.composition import Router
from services.router.domain.contact import ContactStatus
from services.router.domain.model import (
    AgentState,
    Channel,
    Department,
    Queue,
    QueueMembership,
    RoutingProfile,
)
from services.router.storage.records import ContactRecord
from services.router.usecases.configuration import AgentConfig
from services.router.usecases.queue_status import queue_status
from tests.integration.api_checks import refused

# Long enough for a slow machine, short enough that a lost offer fails the test instead of hanging it.
STREAM_TIMEOUT_S = 20


@dataclass(frozen=True)
class Served:
    stub: RouterServiceStub
    port: int


@dataclass(frozen=True)
class Caller:
    tenant: str
    metadata: tuple[tuple[str, str], ...]


@contextmanager
def serving(router: Router, keys: ApiKeyStore, max_workers: int = 8) -> Iterator[Served]:
    """RouterService on a free local port, with the API-key auth every service runs."""
    server, port, health = build_grpc_server(
        port=0,
        services=[SERVICE_NAME],
        auth=keys,
        register=[registration(lambda: router)],
        max_workers=max_workers,
    )
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Served(RouterServiceStub(channel), port)
    finally:
        channel.close()
        stop_grpc_server(server, health, grace=1)


def key_for(keys: ApiKeyStore, tenant: str) -> Caller:
    _, key = keys.create(tenant, "desk")
    return Caller(tenant, (("x-api-key", key),))


@pytest.fixture
def keys(redis_client: redis.Redis, unique: str) -> ApiKeyStore:
    return ApiKeyStore(redis_client, pepper=unique)


@pytest.fixture
def served(router: Router, keys: ApiKeyStore) -> Iterator[Served]:
    with serving(router, keys) as running:
        yield running


@pytest.fixture
def stub(served: Served) -> RouterServiceStub:
    return served.stub


@pytest.fixture
def a(keys: ApiKeyStore, tenant: str) -> Caller:
    return key_for(keys, tenant)


@pytest.fixture
def b(keys: ApiKeyStore, unique: str) -> Caller:
    return key_for(keys, f"o{unique}")


def setup_center(router: Router, tenant: str, agents: int = 1, queues: tuple[str, ...] = ("sales",)) -> None:
    """Sales (voice, chat, callback) and billing (voice) in service, support (voice) in support;
    agents a0.. serve `queues` on voice."""
    router.catalog.put_queue(
        Queue("sales", tenant, "Sales", frozenset({Channel.VOICE, Channel.CHAT, Channel.CALLBACK}))
    )
    router.catalog.put_queue(Queue("billing", tenant, "Billing", frozenset({Channel.VOICE})))
    router.catalog.put_queue(
        Queue("support", tenant, "Support", frozenset({Channel.VOICE}), department=Department.SUPPORT)
    )
    profile = RoutingProfile(tuple(QueueMembership(q) for q in queues), {Channel.VOICE: 1})
    for i in range(agents):
        router.catalog.put_agent(tenant, AgentConfig(f"a{i}", {}, profile=profile))


def available(stub: RouterServiceStub, caller: Caller, agent_id: str) -> pb.SetAgentStatusResponse:
    request = pb.SetAgentStatusRequest(agent_id=agent_id, status=common_pb2.AGENT_STATUS_AVAILABLE)
    return stub.SetAgentStatus(request, metadata=caller.metadata, timeout=10)


def submit(
    stub: RouterServiceStub, caller: Caller, contact_id: str, **fields: object
) -> pb.SubmitContactResponse:
    request = pb.SubmitContactRequest(
        **{"contact_id": contact_id, "channel": common_pb2.CHANNEL_VOICE, "queue_id": "sales", **fields}  # type: ignore[arg-type]
    )
    return stub.SubmitContact(request, metadata=caller.metadata, timeout=10)


@dataclass(frozen=True)
class Desk:
    """An agent desktop's StreamOffers call."""

    call: grpc.CallIterator[pb.StreamOffersResponse]

    def next(self) -> pb.StreamOffersResponse:
        return next(iter(self.call))

    def next_offer(self) -> pb.Offer:
        item = self.next()
        assert item.WhichOneof("item") == "offer", item
        return item.offer

    def cancel(self) -> None:
        self.call.cancel()  # type: ignore[no-untyped-call]  # grpc-stubs leaves it untyped


def desk(stub: RouterServiceStub, caller: Caller, agent_id: str) -> Desk:
    request = pb.StreamOffersRequest(agent_id=agent_id)
    return Desk(stub.StreamOffers(request, metadata=caller.metadata, timeout=STREAM_TIMEOUT_S))


def offer_id_of(router: Router, tenant: str, agent_id: str) -> str:
    agent = router.store.agent(tenant, agent_id)
    assert agent is not None
    assert agent.offer is not None
    return agent.offer.offer_id


def connected_call(router: Router, stub: RouterServiceStub, caller: Caller) -> None:
    """c1, a sales call, connected to a0, the only agent."""
    setup_center(router, caller.tenant)
    available(stub, caller, "a0")
    submit(stub, caller, "c1")
    accept = pb.AcceptOfferRequest(agent_id="a0", offer_id=offer_id_of(router, caller.tenant, "a0"))
    stub.AcceptOffer(accept, metadata=caller.metadata, timeout=10)


def contact(router: Router, tenant: str, contact_id: str) -> ContactRecord:
    record = router.store.contact(tenant, contact_id)
    assert record is not None
    return record


# -- a contact's life ------------------------------------------------------------------------------


def test_a_call_is_offered_on_the_desk_then_accepted_held_ended_and_completed(
    router: Router, clock: FakeClock, stub: RouterServiceStub, a: Caller
) -> None:
    setup_center(router, a.tenant)
    status = available(stub, a, "a0")
    assert (status.agent_id, status.status, status.state) == (
        "a0",
        common_pb2.AGENT_STATUS_AVAILABLE,
        common_pb2.AGENT_STATE_IDLE,
    )
    offers = desk(stub, a, "a0")
    context = common_pb2.ContactContext(
        customer_id="cu-1",
        priority=common_pb2.PRIORITY_HIGH,
        attributes={"order": "o-9"},
        customer_address="+4930123",
    )
    submitted = submit(stub, a, "c1", context=context)
    assert (submitted.contact_id, submitted.queue_id, submitted.position) == ("c1", "sales", 1)

    offer = offers.next_offer()
    assert (offer.contact_id, offer.queue_id, offer.channel) == ("c1", "sales", common_pb2.CHANNEL_VOICE)
    assert (offer.context.customer_id, offer.context.priority) == ("cu-1", common_pb2.PRIORITY_HIGH)
    assert offer.expires_at.ToDatetime(tzinfo=UTC) == clock.now() + timedelta(seconds=20)
    accepted = stub.AcceptOffer(
        pb.AcceptOfferRequest(agent_id="a0", offer_id=offer.offer_id), metadata=a.metadata, timeout=10
    )
    assert accepted.contact_id == "c1"
    assert dict(accepted.context.attributes) == {"order": "o-9"}
    assert contact(router, a.tenant, "c1").contact.status is ContactStatus.CONNECTED

    talk = pb.HoldContactRequest(contact_id="c1", agent_id="a0")
    clock.advance(timedelta(seconds=10))
    stub.HoldContact(talk, metadata=a.metadata, timeout=10)
    clock.advance(timedelta(seconds=5))
    resumed = stub.ResumeContact(
        pb.ResumeContactRequest(contact_id="c1", agent_id="a0"), metadata=a.metadata, timeout=10
    )
    assert resumed.hold_duration.ToTimedelta() == timedelta(seconds=5)
    clock.advance(timedelta(seconds=20))
    ended = stub.EndContact(
        pb.EndContactRequest(contact_id="c1", agent_id="a0"), metadata=a.metadata, timeout=10
    )
    assert ended.after_contact_work_until.ToDatetime(tzinfo=UTC) == clock.now() + timedelta(seconds=60)
    clock.advance(timedelta(seconds=7))
    done = stub.CompleteContact(
        pb.CompleteContactRequest(contact_id="c1", agent_id="a0", disposition_code="sold"),
        metadata=a.metadata,
        timeout=10,
    )
    assert (done.talk_duration.ToTimedelta(), done.hold_duration.ToTimedelta()) == (
        timedelta(seconds=30),
        timedelta(seconds=5),
    )
    assert done.wrap_up_duration.ToTimedelta() == timedelta(seconds=7)
    assert contact(router, a.tenant, "c1").contact.status is ContactStatus.COMPLETED

    # 42 s handled by the one staffed agent: the next caller waits about that long.
    sales = stub.GetQueueStatus(pb.GetQueueStatusRequest(queue_id="sales"), metadata=a.metadata, timeout=10)
    voice = next(c for c in sales.channels if c.channel == common_pb2.CHANNEL_VOICE)
    assert voice.depth == 0
    assert not voice.HasField("oldest_contact_age")
    assert voice.estimated_wait.ToTimedelta() == timedelta(seconds=42)
    offers.cancel()


def test_a_late_desk_gets_the_pending_offer_and_a_rejected_offer_goes_to_the_next_agent(
    router: Router, clock: FakeClock, stub: RouterServiceStub, a: Caller
) -> None:
    setup_center(router, a.tenant, agents=2)
    available(stub, a, "a0")
    clock.advance(timedelta(seconds=1))
    available(stub, a, "a1")
    submit(stub, a, "c1")

    first = desk(stub, a, "a0")
    offer = first.next_offer()
    assert offer.contact_id == "c1"
    stub.RejectOffer(
        pb.RejectOfferRequest(agent_id="a0", offer_id=offer.offer_id, reason="wrong language"),
        metadata=a.metadata,
        timeout=10,
    )
    moved = contact(router, a.tenant, "c1").contact
    assert (moved.status, moved.agent_id, moved.declined_by) == (ContactStatus.OFFERED, "a1", ("a0",))
    second = desk(stub, a, "a1")
    again = second.next_offer()
    assert again.contact_id == "c1"
    assert again.offer_id != offer.offer_id
    first.cancel()
    second.cancel()


def test_an_offer_is_accepted_once_and_only_by_its_agent(
    router: Router, stub: RouterServiceStub, a: Caller
) -> None:
    setup_center(router, a.tenant, agents=2)
    available(stub, a, "a0")
    submit(stub, a, "c1")
    offer_id = offer_id_of(router, a.tenant, "a0")

    def accept(agent_id: str, offer: str = offer_id) -> Callable[[], object]:
        request = pb.AcceptOfferRequest(agent_id=agent_id, offer_id=offer)
        return lambda: stub.AcceptOffer(request, metadata=a.metadata, timeout=10)

    refused(accept("a1"), grpc.StatusCode.FAILED_PRECONDITION, "offer_for_other_agent")
    refused(accept("ghost"), grpc.StatusCode.NOT_FOUND, "agent_not_found")
    refused(accept("a0", "no-such-offer"), grpc.StatusCode.NOT_FOUND, "offer_not_found")
    accept("a0")()
    refused(accept("a0"), grpc.StatusCode.FAILED_PRECONDITION, "already_accepted")
    refused(accept("a1"), grpc.StatusCode.FAILED_PRECONDITION, "offer_accepted_by_other_agent")


def test_a_transfer_queues_the_call_in_the_other_queue_and_frees_the_agent(
    router: Router, stub: RouterServiceStub, a: Caller
) -> None:
    connected_call(router, stub, a)

    request = pb.TransferContactRequest(
        contact_id="c1", agent_id="a0", to_queue_id="billing", reason="invoice"
    )
    moved = stub.TransferContact(request, metadata=a.metadata, timeout=10)
    assert (moved.contact_id, moved.queue_id, moved.position) == ("c1", "billing", 1)
    record = contact(router, a.tenant, "c1").contact
    assert (record.status, record.queue_id, record.transfer_count) == (ContactStatus.QUEUED, "billing", 1)
    agent = router.store.agent(a.tenant, "a0")
    assert agent is not None
    assert agent.agent.state is AgentState.IDLE
    assert agent.contacts == ()


def test_a_warm_transfer_consults_then_hands_the_caller_over(
    router: Router, stub: RouterServiceStub, a: Caller
) -> None:
    connected_call(router, stub, a)
    router.catalog.put_agent(
        a.tenant, AgentConfig("a9", {}, profile=RoutingProfile((QueueMembership("sales"),)))
    )

    warm = pb.TransferContactRequest(contact_id="c1", agent_id="a0", to_agent_id="a9", warm=True)
    stub.TransferContact(warm, metadata=a.metadata, timeout=10)
    consulting = contact(router, a.tenant, "c1").contact
    assert (consulting.status, consulting.agent_id, consulting.consult_agent_id) == (
        ContactStatus.CONNECTED,
        "a0",
        "a9",
    )
    refused(
        lambda: stub.CompleteTransfer(
            pb.CompleteTransferRequest(contact_id="c1", agent_id="a9"), metadata=a.metadata, timeout=10
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "not_the_contacts_agent",
    )
    done = stub.CompleteTransfer(
        pb.CompleteTransferRequest(contact_id="c1", agent_id="a0"), metadata=a.metadata, timeout=10
    )
    assert done.agent_id == "a9"
    taker = router.store.agent(a.tenant, "a9")
    giver = router.store.agent(a.tenant, "a0")
    assert taker is not None
    assert giver is not None
    assert (taker.contacts, taker.agent.active(Channel.VOICE)) == (("c1",), 1)
    assert (giver.contacts, giver.agent.active(Channel.VOICE)) == ((), 0)


def test_a_warm_transfer_called_off_keeps_the_caller(
    router: Router, stub: RouterServiceStub, a: Caller
) -> None:
    connected_call(router, stub, a)
    router.catalog.put_agent(
        a.tenant, AgentConfig("a9", {}, profile=RoutingProfile((QueueMembership("sales"),)))
    )
    warm = pb.TransferContactRequest(contact_id="c1", agent_id="a0", to_agent_id="a9", warm=True)
    stub.TransferContact(warm, metadata=a.metadata, timeout=10)
    stub.CancelTransfer(
        pb.CancelTransferRequest(contact_id="c1", agent_id="a0"), metadata=a.metadata, timeout=10
    )
    record = contact(router, a.tenant, "c1").contact
    assert (record.agent_id, record.consult_agent_id) == ("a0", "")


def test_a_transfer_to_the_other_department_is_a_hand_off(
    router: Router, stub: RouterServiceStub, a: Caller
) -> None:
    connected_call(router, stub, a)

    request = pb.TransferContactRequest(
        contact_id="c1", agent_id="a0", to_queue_id="support", to_department=common_pb2.DEPARTMENT_SUPPORT
    )
    moved = stub.TransferContact(request, metadata=a.metadata, timeout=10)
    assert (moved.queue_id, moved.position) == ("support", 1)
    record = contact(router, a.tenant, "c1").contact
    assert (record.status, record.department) == (ContactStatus.QUEUED, Department.SUPPORT)


def test_an_abandoned_call_withdraws_its_offer_and_stays_resumable(
    router: Router, clock: FakeClock, stub: RouterServiceStub, a: Caller
) -> None:
    setup_center(router, a.tenant)
    available(stub, a, "a0")
    offers = desk(stub, a, "a0")
    submit(stub, a, "c1")
    offer = offers.next_offer()
    clock.advance(timedelta(seconds=8))

    left = stub.AbandonContact(
        pb.AbandonContactRequest(contact_id="c1", reason="hung up"), metadata=a.metadata, timeout=10
    )
    assert left.resumable_until.ToDatetime(tzinfo=UTC) == clock.now() + timedelta(seconds=60)
    # The offer may come twice (desktops drop the repeat); the withdrawal follows it.
    item = offers.next()
    while item.WhichOneof("item") == "offer":
        item = offers.next()
    assert (item.withdrawn.offer_id, item.withdrawn.contact_id, item.withdrawn.reason) == (
        offer.offer_id,
        "c1",
        "abandoned",
    )
    assert contact(router, a.tenant, "c1").contact.status is ContactStatus.ABANDONED
    offers.cancel()


def test_a_waiting_caller_asks_for_a_callback_and_keeps_the_place(
    router: Router, clock: FakeClock, stub: RouterServiceStub, a: Caller
) -> None:
    setup_center(router, a.tenant)
    submit(stub, a, "c1")
    since = contact(router, a.tenant, "c1").contact.enqueued_since
    clock.advance(timedelta(seconds=40))

    request = pb.RequestCallbackRequest(contact_id="c1", callback_number="+4930999")
    called = stub.RequestCallback(request, metadata=a.metadata, timeout=10)
    assert called.callback_contact_id
    assert called.position == 1
    assert contact(router, a.tenant, "c1").contact.status is ContactStatus.CALLED_BACK
    callback = contact(router, a.tenant, called.callback_contact_id).contact
    assert (callback.status, callback.channel, callback.enqueued_since) == (
        ContactStatus.QUEUED,
        Channel.CALLBACK,
        since,
    )
    assert callback.context.customer_address == "+4930999"
    # A client whose answer was lost asks again, and learns the callback it made: no second one.
    called_back = contact(router, a.tenant, "c1").contact
    again = stub.RequestCallback(request, metadata=a.metadata, timeout=10)
    assert (again.callback_contact_id, again.position) == (called.callback_contact_id, 1)
    assert contact(router, a.tenant, "c1").contact == called_back


# -- queue status ----------------------------------------------------------------------------------


def test_queue_status_counts_waiting_contacts_and_agents_by_state(
    router: Router, clock: FakeClock, stub: RouterServiceStub, a: Caller
) -> None:
    setup_center(router, a.tenant, agents=3)
    available(stub, a, "a0")
    away = pb.SetAgentStatusRequest(agent_id="a1", status=common_pb2.AGENT_STATUS_AWAY, reason_code="lunch")
    assert stub.SetAgentStatus(away, metadata=a.metadata, timeout=10).reason_code == "lunch"
    submit(stub, a, "c1")  # offered to a0
    clock.advance(timedelta(seconds=30))
    submit(stub, a, "c2")
    submit(stub, a, "c3", channel=common_pb2.CHANNEL_CHAT)

    status = stub.GetQueueStatus(pb.GetQueueStatusRequest(queue_id="sales"), metadata=a.metadata, timeout=10)
    assert (status.queue_id, status.department) == ("sales", common_pb2.DEPARTMENT_SERVICE)
    assert status.as_of.ToDatetime(tzinfo=UTC) == clock.now()
    channels = {c.channel: c for c in status.channels}
    assert set(channels) == {common_pb2.CHANNEL_VOICE, common_pb2.CHANNEL_CHAT, common_pb2.CHANNEL_CALLBACK}
    voice, chat = channels[common_pb2.CHANNEL_VOICE], channels[common_pb2.CHANNEL_CHAT]
    assert (voice.depth, voice.oldest_contact_age.ToTimedelta()) == (2, timedelta(seconds=30))
    assert (chat.depth, chat.oldest_contact_age.ToTimedelta()) == (1, timedelta(0))
    # a2 is offline, so not counted; a1 is away but idle.
    by_state = {count.state: count.count for count in voice.agents_by_state}
    assert by_state == {
        common_pb2.AGENT_STATE_IDLE: 1,
        common_pb2.AGENT_STATE_OFFERED: 1,
        common_pb2.AGENT_STATE_BUSY: 0,
        common_pb2.AGENT_STATE_AFTER_CONTACT_WORK: 0,
        common_pb2.AGENT_STATE_MISSED: 0,
    }
    # Nothing handled yet, so no estimate; the answer target is the queue's default.
    assert not voice.HasField("estimated_wait")
    assert voice.service_level_threshold.ToTimedelta() == timedelta(seconds=20)

    same = {s.channel: s for s in queue_status(router.core, a.tenant, "sales")}
    assert (same[Channel.VOICE].depth, same[Channel.VOICE].oldest_age) == (2, timedelta(seconds=30))
    assert same[Channel.VOICE].agents_by_state[AgentState.OFFERED] == 1


# -- refusals --------------------------------------------------------------------------------------


def test_unknown_queues_agents_contacts_and_offers_are_not_found(
    router: Router, stub: RouterServiceStub, a: Caller
) -> None:
    setup_center(router, a.tenant)
    md = a.metadata
    not_found = grpc.StatusCode.NOT_FOUND
    refused(
        lambda: stub.GetQueueStatus(pb.GetQueueStatusRequest(queue_id="nope"), metadata=md),
        not_found,
        "queue_not_found",
    )
    refused(lambda: submit(stub, a, "c1", queue_id="nope"), not_found, "queue_not_found")
    refused(lambda: available(stub, a, "ghost"), not_found, "agent_not_found")
    refused(lambda: desk(stub, a, "ghost").next(), not_found, "agent_not_found")
    hold = pb.HoldContactRequest(contact_id="nope", agent_id="a0")
    refused(lambda: stub.HoldContact(hold, metadata=md), not_found, "contact_not_found")
    reject = pb.RejectOfferRequest(agent_id="a0", offer_id="nope")
    refused(lambda: stub.RejectOffer(reject, metadata=md), not_found, "offer_not_found")


def test_missing_ids_and_invalid_values_are_invalid_arguments(
    router: Router, stub: RouterServiceStub, a: Caller
) -> None:
    setup_center(router, a.tenant)
    md = a.metadata
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    calls: list[Callable[[], object]] = [
        lambda: stub.SetAgentStatus(
            pb.SetAgentStatusRequest(status=common_pb2.AGENT_STATUS_AVAILABLE), metadata=md
        ),
        lambda: desk(stub, a, "").next(),
        lambda: stub.AcceptOffer(pb.AcceptOfferRequest(agent_id="a0"), metadata=md),
        lambda: stub.RejectOffer(pb.RejectOfferRequest(offer_id="o1"), metadata=md),
        lambda: stub.HoldContact(pb.HoldContactRequest(agent_id="a0"), metadata=md),
        lambda: stub.ResumeContact(pb.ResumeContactRequest(contact_id="c1"), metadata=md),
        lambda: stub.TransferContact(pb.TransferContactRequest(agent_id="a0", to_queue_id="q"), metadata=md),
        lambda: stub.EndContact(pb.EndContactRequest(), metadata=md),
        lambda: stub.CompleteContact(pb.CompleteContactRequest(contact_id="c1"), metadata=md),
        lambda: stub.AbandonContact(pb.AbandonContactRequest(), metadata=md),
        lambda: stub.RequestCallback(pb.RequestCallbackRequest(), metadata=md),
        lambda: stub.GetQueueStatus(pb.GetQueueStatusRequest(), metadata=md),
    ]
    for call in calls:
        refused(call, invalid, "missing_field")
    refused(
        lambda: submit(stub, a, "c1", channel=common_pb2.CHANNEL_UNSPECIFIED), invalid, "unspecified_enum"
    )
    away = pb.SetAgentStatusRequest(agent_id="a0", status=common_pb2.AGENT_STATUS_AWAY)
    refused(lambda: stub.SetAgentStatus(away, metadata=md), invalid, "away_needs_reason")


def test_another_tenant_sees_nothing_of_the_first(
    router: Router, stub: RouterServiceStub, a: Caller, b: Caller
) -> None:
    setup_center(router, a.tenant)
    setup_center(router, b.tenant)
    submit(stub, a, "c1")
    not_found = grpc.StatusCode.NOT_FOUND
    hold = pb.HoldContactRequest(contact_id="c1", agent_id="a0")
    refused(lambda: stub.HoldContact(hold, metadata=b.metadata), not_found, "contact_not_found")
    abandon = pb.AbandonContactRequest(contact_id="c1")
    refused(lambda: stub.AbandonContact(abandon, metadata=b.metadata), not_found, "contact_not_found")
    assert contact(router, a.tenant, "c1").contact.status is ContactStatus.QUEUED
    b_sales = stub.GetQueueStatus(pb.GetQueueStatusRequest(queue_id="sales"), metadata=b.metadata, timeout=10)
    assert all(channel.depth == 0 for channel in b_sales.channels)


def test_a_call_without_a_key_is_unauthenticated(stub: RouterServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.GetQueueStatus(pb.GetQueueStatusRequest(queue_id="sales"), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


# -- the stream ends with its RPC ------------------------------------------------------------------


def test_a_cancelled_offer_stream_frees_its_server_thread(
    router: Router, keys: ApiKeyStore, a: Caller
) -> None:
    """With one server thread, a call can only run once the stream holding it has ended."""
    setup_center(router, a.tenant)
    with serving(router, keys, max_workers=1) as running:
        stub = running.stub
        available(stub, a, "a0")
        submit(stub, a, "c1")
        offers = desk(stub, a, "a0")
        offers.next_offer()  # the handler runs, and holds the only thread
        status = pb.GetQueueStatusRequest(queue_id="sales")
        with pytest.raises(grpc.RpcError) as blocked:
            stub.GetQueueStatus(status, metadata=a.metadata, timeout=0.5)
        assert blocked.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

        offers.cancel()
        assert stub.GetQueueStatus(status, metadata=a.metadata, timeout=5).queue_id == "sales"
        with pytest.raises(grpc.RpcError) as ended:
            offers.next()
        assert ended.value.code() == grpc.StatusCode.CANCELLED
