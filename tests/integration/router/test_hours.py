"""Hours of operation on the real Redis, with the tests' clock: a contact arriving while its queue is
closed gets the closed action, the contacts still waiting when it closes follow it once (whatever
the number of timer workers), and a callback made for the opening is not offered before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis

from helpline.business_hours import Calendar, OpenInterval
from helpline.clock import FakeClock
from helpline.v1 import common_pb2, contact_events_pb2
from services.router.composition import Router
from services.router.domain.contact import ContactStatus
from services.router.domain.errors import InvalidConfiguration
from services.router.domain.model import (
    AgentStatus,
    Channel,
    Queue,
    QueueMembership,
    RoutingProfile,
    TimeoutAction,
)
from services.router.storage.records import ContactRecord
from services.router.storage.store import Keys
from services.router.usecases.configuration import AgentConfig
from services.router.usecases.intake import NewContact
from tests.integration.router.conftest import START
from tests.integration.router.router_events import router_events

# START is Tuesday 09:00 UTC: open Tuesday and Wednesday 08:00-10:00.
HOURS = Calendar(
    "mornings",
    "Mornings",
    "UTC",
    tuple(OpenInterval.parse(day, "08:00", "10:00") for day in (1, 2)),
)
CLOSES = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)
OPENS = datetime(2031, 3, 5, 8, 0, tzinfo=UTC)


def _record(router: Router, tenant: str, contact_id: str) -> ContactRecord:
    record = router.store.contact(tenant, contact_id)
    assert record is not None
    return record


def _queues(router: Router, tenant: str) -> None:
    router.catalog.put_calendar(tenant, HOURS)
    for queue_id, channel, action in (
        ("chat", Channel.CHAT, TimeoutAction.TICKET),
        ("mail", Channel.VOICE, TimeoutAction.VOICEMAIL),
        ("calls", Channel.VOICE, TimeoutAction.CALLBACK),
    ):
        router.catalog.put_queue(
            Queue(
                queue_id, tenant, queue_id, frozenset({channel}), calendar_id="mornings", closed_action=action
            )
        )


def test_a_contact_arriving_after_hours_gets_the_closed_action(
    router: Router, tenant: str, clock: FakeClock, redis_client: redis.Redis
) -> None:
    _queues(router, tenant)
    clock.advance(CLOSES - START + timedelta(minutes=30))
    chat = router.intake.submit(tenant, NewContact(Channel.CHAT, queue_id="chat", contact_id="c-chat"))
    assert (chat.contact.status, chat.next_opening, chat.closed_action) == (
        ContactStatus.AFTER_HOURS,
        OPENS,
        TimeoutAction.TICKET,
    )
    voice = router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="mail", contact_id="c-vm"))
    assert voice.closed_action is TimeoutAction.VOICEMAIL
    # A redelivery answers the same, and makes nothing again.
    again = router.intake.submit(tenant, NewContact(Channel.CHAT, queue_id="chat", contact_id="c-chat"))
    assert (again.created, again.next_opening, again.closed_action) == (False, OPENS, TimeoutAction.TICKET)

    closed = router_events(redis_client, tenant, contact_events_pb2.ContactAfterHours)
    assert [(e.contact_id, e.action) for e in closed] == [
        ("c-chat", common_pb2.TIMEOUT_ACTION_TICKET),
        ("c-vm", common_pb2.TIMEOUT_ACTION_VOICEMAIL),
    ]
    assert closed[0].next_opening.ToDatetime(UTC) == OPENS
    assert router_events(redis_client, tenant, contact_events_pb2.ContactQueued) == []


def test_a_callback_made_after_hours_is_not_offered_before_the_opening(
    router: Router, tenant: str, clock: FakeClock
) -> None:
    _queues(router, tenant)
    router.catalog.put_agent(
        tenant, AgentConfig("a", {}, profile=RoutingProfile((QueueMembership("calls"),)))
    )
    router.agents.set_status(tenant, "a", AgentStatus.AVAILABLE)
    clock.advance(CLOSES - START + timedelta(minutes=5))
    first = router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="calls", contact_id="c-1"))
    clock.advance(timedelta(minutes=1))
    second = router.intake.submit(tenant, NewContact(Channel.VOICE, queue_id="calls", contact_id="c-2"))
    assert first.closed_action is TimeoutAction.CALLBACK
    callbacks = [_record(router, tenant, p.contact.callback_contact_id).contact for p in (first, second)]
    assert [(c.status, c.scheduled_for) for c in callbacks] == [(ContactStatus.QUEUED, OPENS)] * 2
    # Each keeps its caller's arrival, so the first caller stays first among callbacks.
    assert [c.enqueued_since for c in callbacks] == [clock.now() - timedelta(minutes=1), clock.now()]

    clock.advance(OPENS - clock.now() - timedelta(seconds=1))
    router.timer_worker().run_once()
    assert [_record(router, tenant, c.contact_id).contact.status for c in callbacks] == [
        ContactStatus.QUEUED
    ] * 2

    clock.advance(timedelta(seconds=1))
    router.timer_worker().run_once()
    # The first caller is called back first.
    assert _record(router, tenant, callbacks[0].contact_id).contact.status is ContactStatus.OFFERED
    assert _record(router, tenant, callbacks[1].contact_id).contact.status is ContactStatus.QUEUED


def test_a_queue_closing_moves_its_waiting_contacts_once(
    router: Router, tenant: str, clock: FakeClock, redis_client: redis.Redis
) -> None:
    _queues(router, tenant)
    for contact_id, channel, queue_id in (
        ("w-chat", Channel.CHAT, "chat"),
        ("w-vm", Channel.VOICE, "mail"),
        ("w-call", Channel.VOICE, "calls"),
    ):
        placed = router.intake.submit(tenant, NewContact(channel, queue_id=queue_id, contact_id=contact_id))
        assert placed.contact.status is ContactStatus.QUEUED
    clock.advance(CLOSES - START - timedelta(milliseconds=1))
    router.timer_worker().run_once()
    assert _record(router, tenant, "w-chat").contact.status is ContactStatus.QUEUED

    clock.advance(timedelta(milliseconds=1))
    # Two replicas' timer workers at the closing: each contact moves once.
    router.timer_worker().run_once()
    Router(redis_client, clock).timer_worker().run_once()
    moved = {c: _record(router, tenant, c).contact for c in ("w-chat", "w-vm", "w-call")}
    assert {c: contact.status for c, contact in moved.items()} == dict.fromkeys(
        moved, ContactStatus.AFTER_HOURS
    )
    closed = router_events(redis_client, tenant, contact_events_pb2.ContactAfterHours)
    assert sorted((e.contact_id, e.action) for e in closed) == [
        ("w-call", common_pb2.TIMEOUT_ACTION_CALLBACK),
        ("w-chat", common_pb2.TIMEOUT_ACTION_TICKET),
        ("w-vm", common_pb2.TIMEOUT_ACTION_VOICEMAIL),
    ]
    assert {e.wait_duration.ToTimedelta() for e in closed} == {CLOSES - START}
    callback = _record(router, tenant, moved["w-call"].callback_contact_id).contact
    # Kept its place among callbacks: the caller's enqueue time, due at the opening.
    assert (callback.scheduled_for, callback.enqueued_since) == (OPENS, START)


def test_a_queue_names_a_calendar_that_exists_and_keeps_it(router: Router, tenant: str) -> None:
    with pytest.raises(InvalidConfiguration, match="unknown_calendar"):
        router.catalog.put_queue(Queue("q", tenant, "Q", frozenset({Channel.CHAT}), calendar_id="nope"))
    _queues(router, tenant)
    with pytest.raises(InvalidConfiguration, match="calendar_in_use"):
        router.catalog.remove_calendar(tenant, "mornings")
    assert router.catalog.calendar(tenant, "mornings").calendar == HOURS


def test_ewt_of_a_queue_with_hours_counts_open_time(router: Router, tenant: str, clock: FakeClock) -> None:
    _queues(router, tenant)
    chat_profile = RoutingProfile((QueueMembership("chat"),), capacity={Channel.CHAT: 1})
    router.catalog.put_agent(tenant, AgentConfig("a", {}, profile=chat_profile))
    # Staffed but on a break: the estimate is the handle time, with nobody taking the contact.
    router.agents.set_status(tenant, "a", AgentStatus.AWAY, reason="break")
    router.store.client.hset(Keys(tenant).queue_stats("chat"), "aht_ms", 20 * 60 * 1000)
    clock.advance(CLOSES - START - timedelta(minutes=10))
    placed = router.intake.submit(tenant, NewContact(Channel.CHAT, queue_id="chat", contact_id="late"))
    # 20 min of open time from 09:50: 10 today, 10 from Wednesday 08:00.
    assert placed.estimated_wait == OPENS + timedelta(minutes=10) - clock.now()
