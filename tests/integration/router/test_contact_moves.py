"""Moves through the router's use cases on the real Redis: transfers and hand-offs keep the context and the
time waited, an abandoned caller regains the place, a callback keeps it, the maximum wait ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from helpline.clock import FakeClock
from helpline.v1 import contact_events_pb2
from services.router.composition import Router
from services.router.domain.contact import ContactContext, ContactStatus, EntryReason
from services.router.domain.errors import InvalidConfiguration
from services.router.domain.model import (
    AgentStatus,
    Channel,
    Department,
    Queue,
    QueueMembership,
    RoutingProfile,
    TimeoutAction,
)
from services.router.storage.records import ContactRecord
from services.router.usecases.configuration import AgentConfig
from services.router.usecases.intake import NewContact
from tests.integration.router.router_events import router_events


def _record(router: Router, tenant: str, contact_id: str) -> ContactRecord:
    record = router.store.contact(tenant, contact_id)
    assert record is not None
    return record


def _queues(router: Router, tenant: str) -> None:
    router.catalog.put_queue(
        Queue("front", tenant, "Front", frozenset({Channel.VOICE}), resume_window=timedelta(seconds=60))
    )
    router.catalog.put_queue(Queue("second", tenant, "Second line", frozenset({Channel.VOICE})))
    router.catalog.put_queue(
        Queue("tech", tenant, "Tech support", frozenset({Channel.VOICE}), department=Department.SUPPORT)
    )


def _connected(router: Router, tenant: str, clock: FakeClock, context: ContactContext) -> None:
    """c waits 40 s, then agent `a` takes it."""
    router.catalog.put_agent(
        tenant, AgentConfig("a", {}, profile=RoutingProfile((QueueMembership("front"),)))
    )
    router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="front", contact_id="c", context=context))
    clock.advance(timedelta(seconds=40))
    router.agents.set_status(tenant, "a", AgentStatus.AVAILABLE)
    offer = _record(router, tenant, "c").contact.offer_id
    router.answers.accept(tenant, "a", offer)


def test_a_blind_transfer_keeps_the_context_and_the_time_waited(
    router: Router, tenant: str, clock: FakeClock
) -> None:
    _queues(router, tenant)
    context = ContactContext(customer_id="cust-1", ticket_id="T-9", attributes={"order": "42"})
    _connected(router, tenant, clock, context)
    clock.advance(timedelta(seconds=90))
    router.conversations.transfer(tenant, "c", "a", to_queue_id="second", reason="billing")
    contact = _record(router, tenant, "c").contact
    assert contact.status is ContactStatus.QUEUED
    assert contact.queue_id == "second"
    assert contact.entry_reason is EntryReason.TRANSFER
    assert contact.context == context
    assert contact.wait_at(clock.now()) == timedelta(seconds=40)
    agent = router.store.agent(tenant, "a")
    assert agent is not None
    assert agent.agent.total_load == 0


def test_a_hand_off_to_support_is_its_own_event_and_keeps_the_ticket(
    router: Router, tenant: str, clock: FakeClock, redis_client: redis.Redis
) -> None:
    _queues(router, tenant)
    _connected(router, tenant, clock, ContactContext(ticket_id="T-1"))
    router.conversations.transfer(tenant, "c", "a", to_queue_id="tech")
    contact = _record(router, tenant, "c").contact
    assert contact.department is Department.SUPPORT
    assert contact.entry_reason is EntryReason.HAND_OFF
    (handed,) = router_events(redis_client, tenant, contact_events_pb2.ContactHandedOff)
    assert handed.context.ticket_id == "T-1"
    assert handed.to_queue_id == "tech"


def test_a_caller_who_returns_within_the_window_regains_the_place(
    router: Router, tenant: str, clock: FakeClock
) -> None:
    _queues(router, tenant)
    router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="front", contact_id="first"))
    clock.advance(timedelta(seconds=30))
    router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="front", contact_id="other"))
    clock.advance(timedelta(seconds=5))
    router.waiting.abandon(tenant, "first")
    assert _record(router, tenant, "first").contact.status is ContactStatus.ABANDONED
    clock.advance(timedelta(seconds=20))
    router.intake.submit(
        tenant, NewContact(Channel.VOICE, queue_id="front", contact_id="again", related_contact_id="first")
    )
    again = _record(router, tenant, "again").contact
    assert again.entry_reason is EntryReason.RETURN
    assert again.enqueued_since == _record(router, tenant, "first").contact.enqueued_since
    router.catalog.put_agent(
        tenant, AgentConfig("a", {}, profile=RoutingProfile((QueueMembership("front"),)))
    )
    router.agents.set_status(tenant, "a", AgentStatus.AVAILABLE)
    assert _record(router, tenant, "again").contact.agent_id == "a"


def test_email_never_abandons(router: Router, tenant: str) -> None:
    router.catalog.put_queue(Queue("mail", tenant, "Mail", frozenset({Channel.EMAIL})))
    router.intake.submit(tenant, NewContact(Channel.EMAIL, queue_id="mail", contact_id="m"))
    with pytest.raises(InvalidConfiguration) as refused:
        router.waiting.abandon(tenant, "m")
    assert refused.value.rule == "email_never_abandons"
    assert _record(router, tenant, "m").contact.status is ContactStatus.QUEUED


def test_a_callback_keeps_the_callers_place(router: Router, tenant: str, clock: FakeClock) -> None:
    _queues(router, tenant)
    router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="front", contact_id="c"))
    clock.advance(timedelta(minutes=3))
    applied = router.waiting.request_callback(tenant, "c", "+3312345678")
    spawned = applied.step.outcome.spawned
    assert spawned is not None
    callback = _record(router, tenant, spawned.contact_id).contact
    assert _record(router, tenant, "c").contact.status is ContactStatus.CALLED_BACK
    assert callback.status is ContactStatus.QUEUED
    assert callback.channel is Channel.CALLBACK
    assert callback.enqueued_since == _record(router, tenant, "c").contact.enqueued_since
    # A voice queue calls its callers back: its voice agents take the callback.
    router.catalog.put_agent(
        tenant, AgentConfig("a", {}, profile=RoutingProfile((QueueMembership("front"),)))
    )
    router.agents.set_status(tenant, "a", AgentStatus.AVAILABLE)
    assert _record(router, tenant, spawned.contact_id).contact.agent_id == "a"


def test_the_maximum_wait_ends_the_wait_with_the_queues_action(
    router: Router, tenant: str, clock: FakeClock, redis_client: redis.Redis
) -> None:
    queue = Queue(
        "q",
        tenant,
        "Q",
        frozenset({Channel.CHAT}),
        max_wait=timedelta(minutes=5),
        timeout_action=TimeoutAction.TICKET,
    )
    router.catalog.put_queue(queue)
    router.intake.submit(tenant, NewContact(Channel.CHAT, queue_id="q", contact_id="c"))
    clock.advance(timedelta(minutes=5, seconds=1))
    router.timer_worker().run_once()
    assert _record(router, tenant, "c").contact.status is ContactStatus.TIMED_OUT
    (timed_out,) = router_events(redis_client, tenant, contact_events_pb2.ContactTimedOut)
    assert timed_out.contact_id == "c"


def test_a_caller_facing_a_long_wait_is_offered_a_callback(router: Router, tenant: str) -> None:
    queue = Queue("q", tenant, "Q", frozenset({Channel.VOICE}), callback_threshold=timedelta(minutes=2))
    router.catalog.put_queue(queue)
    # Nobody staffed: the wait has no bound, so over any threshold.
    placed = router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="q", contact_id="c"))
    assert placed.offer_callback
    chat = Queue("w", tenant, "W", frozenset({Channel.CHAT}), callback_threshold=timedelta(minutes=2))
    router.catalog.put_queue(chat)
    assert not router.intake.submit(
        tenant, NewContact(Channel.CHAT, queue_id="w", contact_id="d")
    ).offer_callback
