"""The QueueSnapshot worker on the real Redis: what it writes to the router's outbox, and one
publication per interval however many replicas run it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis

from helpline.clock import FakeClock
from helpline.events import from_record
from helpline.outbox import decode_headers
from helpline.v1 import common_pb2, queue_events_pb2
from services.router.composition import Router
from services.router.domain.model import (
    AgentStatus,
    Channel,
    Department,
    Queue,
    QueueMembership,
    RoutingProfile,
)
from services.router.storage.store import OUTBOX_STREAM, Keys
from services.router.usecases.configuration import AgentConfig
from services.router.usecases.intake import NewContact
from services.router.workers.snapshots import QueueSnapshots
from tests.integration.helpers import wait_until

Published = tuple[str, str, queue_events_pb2.QueueSnapshot]


def published_snapshots(client: redis.Redis, tenant: str) -> list[Published]:
    """(topic, key, snapshot) of the tenant's snapshots on the outbox, oldest first (no relay runs)."""
    entries: Any = client.xrange(OUTBOX_STREAM)
    found = []
    for _, fields in entries:
        message = from_record(decode_headers(fields[b"h"]), fields[b"v"]).message
        if isinstance(message, queue_events_pb2.QueueSnapshot) and message.tenant_id == tenant:
            found.append((fields[b"t"].decode(), fields[b"k"].decode(), message))
    return found


def _counts(snapshot: queue_events_pb2.QueueSnapshot) -> dict[str, int]:
    return {
        common_pb2.AgentState.Name(entry.state): entry.count
        for entry in snapshot.agents_by_state
        if entry.count
    }


def test_run_once_emits_a_snapshot_per_queue_and_channel(
    router: Router, tenant: str, clock: FakeClock, redis_client: redis.Redis
) -> None:
    router.catalog.put_queue(
        Queue(
            "sales",
            tenant,
            "Sales",
            frozenset({Channel.VOICE, Channel.CHAT}),
            department=Department.SUPPORT,
            service_level_threshold=timedelta(seconds=30),
        )
    )
    router.catalog.put_queue(Queue("mail", tenant, "Mail", frozenset({Channel.EMAIL})))
    voice = RoutingProfile((QueueMembership("sales"),), {Channel.VOICE: 1})
    chat = RoutingProfile((QueueMembership("sales"),), {Channel.CHAT: 2})
    router.catalog.put_agent(tenant, AgentConfig("a-voice", {}, profile=voice))
    router.catalog.put_agent(tenant, AgentConfig("a-chat", {}, profile=chat))
    router.catalog.put_agent(tenant, AgentConfig("a-off", {}, profile=voice))
    router.agents.set_status(tenant, "a-voice", AgentStatus.AVAILABLE)
    router.agents.set_status(tenant, "a-chat", AgentStatus.AVAILABLE)
    # The first call is offered to the one voice agent; the second waits behind it.
    router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="sales", contact_id="c1"))
    clock.advance(timedelta(seconds=4))
    router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="sales", contact_id="c2"))
    clock.advance(timedelta(seconds=6))

    emitted = QueueSnapshots(router, interval_s=60).run_once()

    published = published_snapshots(redis_client, tenant)
    assert emitted >= len(published) == 4
    by_slot = {(key, snapshot.channel): (topic, snapshot) for topic, key, snapshot in published}
    # A voice queue has its callbacks waiting too.
    assert set(by_slot) == {
        ("sales", common_pb2.CHANNEL_VOICE),
        ("sales", common_pb2.CHANNEL_CALLBACK),
        ("sales", common_pb2.CHANNEL_CHAT),
        ("mail", common_pb2.CHANNEL_EMAIL),
    }
    assert {topic for topic, _ in by_slot.values()} == {"helpline.queues"}

    _, calls = by_slot["sales", common_pb2.CHANNEL_VOICE]
    assert (calls.queue_id, calls.depth, calls.department) == ("sales", 2, common_pb2.DEPARTMENT_SUPPORT)
    assert calls.oldest_contact_age.ToTimedelta() == timedelta(seconds=10)
    assert calls.service_level_threshold.ToTimedelta() == timedelta(seconds=30)
    assert calls.taken_at.ToDatetime().replace(tzinfo=clock.now().tzinfo) == clock.now()
    # Offline agents are not counted; the voice agent holds the offer, the chat agent is idle.
    assert _counts(calls) == {"AGENT_STATE_OFFERED": 1, "AGENT_STATE_IDLE": 1}
    assert len(calls.agents_by_state) == len(common_pb2.AgentState.keys()) - 1

    _, chats = by_slot["sales", common_pb2.CHANNEL_CHAT]
    assert chats.depth == 0
    assert not chats.HasField("oldest_contact_age")
    assert _counts(chats) == _counts(calls)

    _, mail = by_slot["mail", common_pb2.CHANNEL_EMAIL]
    assert (mail.depth, _counts(mail)) == (0, {})


def test_two_replicas_publish_each_interval_once(
    router: Router, tenant: str, clock: FakeClock, redis_client: redis.Redis
) -> None:
    router.catalog.put_queue(Queue("sales", tenant, "Sales", frozenset({Channel.CHAT})))
    # Long enough for a whole round over every tenant the session left in Redis to fit in it.
    interval = 3.0
    first = QueueSnapshots(router, interval_s=interval)
    second = QueueSnapshots(Router(redis_client, clock), interval_s=interval)

    first.run_once()
    second.run_once()
    assert len(published_snapshots(redis_client, tenant)) == 1

    # The interval passes: the lease of the one that published runs out (it lasts 90% of one).
    lease = f"{Keys(tenant).base}:snapshot-lease"
    wait_until(
        lambda: not redis_client.exists(lease), timeout=2 * interval, what="the snapshot lease to expire"
    )
    second.run_once()
    first.run_once()
    assert len(published_snapshots(redis_client, tenant)) == 2


def test_a_tenant_of_many_queues_is_read_and_committed_a_chunk_at_a_time_each_queue_once(
    router: Router, tenant: str, clock: FakeClock, redis_client: redis.Redis
) -> None:
    queue_ids = [f"q{k:02d}" for k in range(25)]
    for queue_id in queue_ids:
        router.catalog.put_queue(Queue(queue_id, tenant, queue_id, frozenset({Channel.CHAT})))
    profile = RoutingProfile((QueueMembership("q07"),), {Channel.CHAT: 1})
    router.catalog.put_agent(tenant, AgentConfig("a1", {}, profile=profile))
    router.agents.set_status(tenant, "a1", AgentStatus.AVAILABLE)
    router.intake.submit(tenant, NewContact(Channel.CHAT, queue_id="q07", contact_id="c1"))
    redis_client.hset(Keys(tenant).queue_stats("q07"), "aht_ms", 60_000)
    clock.advance(timedelta(seconds=5))

    emitted = QueueSnapshots(router, interval_s=60).snapshot(tenant)

    published = published_snapshots(redis_client, tenant)
    assert emitted == len(published) == len(queue_ids)
    assert sorted(key for _, key, _ in published) == queue_ids
    busy = next(snapshot for _, key, snapshot in published if key == "q07")
    assert (busy.depth, busy.oldest_contact_age.ToTimedelta()) == (1, timedelta(seconds=5))
    assert _counts(busy) == {"AGENT_STATE_OFFERED": 1}
    # A newcomer would wait behind the one contact, for the one agent, a minute a contact.
    assert busy.estimated_wait.ToTimedelta() == timedelta(minutes=2)
    idle = next(snapshot for _, key, snapshot in published if key == "q08")
    assert (idle.depth, _counts(idle), idle.HasField("estimated_wait")) == (0, {}, False)
