"""Requirement signatures no contact waits on are pruned, on the real Redis: the ready sets of
contacts' own skills go with them, the queue's own stay, and a contact that needs one again gets
it back."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from helpline.clock import FakeClock
from services.router.composition import Router
from services.router.domain import arrival
from services.router.domain.contact import ContactContext, ContactStatus
from services.router.domain.model import (
    AgentStatus,
    Channel,
    Queue,
    QueueMembership,
    RoutingProfile,
    SkillRequirement,
)
from services.router.storage.store import ConflictError, Keys, Tx
from services.router.usecases.configuration import AgentConfig
from services.router.usecases.intake import NewContact
from services.router.workers.pruning import SignaturePruner

FRENCH = ContactContext(required_skills=(SkillRequirement("french", 1),))


def _signatures(client: redis.Redis, tenant: str) -> set[str]:
    members: Any = client.smembers(Keys(tenant).signatures("front", Channel.CHAT))
    return {member.decode() for member in members}


def _floor(router: Router, tenant: str, **queue: Any) -> None:
    router.catalog.put_skill(tenant, "french", "")
    router.catalog.put_skill(tenant, "billing", "")
    router.catalog.put_queue(Queue("front", tenant, "Front", frozenset({Channel.CHAT}), **queue))
    profile = RoutingProfile((QueueMembership("front"),), {Channel.CHAT: 2})
    router.catalog.put_agent(tenant, AgentConfig("a1", {"french": 2, "billing": 2}, profile=profile))


def _french(router: Router, tenant: str, contact_id: str) -> None:
    """A chat that needs French, which the queue does not ask for."""
    new = NewContact(Channel.CHAT, queue_id="front", contact_id=contact_id, context=FRENCH)
    router.intake.submit(tenant, new)


def _serve(router: Router, tenant: str, contact_id: str) -> None:
    agent = router.store.agent(tenant, "a1")
    assert agent is not None
    assert agent.offer is not None
    assert agent.offer.contact_id == contact_id
    router.answers.accept(tenant, "a1", agent.offer.offer_id)
    router.conversations.complete(tenant, contact_id, "a1", "done")


def test_a_contacts_own_signature_goes_once_nobody_waits_on_it(
    router: Router, tenant: str, redis_client: redis.Redis
) -> None:
    _floor(router, tenant)
    router.agents.set_status(tenant, "a1", AgentStatus.AVAILABLE)
    _french(router, tenant, "c1")
    _serve(router, tenant, "c1")
    keys = Keys(tenant)
    assert _signatures(redis_client, tenant) == {"", "french:1"}
    assert redis_client.zscore(keys.ready("front", Channel.CHAT, "french:1"), "a1") is not None

    assert router.catalog.prune_signatures(tenant, "front")

    assert _signatures(redis_client, tenant) == {""}
    assert not redis_client.exists(keys.ready("front", Channel.CHAT, "french:1"))
    assert redis_client.zscore(keys.ready("front", Channel.CHAT, ""), "a1") is not None
    assert not router.catalog.prune_signatures(tenant, "front")
    # The next contact that needs it registers it again and is routed as before.
    _french(router, tenant, "c2")
    assert _signatures(redis_client, tenant) == {"", "french:1"}
    _serve(router, tenant, "c2")


def test_a_signature_a_contact_waits_on_stays(router: Router, tenant: str, redis_client: redis.Redis) -> None:
    _floor(router, tenant)
    _french(router, tenant, "c1")
    assert not router.catalog.prune_signatures(tenant, "front")
    assert _signatures(redis_client, tenant) == {"", "french:1"}
    router.agents.set_status(tenant, "a1", AgentStatus.AVAILABLE)
    _serve(router, tenant, "c1")


def test_a_contact_decided_before_a_pruning_decides_again(
    router: Router, tenant: str, clock: FakeClock, redis_client: redis.Redis
) -> None:
    _floor(router, tenant)
    queue = router.catalog.queue(tenant, "front")
    router.catalog.ensure_signature(queue, Channel.CHAT, "french:1")
    received = arrival.receive(
        contact_id="c1",
        tenant_id=tenant,
        channel=Channel.CHAT,
        department=queue.department,
        now=clock.now(),
        context=FRENCH,
    ).contact
    waiting = arrival.enqueue(received, "front", clock.now()).contact
    assert router.catalog.prune_signatures(tenant, "front")
    tx = Tx(Keys(tenant))
    router.core.stage_contact(tx, None, waiting, queue, clock.now())
    with pytest.raises(ConflictError):
        router.store.commit(tx)
    assert router.store.contact(tenant, "c1") is None


def test_a_queue_change_prunes_the_signatures_of_its_former_configuration(
    router: Router, tenant: str, redis_client: redis.Redis
) -> None:
    _floor(router, tenant, required_skills=(SkillRequirement("billing", 2),))
    router.agents.set_status(tenant, "a1", AgentStatus.AVAILABLE)
    keys = Keys(tenant)
    assert _signatures(redis_client, tenant) == {"billing:2"}
    assert redis_client.exists(keys.ready("front", Channel.CHAT, "billing:2"))

    router.catalog.put_queue(Queue("front", tenant, "Front", frozenset({Channel.CHAT})))

    assert _signatures(redis_client, tenant) == {""}
    assert not redis_client.exists(keys.ready("front", Channel.CHAT, "billing:2"))
    assert redis_client.zscore(keys.ready("front", Channel.CHAT, ""), "a1") is not None


def test_the_pruner_prunes_every_queue_of_the_registered_tenants(
    router: Router, tenant: str, redis_client: redis.Redis
) -> None:
    _floor(router, tenant)
    _french(router, tenant, "c1")
    router.waiting.abandon(tenant, "c1")
    record = router.store.contact(tenant, "c1")
    assert record is not None
    assert record.contact.status is ContactStatus.ABANDONED

    assert SignaturePruner(router, interval_s=3600).run_once() >= 1
    assert _signatures(redis_client, tenant) == {""}
