"""Routing decisions through the router's use cases on the real Redis: capacity, skills and overflow,
priority, the agent who misses offers, and SLA reactions."""

from __future__ import annotations

from datetime import timedelta

import redis

from helpline.clock import FakeClock
from helpline.v1 import contact_events_pb2
from services.router.composition import Router
from services.router.domain.contact import ContactContext, ContactStatus
from services.router.domain.model import (
    AgentState,
    AgentStatus,
    Channel,
    CrossChannelRule,
    OverflowStep,
    Priority,
    Queue,
    QueueMembership,
    RoutingProfile,
    SkillRequirement,
)
from services.router.usecases.configuration import AgentConfig
from services.router.usecases.intake import NewContact
from tests.integration.router.router_events import router_events


def _status(router: Router, tenant: str, contact_id: str) -> ContactStatus:
    record = router.store.contact(tenant, contact_id)
    assert record is not None
    return record.contact.status


def _agent_of(router: Router, tenant: str, contact_id: str) -> str:
    record = router.store.contact(tenant, contact_id)
    assert record is not None
    return record.contact.agent_id


def _accept(router: Router, tenant: str, agent_id: str) -> None:
    record = router.store.agent(tenant, agent_id)
    assert record is not None
    assert record.offer is not None
    router.answers.accept(tenant, agent_id, record.offer.offer_id)


def test_chats_run_concurrently_up_to_capacity_one_offer_at_a_time(router: Router, tenant: str) -> None:
    router.catalog.put_queue(Queue("web", tenant, "Web", frozenset({Channel.CHAT})))
    profile = RoutingProfile((QueueMembership("web"),), {Channel.CHAT: 2}, CrossChannelRule.ANY)
    router.catalog.put_agent(tenant, AgentConfig("a", {}, profile=profile))
    router.agents.set_status(tenant, "a", AgentStatus.AVAILABLE)
    for i in range(3):
        router.intake.submit(tenant, NewContact(Channel.CHAT, queue_id="web", contact_id=f"c{i}"))
    assert [_status(router, tenant, f"c{i}") for i in range(3)] == [
        ContactStatus.OFFERED,
        ContactStatus.QUEUED,
        ContactStatus.QUEUED,
    ]
    _accept(router, tenant, "a")
    assert _status(router, tenant, "c1") is ContactStatus.OFFERED
    _accept(router, tenant, "a")
    assert _status(router, tenant, "c2") is ContactStatus.QUEUED
    agent = router.store.agent(tenant, "a")
    assert agent is not None
    assert agent.agent.active(Channel.CHAT) == 2
    router.conversations.complete(tenant, "c0", "a", "resolved")
    assert _status(router, tenant, "c2") is ContactStatus.OFFERED


def test_skills_gate_the_offer_until_an_overflow_step_drops_them(
    router: Router, tenant: str, clock: FakeClock
) -> None:
    router.catalog.put_skill(tenant, "french", "")
    queue = Queue(
        "billing",
        tenant,
        "Billing",
        frozenset({Channel.VOICE}),
        required_skills=(SkillRequirement("french", 4),),
        overflow_steps=(OverflowStep(timedelta(seconds=30), drop_skills=frozenset({"french"})),),
    )
    router.catalog.put_queue(queue)
    profile = RoutingProfile((QueueMembership("billing"),))
    router.catalog.put_agent(tenant, AgentConfig("novice", {"french": 2}, profile=profile))
    router.agents.set_status(tenant, "novice", AgentStatus.AVAILABLE)
    router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="billing", contact_id="c"))
    assert _status(router, tenant, "c") is ContactStatus.QUEUED
    clock.advance(timedelta(seconds=31))
    router.timer_worker().run_once()
    assert _agent_of(router, tenant, "c") == "novice"


def test_an_agent_who_frees_up_takes_the_urgent_contact_before_older_ones(
    router: Router, tenant: str, clock: FakeClock
) -> None:
    router.catalog.put_queue(Queue("q", tenant, "Q", frozenset({Channel.VOICE})))
    router.catalog.put_agent(tenant, AgentConfig("a", {}, profile=RoutingProfile((QueueMembership("q"),))))
    router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="q", contact_id="old"))
    clock.advance(timedelta(seconds=10))
    urgent = ContactContext(priority=Priority.URGENT)
    router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="q", contact_id="urgent", context=urgent))
    router.agents.set_status(tenant, "a", AgentStatus.AVAILABLE)
    assert _agent_of(router, tenant, "urgent") == "a"
    assert _status(router, tenant, "old") is ContactStatus.QUEUED


def test_offers_missed_in_a_row_send_the_agent_away(router: Router, tenant: str, clock: FakeClock) -> None:
    router.catalog.put_queue(Queue("q", tenant, "Q", frozenset({Channel.VOICE}), max_no_answer=2))
    router.catalog.put_agent(tenant, AgentConfig("a", {}, profile=RoutingProfile((QueueMembership("q"),))))
    router.agents.set_status(tenant, "a", AgentStatus.AVAILABLE)
    for i in range(2):
        router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="q", contact_id=f"c{i}"))
        clock.advance(timedelta(seconds=21))
        router.timer_worker().run_once()
    agent = router.store.agent(tenant, "a")
    assert agent is not None
    assert agent.agent.status is AgentStatus.AWAY
    assert agent.agent.away_reason == "missed"
    assert agent.agent.state is AgentState.MISSED
    assert [_status(router, tenant, f"c{i}") for i in range(2)] == [ContactStatus.QUEUED] * 2


def test_sla_reactions_raise_the_priority_and_force_the_overflow(
    router: Router, tenant: str, redis_client: redis.Redis
) -> None:
    router.catalog.put_skill(tenant, "vip", "")
    queue = Queue(
        "q",
        tenant,
        "Q",
        frozenset({Channel.VOICE}),
        required_skills=(SkillRequirement("vip", 5),),
        overflow_steps=(OverflowStep(timedelta(minutes=10), accept_any_agent=True),),
    )
    router.catalog.put_queue(queue)
    router.catalog.put_agent(tenant, AgentConfig("a", {}, profile=RoutingProfile((QueueMembership("q"),))))
    router.agents.set_status(tenant, "a", AgentStatus.AVAILABLE)
    router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="q", contact_id="c"))
    router.waiting.raise_priority(tenant, "c", Priority.HIGH)
    record = router.store.contact(tenant, "c")
    assert record is not None
    assert record.contact.priority is Priority.HIGH
    assert _status(router, tenant, "c") is ContactStatus.QUEUED
    router.waiting.force_overflow(tenant, "c")
    assert _agent_of(router, tenant, "c") == "a"
    offered = router_events(redis_client, tenant, contact_events_pb2.ContactOffered)
    assert [event.contact_id for event in offered] == ["c"]
