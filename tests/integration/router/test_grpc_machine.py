"""The router driven only through its gRPC API, by random sequences of what agent desktops and
gateways send, against a small model of DOMAIN.md (Channels and contacts; Agents; Queues and
routing) written here, independently of the service's code.

Every example is a fresh tenant with its own API key: two queues (voice and chat) and three agents
serving both, each able to hold one call and two chats at once (cross-channel `any`, voice not
exclusive). The model predicts every RPC's outcome (the response, or the exact status code of a
refusal) and follows contacts and agents through offers, answers, the conversation, wrap-up and
timeouts. It does not predict which agent a strategy picks: after each step it learns the offers
the service made (from the router's records, as a desktop learns them from its offer stream) and
checks each was allowed. Then, after every step:

- no agent's active load exceeds its capacity on any channel;
- a contact is on offer to at most one agent, and an agent has at most one pending offer;
- no ready agent with room stays idle while a contact it could take waits (matching both ways);
- GetQueueStatus counts, per queue and channel, the contacts the model sees waiting, and the
  queue's agents by state as the model has them;
- contacts and agents in the router's records are where the model has them.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar, cast

import grpc
import redis
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

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
    Channel,
    CrossChannelRule,
    Queue,
    QueueMembership,
    RoutingProfile,
    Strategy,
)
from services.router.storage.store import Keys
from services.router.storage.tenants import TENANTS
from services.router.usecases.configuration import AgentConfig

OK = grpc.StatusCode.OK
NOT_FOUND = grpc.StatusCode.NOT_FOUND
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
RPC_TIMEOUT_S = 10
# A desk stream that has the pending offer answers at once; this only bounds a broken one.
STREAM_TIMEOUT_S = 5

QUEUES = ("q1", "q2")
AGENTS = ("a1", "a2", "a3")
GHOST = "ghost"
CONTACTS = tuple(f"c{i}" for i in range(1, 9))
VOICE, CHAT = "voice", "chat"
CAPACITY = {VOICE: 1, CHAT: 2}
OFFER_TIMEOUT = timedelta(seconds=20)
WRAP_UP = timedelta(seconds=60)
MAX_NO_ANSWER = 2
MISSED = "missed"

CHANNEL_TO_PROTO = {VOICE: common_pb2.CHANNEL_VOICE, CHAT: common_pb2.CHANNEL_CHAT}
CHANNEL_FROM_PROTO = {
    common_pb2.CHANNEL_VOICE: VOICE,
    common_pb2.CHANNEL_CHAT: CHAT,
    common_pb2.CHANNEL_CALLBACK: "callback",
}
STATUS_TO_PROTO = {
    "offline": common_pb2.AGENT_STATUS_OFFLINE,
    "available": common_pb2.AGENT_STATUS_AVAILABLE,
    "away": common_pb2.AGENT_STATUS_AWAY,
}


# -- the model ------------------------------------------------------------------------------------


class Place(StrEnum):
    """Where a contact is (DOMAIN.md's lifecycle, as far as these RPCs move it)."""

    QUEUED = "queued"
    OFFERED = "offered"
    CONNECTED = "connected"
    HELD = "held"
    AFTER_CONTACT_WORK = "after_contact_work"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


class State(StrEnum):
    """An agent's state, set by the system (DOMAIN.md, Agents)."""

    IDLE = "idle"
    OFFERED = "offered"
    BUSY = "busy"
    AFTER_CONTACT_WORK = "after_contact_work"
    MISSED = "missed"


WAITING = frozenset({Place.QUEUED, Place.OFFERED})
IN_CONVERSATION = frozenset({Place.CONNECTED, Place.HELD})
IN_HAND = frozenset({Place.CONNECTED, Place.HELD, Place.AFTER_CONTACT_WORK})
STATE_TO_PROTO = {
    State.IDLE: common_pb2.AGENT_STATE_IDLE,
    State.OFFERED: common_pb2.AGENT_STATE_OFFERED,
    State.BUSY: common_pb2.AGENT_STATE_BUSY,
    State.AFTER_CONTACT_WORK: common_pb2.AGENT_STATE_AFTER_CONTACT_WORK,
    State.MISSED: common_pb2.AGENT_STATE_MISSED,
}


@dataclass
class ModelContact:
    contact_id: str
    channel: str
    queue_id: str
    # The effective enqueue time: FIFO order, and kept when an offer goes back to the queue.
    since: datetime
    place: Place = Place.QUEUED
    # The agent it is on offer to, or the agent who has it once accepted.
    agent_id: str = ""
    offer_id: str = ""
    offer_expires_at: datetime | None = None
    wrap_up_until: datetime | None = None
    # Agents who rejected it or let its offer time out: not offered it again.
    declined: set[str] = field(default_factory=set)


@dataclass
class ModelAgent:
    agent_id: str
    status: str = "offline"
    reason: str = ""
    state: State = State.IDLE
    # The contact on offer to the agent (one at a time).
    offer: str = ""
    # Accepted and not completed yet: connected, held or in after-contact work.
    contacts: list[str] = field(default_factory=list)
    # Offers timed out in a row; at MAX_NO_ANSWER the agent goes away, missed.
    misses: int = 0


class Model:
    def __init__(self) -> None:
        self.contacts: dict[str, ModelContact] = {}
        self.agents = {agent_id: ModelAgent(agent_id) for agent_id in AGENTS}
        # Every offer id seen, with its contact: desktops may answer stale ones.
        self.offers: dict[str, str] = {}

    def load(self, agent: ModelAgent, channel: str) -> int:
        """Active contacts of the channel; after-contact work frees the line."""
        return sum(
            1
            for contact_id in agent.contacts
            if self.contacts[contact_id].channel == channel
            and self.contacts[contact_id].place in IN_CONVERSATION
        )

    def resting(self, agent: ModelAgent) -> State:
        return State.BUSY if any(self.load(agent, channel) for channel in CAPACITY) else State.IDLE

    def ready(self, agent: ModelAgent) -> bool:
        """May be offered something: available, no offer pending, not in wrap-up, not missed."""
        return agent.status == "available" and agent.state in (State.IDLE, State.BUSY)

    def can_take(self, agent: ModelAgent, contact: ModelContact) -> bool:
        return (
            self.ready(agent)
            and self.load(agent, contact.channel) < CAPACITY[contact.channel]
            and agent.agent_id not in contact.declined
        )

    def waiting(self, queue_id: str, channel: str) -> list[ModelContact]:
        return [
            contact
            for contact in self.contacts.values()
            if contact.place in WAITING and (contact.queue_id, contact.channel) == (queue_id, channel)
        ]

    def owner(self, contact_id: str) -> str:
        contact = self.contacts.get(contact_id)
        return contact.agent_id if contact is not None and contact.place in IN_HAND else ""

    # -- moves --

    def offered(self, contact: ModelContact, agent: ModelAgent, offer_id: str, now: datetime) -> None:
        contact.place, contact.agent_id, contact.offer_id = Place.OFFERED, agent.agent_id, offer_id
        contact.offer_expires_at = now + OFFER_TIMEOUT
        agent.offer, agent.state = contact.contact_id, State.OFFERED
        self.offers[offer_id] = contact.contact_id

    def _back_to_queue(self, contact: ModelContact) -> ModelAgent:
        agent = self.agents[contact.agent_id]
        contact.declined.add(agent.agent_id)
        contact.place, contact.agent_id, contact.offer_id, contact.offer_expires_at = (
            Place.QUEUED,
            "",
            "",
            None,
        )
        agent.offer = ""
        return agent

    def accepted(self, contact: ModelContact) -> None:
        agent = self.agents[contact.agent_id]
        contact.place, contact.offer_id, contact.offer_expires_at = Place.CONNECTED, "", None
        agent.offer, agent.state, agent.misses = "", State.BUSY, 0
        agent.contacts.append(contact.contact_id)

    def rejected(self, contact: ModelContact) -> None:
        agent = self._back_to_queue(contact)
        # A reject is an answer: the agent is there, so the run of misses ends.
        agent.state, agent.misses = self.resting(agent), 0

    def offer_timed_out(self, contact: ModelContact) -> None:
        agent = self._back_to_queue(contact)
        agent.misses += 1
        if agent.misses >= MAX_NO_ANSWER:
            agent.status, agent.reason, agent.state = "away", MISSED, State.MISSED
        else:
            agent.state = self.resting(agent)

    def abandoned(self, contact: ModelContact) -> None:
        if contact.place is Place.OFFERED:
            agent = self.agents[contact.agent_id]
            agent.offer = ""
            agent.state = self.resting(agent)
        contact.place, contact.agent_id, contact.offer_id, contact.offer_expires_at = (
            Place.ABANDONED,
            "",
            "",
            None,
        )

    def ended(self, contact: ModelContact, now: datetime) -> None:
        """The conversation ended: wrap-up for the contact, and for the agent when it was their
        last contact in hand; an offer pending stays pending."""
        agent = self.agents[contact.agent_id]
        was_busy = agent.state is State.BUSY
        contact.place, contact.wrap_up_until = Place.AFTER_CONTACT_WORK, now + WRAP_UP
        others = [c for c in agent.contacts if c != contact.contact_id]
        if not others and not agent.offer:
            agent.state = State.AFTER_CONTACT_WORK
        elif was_busy:
            agent.state = self.resting(agent)

    def completed(self, contact: ModelContact) -> None:
        agent = self.agents[contact.agent_id]
        was_busy = agent.state is State.BUSY
        contact.place = Place.COMPLETED
        agent.contacts.remove(contact.contact_id)
        if was_busy or (agent.state is State.AFTER_CONTACT_WORK and not agent.contacts):
            agent.state = self.resting(agent)

    def status_set(self, agent: ModelAgent, status: str, reason: str) -> None:
        if (status, reason) == (agent.status, agent.reason):
            return
        if agent.state is State.MISSED:
            agent.state = self.resting(agent)
        if status == "available" and agent.status != "available":
            agent.misses = 0
        agent.status, agent.reason = status, reason


# -- predictions: what each RPC answers -----------------------------------------------------------


def predict_accept(model: Model, agent_id: str, offer_id: str, now: datetime) -> grpc.StatusCode:
    if agent_id not in model.agents:
        return NOT_FOUND
    if offer_id not in model.offers:
        return NOT_FOUND
    contact = model.contacts[model.offers[offer_id]]
    pending = contact.place is Place.OFFERED and (contact.agent_id, contact.offer_id) == (agent_id, offer_id)
    assert contact.offer_expires_at is not None or not pending
    return (
        OK
        if pending and contact.offer_expires_at is not None and now < contact.offer_expires_at
        else (FAILED_PRECONDITION)
    )


def predict_reject(model: Model, agent_id: str, offer_id: str) -> grpc.StatusCode:
    if agent_id not in model.agents or offer_id not in model.offers:
        return NOT_FOUND
    contact = model.contacts[model.offers[offer_id]]
    pending = contact.place is Place.OFFERED and (contact.agent_id, contact.offer_id) == (agent_id, offer_id)
    return OK if pending else FAILED_PRECONDITION


def predict_hold(model: Model, contact_id: str, agent_id: str, *, resume: bool) -> grpc.StatusCode:
    contact = model.contacts.get(contact_id)
    if contact is None:
        return NOT_FOUND
    if contact.channel != VOICE:
        return INVALID_ARGUMENT
    place = Place.HELD if resume else Place.CONNECTED
    return OK if contact.place is place and contact.agent_id == agent_id else FAILED_PRECONDITION


def predict_end(model: Model, contact_id: str, agent_id: str) -> grpc.StatusCode:
    contact = model.contacts.get(contact_id)
    if contact is None:
        return NOT_FOUND
    by_owner = agent_id in ("", contact.agent_id)
    return OK if contact.place in IN_CONVERSATION and by_owner else FAILED_PRECONDITION


def predict_complete(model: Model, contact_id: str, agent_id: str, disposition: str) -> grpc.StatusCode:
    contact = model.contacts.get(contact_id)
    if contact is None:
        return NOT_FOUND
    if contact.place not in IN_HAND or contact.agent_id != agent_id:
        return FAILED_PRECONDITION
    return OK if disposition else INVALID_ARGUMENT


def predict_abandon(model: Model, contact_id: str) -> grpc.StatusCode:
    contact = model.contacts.get(contact_id)
    if contact is None:
        return NOT_FOUND
    return OK if contact.place in WAITING else FAILED_PRECONDITION


# -- the service ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    """One router on the real Redis with a clock the test moves, behind a real gRPC server."""

    router: Router
    clock: FakeClock
    keys: ApiKeyStore
    stub: RouterServiceStub


@contextmanager
def serving(router: Router, keys: ApiKeyStore) -> Iterator[RouterServiceStub]:
    server, port, health = build_grpc_server(
        port=0, services=[SERVICE_NAME], auth=keys, register=[registration(lambda: router)], max_workers=8
    )
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield RouterServiceStub(channel)
    finally:
        channel.close()
        stop_grpc_server(server, health, grace=1)


R = TypeVar("R")


def outcome(call: Callable[[], R]) -> tuple[grpc.StatusCode, R | None, str]:
    """The call's status code, its response when it succeeded, and the details when it did not."""
    try:
        return OK, call(), ""
    except grpc.RpcError as error:
        failed = cast(grpc.Call, error)
        return failed.code(), None, failed.details() or ""


# -- the machine ----------------------------------------------------------------------------------

STRATEGIES = st.sampled_from([Strategy.LONGEST_IDLE, Strategy.LEAST_OCCUPIED, Strategy.ROUND_ROBIN])


class RouterOverGrpc(RuleBasedStateMachine):
    def __init__(self, service: Service) -> None:
        super().__init__()
        self.service = service
        self.router = service.router
        self.clock = service.clock
        self.stub = service.stub
        self.tenant = f"gm{uuid.uuid4().hex[:12]}"
        self.metadata: tuple[tuple[str, str], ...] = ()
        self.model = Model()

    # -- setup --

    @initialize(strategies=st.tuples(STRATEGIES, STRATEGIES), second_priority=st.sampled_from([1, 2]))
    def open_center(self, strategies: tuple[Strategy, Strategy], second_priority: int) -> None:
        _, key = self.service.keys.create(self.tenant, "desk")
        self.metadata = (("x-api-key", key),)
        for queue_id, strategy in zip(QUEUES, strategies, strict=True):
            self.router.catalog.put_queue(
                Queue(
                    queue_id,
                    self.tenant,
                    queue_id.upper(),
                    frozenset({Channel.VOICE, Channel.CHAT}),
                    strategy=strategy,
                    offer_timeout=OFFER_TIMEOUT,
                    max_no_answer=MAX_NO_ANSWER,
                    after_contact_work_timeout=WRAP_UP,
                )
            )
        profile = RoutingProfile(
            (QueueMembership(QUEUES[0]), QueueMembership(QUEUES[1], priority=second_priority)),
            {Channel.VOICE: CAPACITY[VOICE], Channel.CHAT: CAPACITY[CHAT]},
            cross_channel=CrossChannelRule.ANY,
            voice_exclusive=False,
        )
        for agent_id in AGENTS:
            self.router.catalog.put_agent(self.tenant, AgentConfig(agent_id, {}, profile=profile))

    def teardown(self) -> None:
        # Leave no timers behind for another test's timer worker to fire.
        client = self.router.store.client
        client.delete(Keys(self.tenant).timers())
        client.srem(TENANTS, self.tenant)

    # -- calling --

    def _call(self, rpc: str, what: str, call: Callable[[], R], expected: grpc.StatusCode) -> R | None:
        code, response, details = outcome(call)
        event(f"{rpc} {code.name}")
        assert code == expected, (
            f"{what}: the model expects {expected.name}, the service said {code.name} {details}"
        )
        return response

    def _learn_offers(self) -> None:
        """The offers the service made in this step, each checked against the model: a contact
        waiting, an agent ready for it with room, who has not declined it."""
        now = self.clock.now()
        for contact in self.model.contacts.values():
            if contact.place not in WAITING:
                continue
            record = self.router.store.contact(self.tenant, contact.contact_id)
            assert record is not None
            if record.contact.status is not ContactStatus.OFFERED:
                continue
            offer = (record.contact.agent_id, record.contact.offer_id)
            if contact.place is Place.OFFERED:
                assert offer == (contact.agent_id, contact.offer_id), f"{contact} is now on offer as {offer}"
                continue
            agent = self.model.agents.get(offer[0])
            assert agent is not None, f"{contact.contact_id} offered to {offer[0]}"
            assert self.model.can_take(agent, contact), f"{contact} offered to {agent}, who cannot take it"
            assert record.contact.offer_expires_at == now + OFFER_TIMEOUT
            event("offer made")
            self.model.offered(contact, agent, offer[1], now)

    def _fire_due_timers(self) -> None:
        """`TimerWorker.run_once` for this tenant only: the Redis is shared with other tests."""
        worker = self.router.timer_worker()
        now_ms = int(self.clock.now().timestamp() * 1000)
        for member in self.router.store.due_timers(self.tenant, now_ms, 1000):
            worker.fire(self.tenant, member)

    # -- a gateway --

    @rule(
        contact_id=st.sampled_from(CONTACTS),
        channel=st.sampled_from([VOICE, CHAT]),
        queue_id=st.sampled_from(QUEUES),
        later=st.booleans(),
    )
    def submit(self, contact_id: str, channel: str, queue_id: str, later: bool) -> None:
        if later:
            self.clock.advance(timedelta(seconds=1))
        now = self.clock.now()
        existing = self.model.contacts.get(contact_id)
        request = pb.SubmitContactRequest(
            contact_id=contact_id, channel=CHANNEL_TO_PROTO[channel], queue_id=queue_id
        )
        ahead = [c for c in self.model.waiting(queue_id, channel) if c.since < now]
        response = self._call(
            "SubmitContact",
            f"submit {contact_id}",
            lambda: self.stub.SubmitContact(request, metadata=self.metadata, timeout=RPC_TIMEOUT_S),
            OK,
        )
        assert response is not None
        if existing is not None:
            # Idempotent by id: a redelivery returns the contact where it is.
            assert (response.contact_id, response.queue_id) == (contact_id, existing.queue_id)
        else:
            assert (response.contact_id, response.queue_id) == (contact_id, queue_id)
            assert response.position == len(ahead) + 1, (response.position, ahead)
            self.model.contacts[contact_id] = ModelContact(contact_id, channel, queue_id, since=now)
        self._learn_offers()

    @rule(contact_id=st.sampled_from(CONTACTS), refusal=st.sampled_from(["no_channel", "no_queue"]))
    def submit_refused(self, contact_id: str, refusal: str) -> None:
        if refusal == "no_channel":
            request = pb.SubmitContactRequest(contact_id=contact_id, queue_id=QUEUES[0])
            expected = INVALID_ARGUMENT
        else:
            request = pb.SubmitContactRequest(
                contact_id=contact_id, channel=common_pb2.CHANNEL_VOICE, queue_id="nowhere"
            )
            # An id already known is a redelivery, answered as it is.
            expected = OK if contact_id in self.model.contacts else NOT_FOUND
        self._call(
            "SubmitContact",
            f"submit {contact_id} ({refusal})",
            lambda: self.stub.SubmitContact(request, metadata=self.metadata, timeout=RPC_TIMEOUT_S),
            expected,
        )

    @rule(contact_id=st.sampled_from(CONTACTS))
    def abandon(self, contact_id: str) -> None:
        expected = predict_abandon(self.model, contact_id)
        request = pb.AbandonContactRequest(contact_id=contact_id, reason="hung up")
        response = self._call(
            "AbandonContact",
            f"abandon {contact_id}",
            lambda: self.stub.AbandonContact(request, metadata=self.metadata, timeout=RPC_TIMEOUT_S),
            expected,
        )
        if response is not None:
            self.model.abandoned(self.model.contacts[contact_id])
        self._learn_offers()

    # -- agent desktops --

    @rule(
        agent_id=st.sampled_from([*AGENTS, GHOST]),
        status=st.sampled_from(["available", "available", "away", "offline"]),
        reason=st.sampled_from(["break", "lunch", ""]),
    )
    def set_status(self, agent_id: str, status: str, reason: str) -> None:
        reason = reason if status == "away" else ""
        agent = self.model.agents.get(agent_id)
        expected = NOT_FOUND if agent is None else INVALID_ARGUMENT if status == "away" and not reason else OK
        request = pb.SetAgentStatusRequest(
            agent_id=agent_id, status=STATUS_TO_PROTO[status], reason_code=reason
        )
        response = self._call(
            "SetAgentStatus",
            f"{agent_id} sets {status} {reason}",
            lambda: self.stub.SetAgentStatus(request, metadata=self.metadata, timeout=RPC_TIMEOUT_S),
            expected,
        )
        if response is None or agent is None:
            return
        self.model.status_set(agent, status, reason)
        self._learn_offers()
        assert (response.status, response.reason_code) == (STATUS_TO_PROTO[agent.status], agent.reason)
        assert response.state == STATE_TO_PROTO[agent.state], (response, agent)

    def _offer_ids(self, agent_id: str) -> list[str]:
        """Mostly the agent's own pending offer; also stale, foreign and unknown ids."""
        agent = self.model.agents.get(agent_id)
        own = [self.model.contacts[agent.offer].offer_id] * 4 if agent is not None and agent.offer else []
        return [*own, *sorted(self.model.offers), "o-unknown"]

    @rule(data=st.data())
    def accept(self, data: st.DataObject) -> None:
        agent_id = data.draw(st.sampled_from([*AGENTS, GHOST]), label="agent")
        offer_id = data.draw(st.sampled_from(self._offer_ids(agent_id)), label="offer")
        expected = predict_accept(self.model, agent_id, offer_id, self.clock.now())
        request = pb.AcceptOfferRequest(agent_id=agent_id, offer_id=offer_id)
        response = self._call(
            "AcceptOffer",
            f"{agent_id} accepts {offer_id}",
            lambda: self.stub.AcceptOffer(request, metadata=self.metadata, timeout=RPC_TIMEOUT_S),
            expected,
        )
        if response is not None:
            contact = self.model.contacts[self.model.offers[offer_id]]
            assert response.contact_id == contact.contact_id
            self.model.accepted(contact)
        self._learn_offers()

    @rule(data=st.data())
    def reject(self, data: st.DataObject) -> None:
        agent_id = data.draw(st.sampled_from([*AGENTS, GHOST]), label="agent")
        offer_id = data.draw(st.sampled_from(self._offer_ids(agent_id)), label="offer")
        expected = predict_reject(self.model, agent_id, offer_id)
        request = pb.RejectOfferRequest(agent_id=agent_id, offer_id=offer_id, reason="busy")
        response = self._call(
            "RejectOffer",
            f"{agent_id} rejects {offer_id}",
            lambda: self.stub.RejectOffer(request, metadata=self.metadata, timeout=RPC_TIMEOUT_S),
            expected,
        )
        if response is not None:
            self.model.rejected(self.model.contacts[self.model.offers[offer_id]])
        self._learn_offers()

    @precondition(lambda self: any(agent.offer for agent in self.model.agents.values()))
    @rule(data=st.data())
    def desk_shows_the_pending_offer(self, data: st.DataObject) -> None:
        offered = sorted(agent.agent_id for agent in self.model.agents.values() if agent.offer)
        agent = self.model.agents[data.draw(st.sampled_from(offered), label="agent")]
        contact = self.model.contacts[agent.offer]
        call = self.stub.StreamOffers(
            pb.StreamOffersRequest(agent_id=agent.agent_id), metadata=self.metadata, timeout=STREAM_TIMEOUT_S
        )
        try:
            first = next(iter(call))
        finally:
            call.cancel()  # type: ignore[no-untyped-call]  # grpc-stubs leaves it untyped
        assert first.WhichOneof("item") == "offer", first
        shown = first.offer
        assert (shown.offer_id, shown.contact_id, shown.queue_id) == (
            contact.offer_id,
            contact.contact_id,
            contact.queue_id,
        )
        assert CHANNEL_FROM_PROTO[shown.channel] == contact.channel

    def _agent_for(self, data: st.DataObject, contact_id: str, *, gateway: bool = False) -> str:
        """Mostly the agent who has the contact; sometimes another, an unknown one or (for a
        gateway's hang-up) nobody."""
        owner = self.model.owner(contact_id)
        choices = [*([owner] * 4 if owner else []), *AGENTS, GHOST, *([""] * 2 if gateway else [])]
        return data.draw(st.sampled_from(choices), label="agent")

    @rule(contact_id=st.sampled_from(CONTACTS), resume=st.booleans(), data=st.data())
    def hold_or_resume(self, contact_id: str, resume: bool, data: st.DataObject) -> None:
        agent_id = self._agent_for(data, contact_id)
        expected = predict_hold(self.model, contact_id, agent_id, resume=resume)
        if resume:
            resumed = pb.ResumeContactRequest(contact_id=contact_id, agent_id=agent_id)
            response: object = self._call(
                "ResumeContact",
                f"{agent_id} resumes {contact_id}",
                lambda: self.stub.ResumeContact(resumed, metadata=self.metadata, timeout=RPC_TIMEOUT_S),
                expected,
            )
        else:
            held = pb.HoldContactRequest(contact_id=contact_id, agent_id=agent_id)
            response = self._call(
                "HoldContact",
                f"{agent_id} holds {contact_id}",
                lambda: self.stub.HoldContact(held, metadata=self.metadata, timeout=RPC_TIMEOUT_S),
                expected,
            )
        if response is not None:
            self.model.contacts[contact_id].place = Place.CONNECTED if resume else Place.HELD
        self._learn_offers()

    @rule(contact_id=st.sampled_from(CONTACTS), data=st.data())
    def end(self, contact_id: str, data: st.DataObject) -> None:
        agent_id = self._agent_for(data, contact_id, gateway=True)
        expected = predict_end(self.model, contact_id, agent_id)
        request = pb.EndContactRequest(contact_id=contact_id, agent_id=agent_id)
        response = self._call(
            "EndContact",
            f"{agent_id or 'the gateway'} ends {contact_id}",
            lambda: self.stub.EndContact(request, metadata=self.metadata, timeout=RPC_TIMEOUT_S),
            expected,
        )
        if response is not None:
            contact = self.model.contacts[contact_id]
            self.model.ended(contact, self.clock.now())
            assert response.after_contact_work_until.ToDatetime(tzinfo=self.clock.now().tzinfo) == (
                contact.wrap_up_until
            )
        self._learn_offers()

    @rule(
        contact_id=st.sampled_from(CONTACTS),
        disposition=st.sampled_from(["resolved", "sold", ""]),
        data=st.data(),
    )
    def complete(self, contact_id: str, disposition: str, data: st.DataObject) -> None:
        agent_id = self._agent_for(data, contact_id)
        expected = predict_complete(self.model, contact_id, agent_id, disposition)
        request = pb.CompleteContactRequest(
            contact_id=contact_id, agent_id=agent_id, disposition_code=disposition
        )
        response = self._call(
            "CompleteContact",
            f"{agent_id} completes {contact_id} ({disposition or 'no disposition'})",
            lambda: self.stub.CompleteContact(request, metadata=self.metadata, timeout=RPC_TIMEOUT_S),
            expected,
        )
        if response is not None:
            self.model.completed(self.model.contacts[contact_id])
        self._learn_offers()

    # -- time --

    @rule(seconds=st.sampled_from([3, 10, 21, 61]))
    def time_passes(self, seconds: int) -> None:
        now = self.clock.advance(timedelta(seconds=seconds))
        self._fire_due_timers()
        for contact in list(self.model.contacts.values()):
            if (
                contact.place is Place.OFFERED
                and contact.offer_expires_at
                and contact.offer_expires_at <= now
            ):
                event("offer timed out")
                self.model.offer_timed_out(contact)
            elif (
                contact.place is Place.AFTER_CONTACT_WORK
                and contact.wrap_up_until
                and contact.wrap_up_until <= now
            ):
                event("wrap-up timed out")
                self.model.completed(contact)
        self._learn_offers()

    # -- after every step --

    @invariant()
    def contacts_are_where_the_model_has_them(self) -> None:
        for contact in self.model.contacts.values():
            record = self.router.store.contact(self.tenant, contact.contact_id)
            assert record is not None
            found = record.contact
            assert found.status.value == contact.place.value, (contact, found.status)
            if contact.place in IN_HAND or contact.place is Place.OFFERED:
                assert found.agent_id == contact.agent_id, (contact, found.agent_id)
            assert set(found.declined_by) == contact.declined, (contact, found.declined_by)

    @invariant()
    def agents_are_where_the_model_has_them(self) -> None:
        for agent in self.model.agents.values():
            record = self.router.store.agent(self.tenant, agent.agent_id)
            assert record is not None
            found = record.agent
            assert (found.status.value, found.away_reason) == (agent.status, agent.reason), (agent, found)
            assert found.state.value == agent.state.value, (agent, found)
            assert sorted(record.contacts) == sorted(agent.contacts), (agent, record.contacts)
            for channel, capacity in CAPACITY.items():
                active = found.load.get(Channel(channel), 0)
                assert active <= capacity, (
                    f"{agent.agent_id} has {active} {channel} contacts, capacity {capacity}"
                )
                assert active == self.model.load(agent, channel), (agent, found.load)
            assert found.consecutive_no_answers == agent.misses, (agent, found)

    @invariant()
    def one_offer_per_contact_and_per_agent(self) -> None:
        offers: Counter[str] = Counter()
        for contact_id in self.model.contacts:
            record = self.router.store.contact(self.tenant, contact_id)
            assert record is not None
            if record.contact.status is ContactStatus.OFFERED:
                offers[record.contact.agent_id] += 1
        assert all(count <= 1 for count in offers.values()), f"agents with several offers pending: {offers}"
        pending: Counter[str] = Counter()
        for agent_id in AGENTS:
            agent = self.router.store.agent(self.tenant, agent_id)
            assert agent is not None
            if agent.offer is not None and offers[agent_id]:
                pending[agent.offer.contact_id] += 1
        assert all(count <= 1 for count in pending.values()), (
            f"contacts on offer to several agents: {pending}"
        )

    @invariant()
    def no_idle_agent_while_work_waits(self) -> None:
        for contact in self.model.contacts.values():
            if contact.place is not Place.QUEUED:
                continue
            able = [a.agent_id for a in self.model.agents.values() if self.model.can_take(a, contact)]
            assert not able, f"{contact.contact_id} waits while {able} could take it: {self.model.agents}"

    @invariant()
    def queue_status_counts_what_waits(self) -> None:
        by_state = Counter(
            STATE_TO_PROTO[agent.state] for agent in self.model.agents.values() if agent.status != "offline"
        )
        for queue_id in QUEUES:
            status = self.stub.GetQueueStatus(
                pb.GetQueueStatusRequest(queue_id=queue_id), metadata=self.metadata, timeout=RPC_TIMEOUT_S
            )
            depths = {CHANNEL_FROM_PROTO[channel.channel]: channel.depth for channel in status.channels}
            expected = {
                VOICE: len(self.model.waiting(queue_id, VOICE)),
                CHAT: len(self.model.waiting(queue_id, CHAT)),
            }
            assert depths == {**expected, "callback": 0}, (queue_id, depths, expected)
            for channel in status.channels:
                counted = {count.state: count.count for count in channel.agents_by_state if count.count}
                assert counted == dict(by_state), (queue_id, counted, by_state)


SETTINGS = settings(
    max_examples=15,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def test_the_router_over_grpc_behaves_as_the_model_says(
    router: Router, clock: FakeClock, redis_client: redis.Redis, unique: str
) -> None:
    keys = ApiKeyStore(redis_client, pepper=unique)
    with serving(router, keys) as stub:
        service = Service(router, clock, keys, stub)
        # Hypothesis takes any factory of the machine; its stubs ask for the class.
        run_state_machine_as_test(lambda: RouterOverGrpc(service), settings=SETTINGS)  # type: ignore[arg-type]
