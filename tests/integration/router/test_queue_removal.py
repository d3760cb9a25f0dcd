"""Removing a queue on the real Redis: refused while anything uses it, and then nothing of it is
left, its requirement signatures, ready sets and handle-time average included."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import redis

from helpline.clock import FakeClock
from helpline.domain import NotFoundError
from helpline.v1 import queue_events_pb2
from services.router.composition import Router
from services.router.domain import arrival
from services.router.domain.contact import ContactContext
from services.router.domain.errors import InvalidConfiguration
from services.router.domain.model import (
    AgentStatus,
    Channel,
    OverflowStep,
    Queue,
    QueueMembership,
    RoutingProfile,
    SkillRequirement,
)
from services.router.storage.store import ConflictError, Keys, Tx
from services.router.storage.tenants import TENANTS
from services.router.usecases.configuration import AgentConfig
from services.router.usecases.intake import NewContact
from tests.integration.router.router_events import router_events


def _keys_of_queue(client: redis.Redis, tenant: str, queue_id: str) -> list[str]:
    """Every key of the tenant named after the queue (the record and each per-queue index)."""
    named = re.compile(rf":(queue|sigs|cq|aq|members|staffed|state|depth|stats):{re.escape(queue_id)}(:|$)")
    found: Any = client.scan_iter(match=f"{Keys(tenant).base}:*", count=1000)
    return sorted(key.decode() for key in found if named.search(key.decode()))


def _queues(router: Router, tenant: str) -> None:
    router.catalog.put_skill(tenant, "billing", "")
    router.catalog.put_skill(tenant, "french", "")
    router.catalog.put_queue(
        Queue(
            "old",
            tenant,
            "Old",
            frozenset({Channel.VOICE, Channel.CHAT}),
            required_skills=(SkillRequirement("billing", 2),),
            overflow_steps=(OverflowStep(timedelta(seconds=30), accept_any_agent=True),),
        )
    )
    router.catalog.put_queue(Queue("new", tenant, "New", frozenset({Channel.CHAT})))


def _profile(*queue_ids: str) -> RoutingProfile:
    return RoutingProfile(tuple(QueueMembership(q) for q in queue_ids), {Channel.VOICE: 1, Channel.CHAT: 2})


def test_a_queue_nothing_uses_goes_with_all_its_keys(
    router: Router, tenant: str, clock: FakeClock, redis_client: redis.Redis
) -> None:
    _queues(router, tenant)
    skills = {"billing": 3, "french": 1}
    router.catalog.put_agent(tenant, AgentConfig("a1", skills, profile=_profile("old", "new")))
    router.agents.set_status(tenant, "a1", AgentStatus.AVAILABLE)
    # A chat that needs French of its own (a signature of its own) is answered and completed.
    french = ContactContext(required_skills=(SkillRequirement("french", 1),))
    router.intake.submit(tenant, NewContact(Channel.CHAT, queue_id="old", contact_id="c1", context=french))
    agent = router.store.agent(tenant, "a1")
    assert agent is not None
    assert agent.offer is not None
    router.answers.accept(tenant, "a1", agent.offer.offer_id)
    clock.advance(timedelta(seconds=60))
    router.conversations.complete(tenant, "c1", "a1", "done")
    keys = Keys(tenant)
    before = _keys_of_queue(redis_client, tenant, "old")
    assert {keys.queue("old"), keys.queue_stats("old"), keys.signatures("old", Channel.CHAT)} <= set(before)
    assert keys.ready("old", Channel.VOICE, "billing:2") in before
    with pytest.raises(InvalidConfiguration, match="queue_in_use"):
        router.catalog.remove_queue(tenant, "old")

    router.catalog.put_agent(tenant, AgentConfig("a1", {"billing": 3}, profile=_profile("new")))
    router.catalog.remove_queue(tenant, "old")

    assert _keys_of_queue(redis_client, tenant, "old") == []
    assert [q.queue_id for q in router.catalog.queues(tenant)] == ["new"]
    assert _keys_of_queue(redis_client, tenant, "new") != []
    [removed] = router_events(redis_client, tenant, queue_events_pb2.QueueRemoved)
    assert (removed.tenant_id, removed.queue_id) == (tenant, "old")
    with pytest.raises(NotFoundError):
        router.catalog.remove_queue(tenant, "old")
    # The finished contact that passed through it is still answered for, with the queue's id.
    record = router.store.contact(tenant, "c1")
    assert record is not None
    assert record.contact.queue_id == "old"


@pytest.mark.parametrize("user", ["agent", "profile", "overflow", "contact"])
def test_a_queue_in_use_stays(router: Router, tenant: str, user: str) -> None:
    _queues(router, tenant)
    if user == "agent":
        router.catalog.put_agent(tenant, AgentConfig("a1", {}, profile=_profile("old")))
    elif user == "profile":
        router.catalog.put_profile(tenant, "desk", "Desk", _profile("new", "old"))
    elif user == "overflow":
        router.catalog.put_queue(
            Queue(
                "first",
                tenant,
                "First",
                frozenset({Channel.CHAT}),
                overflow_steps=(OverflowStep(timedelta(seconds=60), move_to_queue_id="old"),),
            )
        )
    else:
        router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="old", contact_id="c1"))

    with pytest.raises(InvalidConfiguration, match="queue_in_use") as refused:
        router.catalog.remove_queue(tenant, "old")
    assert refused.value.detail == {"queue_id": "old"}
    assert router.catalog.queue(tenant, "old").queue_id == "old"


def test_a_stale_expected_version_is_refused(router: Router, tenant: str) -> None:
    _queues(router, tenant)
    with pytest.raises(InvalidConfiguration, match="version_mismatch"):
        router.catalog.remove_queue(tenant, "new", expected_version=2)
    router.catalog.remove_queue(tenant, "new", expected_version=1)


def test_a_contact_never_waits_in_a_queue_removed_meanwhile(
    router: Router, tenant: str, clock: FakeClock
) -> None:
    _queues(router, tenant)
    queue = router.catalog.queue(tenant, "new")
    received = arrival.receive(
        contact_id="c1", tenant_id=tenant, channel=Channel.CHAT, department=queue.department, now=clock.now()
    ).contact
    waiting = arrival.enqueue(received, "new", clock.now()).contact
    # Decided while the queue was there, committed after it went: nothing is written.
    router.catalog.remove_queue(tenant, "new")
    tx = Tx(Keys(tenant))
    router.core.stage_contact(tx, None, waiting, queue, clock.now())
    with pytest.raises(ConflictError):
        router.store.commit(tx)
    assert router.store.contact(tenant, "c1") is None
    # Decided after: the queue is not found.
    with pytest.raises(NotFoundError):
        router.core.stage_contact(Tx(Keys(tenant)), None, waiting, None, clock.now())
    with pytest.raises(NotFoundError):
        router.intake.submit(tenant, NewContact(Channel.CHAT, queue_id="new", contact_id="c2"))


def test_removing_the_last_queue_takes_the_tenant_out_of_the_registry(
    router: Router, tenant: str, redis_client: redis.Redis
) -> None:
    router.catalog.put_queue(Queue("only", tenant, "Only", frozenset({Channel.CHAT})))
    assert redis_client.sismember(TENANTS, tenant)
    router.catalog.remove_queue(tenant, "only")
    assert not redis_client.sismember(TENANTS, tenant)
    router.catalog.put_queue(Queue("again", tenant, "Again", frozenset({Channel.CHAT})))
    assert tenant in router.registry.tenants()
