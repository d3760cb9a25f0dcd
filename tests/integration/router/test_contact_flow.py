"""A voice call from arrival to completion, and the pull the other way, on the real Redis."""

from __future__ import annotations

from datetime import timedelta

from helpline.clock import FakeClock
from services.router.composition import Router
from services.router.domain.contact import ContactStatus
from services.router.domain.model import (
    AgentState,
    AgentStatus,
    Channel,
    Queue,
    QueueMembership,
    RoutingProfile,
)
from services.router.storage.records import AgentRecord, ContactRecord
from services.router.usecases.configuration import AgentConfig
from services.router.usecases.intake import NewContact


def _setup(router: Router, tenant: str, agents: int = 1) -> None:
    router.catalog.put_queue(Queue("sales", tenant, "Sales", frozenset({Channel.VOICE, Channel.CHAT})))
    profile = RoutingProfile((QueueMembership("sales"),), {Channel.VOICE: 1})
    for i in range(agents):
        router.catalog.put_agent(tenant, AgentConfig(f"a{i}", {}, profile=profile))


def _contact(router: Router, tenant: str, contact_id: str) -> ContactRecord:
    record = router.store.contact(tenant, contact_id)
    assert record is not None
    return record


def _agent(router: Router, tenant: str, agent_id: str) -> AgentRecord:
    record = router.store.agent(tenant, agent_id)
    assert record is not None
    return record


def test_a_call_waits_then_an_agent_pulls_it_and_completes(
    router: Router, tenant: str, clock: FakeClock
) -> None:
    _setup(router, tenant)
    placed = router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="sales", contact_id="c1"))
    assert placed.contact.status is ContactStatus.QUEUED
    clock.advance(timedelta(seconds=5))
    router.agents.set_status(tenant, "a0", AgentStatus.AVAILABLE)
    assert _contact(router, tenant, "c1").contact.status is ContactStatus.OFFERED
    agent = _agent(router, tenant, "a0")
    assert agent.agent.state is AgentState.OFFERED
    assert agent.offer is not None
    router.answers.accept(tenant, "a0", agent.offer.offer_id)
    clock.advance(timedelta(seconds=30))
    router.conversations.end(tenant, "c1", "a0")
    assert _agent(router, tenant, "a0").agent.state is AgentState.AFTER_CONTACT_WORK
    router.conversations.complete(tenant, "c1", "a0", "sold")
    assert _contact(router, tenant, "c1").contact.status is ContactStatus.COMPLETED
    free = _agent(router, tenant, "a0").agent
    assert free.state is AgentState.IDLE
    assert free.total_load == 0


def test_a_new_contact_takes_an_available_agent_and_an_expired_offer_moves_on(
    router: Router, tenant: str, clock: FakeClock
) -> None:
    _setup(router, tenant, agents=2)
    router.agents.set_status(tenant, "a0", AgentStatus.AVAILABLE)
    clock.advance(timedelta(seconds=1))
    router.agents.set_status(tenant, "a1", AgentStatus.AVAILABLE)
    router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="sales", contact_id="c1"))
    assert _contact(router, tenant, "c1").contact.agent_id == "a0"
    clock.advance(timedelta(seconds=21))
    assert router.timer_worker().run_once() >= 1
    second = _contact(router, tenant, "c1")
    assert second.contact.status is ContactStatus.OFFERED
    assert second.contact.agent_id == "a1"
    assert second.contact.declined_by == ("a0",)
