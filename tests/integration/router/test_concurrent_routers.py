"""Several router instances sharing one Redis, deciding at once: contacts arrive from three
threads while three desktops accept, complete and reject. Every event is checked against the
invariants, and in the end every contact was offered or still waits, none lost."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import redis

from helpline.clock import FakeClock
from helpline.optimistic import ContendedError
from services.router.composition import Router
from services.router.domain.contact import ContactStatus
from services.router.domain.errors import DomainError
from services.router.domain.model import (
    AgentStatus,
    Channel,
    CrossChannelRule,
    Queue,
    QueueMembership,
    RoutingProfile,
)
from services.router.domain.routing import can_take
from services.router.usecases.configuration import AgentConfig
from services.router.usecases.intake import NewContact
from tests.integration.router.invariants import violations
from tests.integration.router.router_events import router_events

AGENTS = 12
CONTACTS_PER_THREAD = 40
QUEUES = ("q0", "q1", "q2")


def _configure(router: Router, tenant: str) -> None:
    for queue_id in QUEUES:
        router.catalog.put_queue(Queue(queue_id, tenant, queue_id, frozenset({Channel.CHAT, Channel.VOICE})))
    for i in range(AGENTS):
        members = tuple(QueueMembership(q, priority=1 + (i + n) % 2) for n, q in enumerate(QUEUES))
        profile = RoutingProfile(members, {Channel.CHAT: 3, Channel.VOICE: 1}, CrossChannelRule.ANY, False)
        router.catalog.put_agent(tenant, AgentConfig(f"a{i}", {}, profile=profile))


def _arrivals(router: Router, tenant: str, thread: int) -> None:
    rng = random.Random(thread)
    for n in range(CONTACTS_PER_THREAD):
        channel = rng.choice((Channel.CHAT, Channel.VOICE))
        new = NewContact(channel, queue_id=rng.choice(QUEUES), contact_id=f"c{thread}-{n}")
        router.intake.submit(tenant, new)


def _desktop(router: Router, tenant: str, agents: list[str], stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        agent_id = rng.choice(agents)
        record = router.store.agent(tenant, agent_id)
        if record is None:
            continue
        try:
            if record.offer is not None and rng.random() < 0.8:
                if rng.random() < 0.85:
                    router.answers.accept(tenant, agent_id, record.offer.offer_id)
                else:
                    router.answers.reject(tenant, agent_id, record.offer.offer_id)
            if record.contacts and rng.random() < 0.5:
                router.conversations.complete(tenant, rng.choice(record.contacts), agent_id, "done")
        except (DomainError, ContendedError):
            # Stale reads by design: another desktop or router got there first.
            continue


def test_three_routers_never_overfill_an_agent_nor_offer_a_contact_twice(
    redis_url: str, redis_client: redis.Redis, clock: FakeClock, tenant: str
) -> None:
    routers = [Router(redis.Redis.from_url(redis_url), clock) for _ in range(3)]
    _configure(routers[0], tenant)
    agents = [f"a{i}" for i in range(AGENTS)]
    for agent_id in agents:
        routers[0].agents.set_status(tenant, agent_id, AgentStatus.AVAILABLE)
    stop = threading.Event()
    with ThreadPoolExecutor(6) as pool:
        desks = [pool.submit(_desktop, routers[n], tenant, agents, stop, n) for n in range(3)]
        arrivals = [pool.submit(_arrivals, routers[n], tenant, n) for n in range(3)]
        for future in arrivals:
            future.result()
        stop.set()
        for future in desks:
            future.result()
    events = router_events(redis_client, tenant)
    assert violations(events) == []
    statuses = [
        record.contact.status
        for record in routers[0].store.contacts(
            tenant, [f"c{t}-{n}" for t in range(3) for n in range(CONTACTS_PER_THREAD)]
        )
    ]
    assert len(statuses) == 3 * CONTACTS_PER_THREAD
    assert ContactStatus.COMPLETED in statuses
    assert _idle_while_work_waits(routers[0], tenant, agents) == []


def _idle_while_work_waits(router: Router, tenant: str, agents: list[str]) -> list[str]:
    """Liveness: no agent left ready for a channel while a contact of that channel waits in one
    of the agent's queues (the indexes lost nobody)."""
    waiting = [
        record.contact
        for record in router.store.contacts(
            tenant, [f"c{t}-{n}" for t in range(3) for n in range(CONTACTS_PER_THREAD)]
        )
        if record.contact.status is ContactStatus.QUEUED
    ]
    stuck = []
    for record in router.store.agents(tenant, agents):
        for contact in waiting:
            if can_take(record.agent, contact.channel) and record.agent.profile.membership(contact.queue_id):
                stuck.append(f"{record.agent.agent_id} could take {contact.contact_id}")
    return stuck
