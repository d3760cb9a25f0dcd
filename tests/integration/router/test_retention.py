"""Every router record has an end of life, on the real Redis (docs/router.md, Retention).

A property test drives one tenant's contacts through random sequences of the use cases (arrivals,
returns, offers answered or not, the conversation, transfers, hand-offs, callbacks, abandons,
self-service, timers, signature pruning), checking after every step that only finished (or merely
received) contacts have an expiry, then drives every contact to a final state and checks that
nothing of them is left but keys that expire within the contact retention: no set, sorted-set or
hash member names a contact or one of its offers. A second test really waits for the expiry.
"""

from __future__ import annotations

import base64
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bench.redis_keys import unlink_matching
from helpline.clock import FakeClock
from helpline.domain import NotFoundError
from helpline.v1 import router_service_pb2
from services.router.composition import Router
from services.router.domain.contact import ContactContext, ContactStatus
from services.router.domain.errors import DomainError
from services.router.domain.model import (
    AgentStatus,
    Channel,
    Department,
    OverflowStep,
    Queue,
    QueueMembership,
    RoutingProfile,
    SkillRequirement,
    Strategy,
    TimeoutAction,
)
from services.router.storage.indexes import ms
from services.router.storage.records import ContactRecord
from services.router.storage.retention import Retention
from services.router.storage.store import Keys, Store, Tx
from services.router.storage.tenants import TENANTS
from services.router.usecases.configuration import AgentConfig
from services.router.usecases.intake import NewContact
from services.router.workers.timers import BATCH
from tests.integration.router.leftovers import Mention, mentions

START = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)
RETENTION = Retention(contact_s=3600, last_agent_s=7200, desk_s=600)
OFFER_TIMEOUT = timedelta(seconds=20)
MAX_WAIT = timedelta(minutes=10)
AGENTS = ("a1", "a2")
CUSTOMERS = ("", "cust-1", "cust-2")
# Queue skills, a skill no queue names, and one the tenant does not have: contacts bring any.
OWN_SKILLS = ((), (SkillRequirement("french", 1),), (SkillRequirement("klingon", 2),))
S = ContactStatus


class Floor:
    """One tenant on the shared Redis: two queues of two departments, two agents, a moving clock."""

    def __init__(self, client: redis.Redis, retention: Retention) -> None:
        self.client = client
        self.tenant = f"t{uuid.uuid4().hex[:10]}"
        self.clock = FakeClock(START)
        self.router = Router(client, self.clock, retention)
        self.keys = Keys(self.tenant)
        self.submitted = 0
        catalog = self.router.catalog
        for skill in ("billing", "french"):
            catalog.put_skill(self.tenant, skill, "")
        voice_chat = frozenset({Channel.VOICE, Channel.CHAT, Channel.EMAIL})
        catalog.put_queue(
            Queue(
                "front",
                self.tenant,
                "Front",
                voice_chat,
                strategy=Strategy.PREFERRED_AGENT,
                preferred_agent_window=timedelta(seconds=30),
                required_skills=(SkillRequirement("billing", 2),),
                overflow_steps=(OverflowStep(timedelta(seconds=60), accept_any_agent=True),),
                max_wait=MAX_WAIT,
                offer_timeout=OFFER_TIMEOUT,
                after_contact_work_timeout=timedelta(seconds=30),
            )
        )
        catalog.put_queue(
            Queue(
                "tech",
                self.tenant,
                "Tech",
                voice_chat,
                department=Department.SUPPORT,
                max_wait=MAX_WAIT,
                timeout_action=TimeoutAction.VOICEMAIL,
                offer_timeout=OFFER_TIMEOUT,
            )
        )
        profile = RoutingProfile(
            (QueueMembership("front"), QueueMembership("tech")),
            {Channel.VOICE: 1, Channel.CHAT: 2, Channel.EMAIL: 1},
            voice_exclusive=False,
        )
        catalog.put_agent(self.tenant, AgentConfig("a1", {"billing": 3, "french": 2}, profile=profile))
        catalog.put_agent(self.tenant, AgentConfig("a2", {"billing": 1}, profile=profile))

    def remove(self) -> None:
        unlink_matching(self.client, f"{self.keys.base}:*")
        self.client.srem(TENANTS, self.tenant)

    # -- reading --

    def records(self) -> dict[str, ContactRecord]:
        prefix = self.keys.contact("")
        ids = [key.decode()[len(prefix) :] for key in self.client.scan_iter(match=f"{prefix}*", count=1000)]
        return {record.contact.contact_id: record for record in self.router.store.contacts(self.tenant, ids)}

    def offer_ids(self) -> set[str]:
        """Every offer made, from the agents' desks (each offer is written to one)."""
        desks = [self.keys.desk(agent_id) for agent_id in AGENTS]
        return {offer_id for desk in desks for offer_id in desk_offers(self.client, desk)}

    # -- acting --

    def run_timers(self) -> None:
        """Fire this tenant's due timers only (other tests' tenants share the registry)."""
        worker = self.router.timer_worker()
        for _ in range(20):
            due = self.router.store.due_timers(self.tenant, ms(self.clock.now()), BATCH)
            if not due:
                return
            for member in due:
                worker.fire(self.tenant, member)

    def tick(self, seconds: int) -> None:
        self.clock.advance(timedelta(seconds=seconds))
        self.run_timers()


def desk_offers(client: redis.Redis, desk: str) -> list[str]:
    """The ids of the offers on a desk stream, oldest first."""
    entries: Any = client.xrange(desk)
    return [
        router_service_pb2.Offer.FromString(base64.b64decode(fields[b"data"])).offer_id
        for _, fields in entries
        if fields[b"kind"] == b"offer"
    ]


def attempt(action: Callable[[], object]) -> None:
    """Refusals are part of the game: a step the state forbids changes nothing."""
    with contextlib.suppress(DomainError, NotFoundError):
        action()


def check_lifetimes(floor: Floor, retention: Retention) -> None:
    """A contact record expires once the contact is finished (or while it is merely received) and
    never before; an offer id, a desk and a customer's last agent always expire."""
    for raw in floor.client.scan_iter(match=f"{floor.keys.base}:*", count=1000):
        key = raw.decode()
        ttl: Any = floor.client.ttl(raw)
        if key.startswith(floor.keys.contact("")):
            record = floor.router.store.contact(floor.tenant, key.removeprefix(floor.keys.contact("")))
            if record is None:
                continue
            if record.contact.is_final or record.contact.status is S.RECEIVED:
                assert 0 < ttl <= retention.contact_s, (key, record.contact.status, ttl)
            else:
                assert ttl == -1, (key, record.contact.status, ttl)
        elif key.startswith(floor.keys.offer("")):
            assert 0 < ttl <= retention.contact_s + OFFER_TIMEOUT.total_seconds(), (key, ttl)
        elif key.startswith(floor.keys.desk("")):
            assert 0 < ttl <= retention.desk_s, (key, ttl)
        elif key.startswith(floor.keys.customer_agent("")):
            assert 0 < ttl <= retention.last_agent_s, (key, ttl)


def finish_everything(floor: Floor) -> None:
    """Every contact of the tenant to a final state: the agents step away, what they have they
    complete, offers are declined, callers hang up, and the rest waits out the maximum wait."""
    router, tenant = floor.router, floor.tenant
    for agent_id in AGENTS:
        attempt(partial(router.agents.set_status, tenant, agent_id, AgentStatus.AWAY, reason="break"))
    for _ in range(10):
        still = [r.contact for r in floor.records().values() if not r.contact.is_final]
        if not still:
            return
        for contact in still:
            cid, agent_id = contact.contact_id, contact.agent_id
            if contact.status is S.RECEIVED:
                attempt(partial(router.intake.self_served, tenant, cid, "faq"))
            elif contact.consult_agent_id:
                attempt(partial(router.conversations.cancel_warm_transfer, tenant, cid, agent_id))
            elif contact.status in (S.CONNECTED, S.HELD, S.AFTER_CONTACT_WORK):
                attempt(partial(router.conversations.complete, tenant, cid, agent_id, "done"))
            elif contact.status is S.OFFERED:
                attempt(partial(router.answers.reject, tenant, agent_id, contact.offer_id))
            elif contact.channel in (Channel.VOICE, Channel.CHAT):
                attempt(partial(router.waiting.abandon, tenant, cid))
        floor.tick(int((MAX_WAIT + timedelta(minutes=1)).total_seconds()))
    still = [r.contact for r in floor.records().values() if not r.contact.is_final]
    raise AssertionError(f"contacts still open: {still}")


def assert_nothing_left_but_expiring(floor: Floor, retention: Retention) -> list[Mention]:
    records = floor.records()
    assert all(record.contact.is_final for record in records.values())
    found = mentions(floor.client, floor.tenant, [*records, *floor.offer_ids()])
    members = [m for m in found if m.member and m.kind != "stream"]
    assert members == [], "a finished contact is still in a set, sorted set or hash"
    for mention in found:
        limit = retention.desk_s if mention.kind == "stream" else retention.contact_s
        assert 0 < mention.ttl_s <= limit, mention
    return found


# -- the property ----------------------------------------------------------------------------------


def _contact(data: st.DataObject, floor: Floor) -> str:
    known = sorted(floor.records())
    return data.draw(st.sampled_from(known)) if known else "nobody"


def step(data: st.DataObject, floor: Floor) -> None:
    router, tenant = floor.router, floor.tenant
    intake, answers = router.intake, router.answers
    conversations, waiting = router.conversations, router.waiting
    kind = data.draw(
        st.sampled_from(
            [
                "submit", "submit", "submit", "return", "status", "accept", "accept", "accept",
                "reject", "stale_accept", "tick", "tick", "hold", "resume", "end", "end", "complete",
                "complete", "transfer", "warm", "abandon", "callback", "hand_off", "self_served",
                "prune",
            ]
        ),
        label="step",
    )  # fmt: skip
    agent_id = data.draw(st.sampled_from(AGENTS), label="agent")
    if kind in ("submit", "return"):
        floor.submitted += 1
        channel = data.draw(st.sampled_from([Channel.VOICE, Channel.CHAT, Channel.EMAIL, Channel.BOT]))
        context = ContactContext(
            customer_id=data.draw(st.sampled_from(CUSTOMERS)),
            required_skills=data.draw(st.sampled_from(OWN_SKILLS)),
        )
        queue_id = data.draw(st.sampled_from(["front", "tech", ""])) if channel is Channel.BOT else "front"
        new = NewContact(
            channel,
            contact_id=f"k{floor.submitted}z",
            queue_id=queue_id,
            context=context,
            related_contact_id=_contact(data, floor) if kind == "return" else "",
        )
        attempt(lambda: intake.submit(tenant, new))
        return
    if kind == "status":
        status = data.draw(st.sampled_from(list(AgentStatus)))
        reason = "break" if status is AgentStatus.AWAY else ""
        attempt(lambda: router.agents.set_status(tenant, agent_id, status, reason=reason))
        return
    if kind == "tick":
        floor.tick(data.draw(st.integers(min_value=1, max_value=700)))
        return
    if kind == "prune":
        router.catalog.prune_signatures(tenant, "front")
        return
    record = router.store.agent(tenant, agent_id)
    offer = record.offer if record is not None else None
    if kind in ("accept", "reject"):
        if offer is not None:
            answer = answers.accept if kind == "accept" else answers.reject
            attempt(lambda: answer(tenant, agent_id, offer.offer_id))
        return
    if kind == "stale_accept":
        offer_id = data.draw(st.sampled_from(sorted(floor.offer_ids()) or ["none"]))
        attempt(lambda: answers.accept(tenant, agent_id, offer_id))
        return
    held = record.contacts if record is not None else ()
    conversation = kind in ("hold", "resume", "end", "complete", "transfer", "warm")
    # Mostly the agent's own contacts, so that conversations go somewhere.
    cid = data.draw(st.sampled_from(held)) if conversation and held else _contact(data, floor)
    transfer_to: dict[str, Any] = data.draw(st.sampled_from([{"to_queue_id": "tech"}, {"to_agent_id": "a2"}]))
    warm = data.draw(st.sampled_from(["start", "complete", "cancel"]))
    actions: dict[str, Callable[[], object]] = {
        "hold": lambda: conversations.hold(tenant, cid, agent_id),
        "resume": lambda: conversations.resume(tenant, cid, agent_id),
        "end": lambda: conversations.end(tenant, cid, agent_id),
        "complete": lambda: conversations.complete(tenant, cid, agent_id, "done"),
        "transfer": lambda: conversations.transfer(tenant, cid, agent_id, **transfer_to),
        "warm": {
            "start": lambda: conversations.start_warm_transfer(tenant, cid, agent_id, "a2"),
            "complete": lambda: conversations.complete_warm_transfer(tenant, cid, agent_id),
            "cancel": lambda: conversations.cancel_warm_transfer(tenant, cid, agent_id),
        }[warm],
        "abandon": lambda: waiting.abandon(tenant, cid),
        "callback": lambda: waiting.request_callback(tenant, cid),
        "hand_off": lambda: waiting.hand_off(tenant, cid, "tech"),
        "self_served": lambda: intake.self_served(tenant, cid, "faq"),
    }
    attempt(actions[kind])


@pytest.fixture
def floors(redis_client: redis.Redis) -> Iterator[list[Floor]]:
    made: list[Floor] = []
    yield made
    for floor in made:
        floor.remove()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_nothing_of_a_finished_contact_outlives_its_retention(
    data: st.DataObject, redis_client: redis.Redis, floors: list[Floor]
) -> None:
    floor = Floor(redis_client, RETENTION)
    floors.append(floor)
    for agent_id in AGENTS:
        floor.router.agents.set_status(floor.tenant, agent_id, AgentStatus.AVAILABLE)
    for _ in range(data.draw(st.integers(min_value=1, max_value=30), label="steps")):
        step(data, floor)
        check_lifetimes(floor, RETENTION)
    for record in floor.records().values():
        event(f"a contact {record.contact.status.value} before the end")
    event(f"{min(len(floor.offer_ids()), 5)}+ offers")
    finish_everything(floor)
    check_lifetimes(floor, RETENTION)
    assert_nothing_left_but_expiring(floor, RETENTION)
    floor.remove()
    floors.remove(floor)


# -- really waiting ----------------------------------------------------------------------------------


def test_a_finished_contact_and_its_offers_are_gone_after_the_retention(
    redis_client: redis.Redis, floors: list[Floor]
) -> None:
    retention = Retention(contact_s=2, last_agent_s=2, desk_s=1)
    floor = Floor(redis_client, retention)
    floors.append(floor)
    router, tenant = floor.router, floor.tenant
    for agent_id in AGENTS:
        router.agents.set_status(tenant, agent_id, AgentStatus.AVAILABLE)
    # A call a1 declines and a2 takes and completes, a chat abandoned on offer, a bot that helped.
    router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="front", contact_id="k1z",
                                              context=ContactContext(customer_id="cust-1")))  # fmt: skip
    first = router.store.agent(tenant, "a1")
    assert first is not None
    assert first.offer is not None
    router.answers.reject(tenant, "a1", first.offer.offer_id)
    # Only a1 has billing 2; a minute on, the queue's overflow step takes anyone.
    floor.tick(61)
    second = router.store.agent(tenant, "a2")
    assert second is not None
    assert second.offer is not None
    router.answers.accept(tenant, "a2", second.offer.offer_id)
    router.conversations.complete(tenant, "k1z", "a2", "done")
    router.intake.submit(tenant, NewContact(Channel.CHAT, queue_id="front", contact_id="k2z"))
    router.waiting.abandon(tenant, "k2z")
    router.intake.submit(tenant, NewContact(Channel.BOT, contact_id="k3z"))
    router.intake.self_served(tenant, "k3z", "faq")
    ids = [*floor.records(), *floor.offer_ids()]
    assert len(ids) == 6
    assert_nothing_left_but_expiring(floor, retention)
    assert redis_client.exists(floor.keys.customer_agent("cust-1"))

    deadline = time.monotonic() + 10
    while mentions(redis_client, tenant, ids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert mentions(redis_client, tenant, ids) == []
    assert not redis_client.exists(floor.keys.customer_agent("cust-1"))
    assert not redis_client.exists(*(floor.keys.desk(agent_id) for agent_id in AGENTS))


def test_a_desk_keeps_its_entries_for_the_desk_retention(redis_client: redis.Redis, tenant: str) -> None:
    store = Store(redis_client, Retention(contact_s=4, desk_s=2))
    desk = Keys(tenant).desk("a1")

    def write(offer_id: str) -> None:
        tx = Tx(Keys(tenant))
        tx.desk("a1", "offer", router_service_pb2.Offer(offer_id=offer_id))
        store.commit(tx)

    write("o1")
    assert 0 < redis_client.pttl(desk) <= 2000
    # Time passes on purpose: what the desk retention keeps of the entries written over it.
    time.sleep(1.2)
    write("o2")
    time.sleep(1.2)
    write("o3")
    # o1 was older than the desk retention when o3 was written; o2 was not.
    assert desk_offers(redis_client, desk) == ["o2", "o3"]
    assert 0 < redis_client.pttl(desk) <= 2000
    redis_client.delete(desk)
