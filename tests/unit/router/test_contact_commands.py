"""The contact commands of arrival, offers and the conversation: each transition, its events with
hand-worked durations, and each refusal with its rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from helpline.v1 import common_pb2
from helpline.v1 import contact_events_pb2 as ev
from services.router.domain import arrival, conversation, offers
from services.router.domain.contact import ContactStatus, EntryReason, waiting_contact
from services.router.domain.errors import InvalidConfiguration
from services.router.domain.model import Channel, Department, Priority
from services.router.domain.outcome import Placement
from tests.unit.router.contacts import (
    CONTEXT,
    OFFER_TIMEOUT,
    T0,
    WRAP_UP,
    at,
    connected,
    offered,
    queued,
    received,
    refused,
    types,
)

S = ContactStatus


# -- arrival -------------------------------------------------------------------------------------


def test_receive_records_the_contact_and_tells_it_with_its_context() -> None:
    outcome = arrival.receive(
        contact_id="k-1",
        tenant_id="acme",
        channel=Channel.CHAT,
        department=Department.SUPPORT,
        now=T0,
        context=CONTEXT,
        queue_id="q-1",
        entry_point="widget",
    )
    contact = outcome.contact
    assert (contact.status, contact.version, contact.priority) == (S.RECEIVED, 1, Priority.HIGH)
    (event,) = outcome.events
    assert isinstance(event, ev.ContactReceived)
    assert event.channel == common_pb2.CHANNEL_CHAT
    assert event.department == common_pb2.DEPARTMENT_SUPPORT
    assert event.context.ticket_id == "t-9"
    assert dict(event.context.attributes) == {"plan": "gold"}
    assert event.context.priority == common_pb2.PRIORITY_HIGH
    assert event.queue_id == "q-1"
    assert event.entry_point == "widget"


def test_receive_needs_ids() -> None:
    with refused("missing_field", InvalidConfiguration):
        received(contact_id="")


def test_self_serve_is_final_and_counts_the_handle_time() -> None:
    outcome = arrival.self_serve(received(Channel.BOT), at(95), resolution_code="order_status")
    assert outcome.contact.status is S.SELF_SERVED
    (event,) = outcome.events
    assert isinstance(event, ev.ContactSelfServed)
    assert event.handle_duration.ToTimedelta() == timedelta(seconds=95)
    assert event.resolution_code == "order_status"
    assert event.intent == "billing.refund"
    with refused("already_self_served"):
        arrival.self_serve(outcome.contact, at(96), resolution_code="order_status")
    with refused("already_self_served"):
        arrival.enqueue(outcome.contact, "q-1", at(96))


def test_self_serve_only_before_a_queue() -> None:
    with refused("self_serve_requires_received"):
        arrival.self_serve(queued(), at(5), resolution_code="order_status")


def test_bot_escalation_queues_a_chat_with_the_bots_findings() -> None:
    outcome = arrival.escalate_from_bot(
        received(Channel.BOT),
        "q-1",
        at(30),
        intent="billing.dispute",
        transcript_summary="Charged twice in March",
        placement=Placement(position=3, estimated_wait=timedelta(seconds=90)),
    )
    contact = outcome.contact
    assert (contact.status, contact.channel) == (S.QUEUED, Channel.CHAT)
    assert contact.context.intent == "billing.dispute"
    (queued_event,) = outcome.events
    assert isinstance(queued_event, ev.ContactQueued)
    assert queued_event.reason == ev.QUEUE_ENTRY_REASON_NEW
    assert queued_event.channel == common_pb2.CHANNEL_CHAT
    assert queued_event.context.bot_transcript_summary == "Charged twice in March"
    assert queued_event.context.customer_id == "cust-1"
    assert queued_event.position == 3
    assert queued_event.estimated_wait.ToTimedelta() == timedelta(seconds=90)


def test_self_service_escalation_must_name_the_agent_channel() -> None:
    contact = received(Channel.SELF_SERVICE)
    with refused("escalation_needs_agent_channel", InvalidConfiguration):
        arrival.escalate_from_bot(contact, "q-1", at(30), intent="x", transcript_summary="y")
    outcome = arrival.escalate_from_bot(
        contact, "q-1", at(30), intent="x", transcript_summary="y", channel=Channel.VOICE
    )
    assert outcome.contact.channel is Channel.VOICE


# -- queue entries -------------------------------------------------------------------------------


def test_enqueue_starts_the_effective_age_and_a_redelivery_changes_nothing() -> None:
    outcome = arrival.enqueue(received(), "q-1", at(2), priority=Priority.URGENT)
    contact = outcome.contact
    assert (contact.status, contact.queue_id, contact.version) == (S.QUEUED, "q-1", 2)
    assert contact.first_enqueued_at == contact.enqueued_since == at(2)
    (event,) = outcome.events
    assert isinstance(event, ev.ContactQueued)
    assert event.priority == common_pb2.PRIORITY_URGENT
    assert event.enqueued_since.ToDatetime(T0.tzinfo) == at(2)
    again = arrival.enqueue(contact, "q-1", at(2), priority=Priority.URGENT)
    assert again.contact is contact
    assert again.events == ()


def test_overflow_moves_queue_and_keeps_the_place() -> None:
    outcome = arrival.enqueue(queued(), "q-2", at(60), reason=EntryReason.OVERFLOW)
    assert outcome.contact.queue_id == "q-2"
    assert outcome.contact.enqueued_since == T0
    (event,) = outcome.events
    assert isinstance(event, ev.ContactQueued)
    assert event.reason == ev.QUEUE_ENTRY_REASON_OVERFLOW
    assert event.queued_at.ToDatetime(T0.tzinfo) == at(60)
    assert event.enqueued_since.ToDatetime(T0.tzinfo) == T0


def test_requeue_stays_in_its_queue_and_counts_attempts_on() -> None:
    contact = offers.reject(offered(), "a-1", "o-1", at(12)).contact
    outcome = arrival.enqueue(contact, "q-1", at(13), reason=EntryReason.REQUEUE)
    assert (outcome.contact.enqueued_since, outcome.contact.attempts) == (T0, 1)
    with refused("requeue_stays_in_queue", InvalidConfiguration):
        arrival.enqueue(contact, "q-2", at(13), reason=EntryReason.REQUEUE)
    with refused("overflow_needs_other_queue", InvalidConfiguration):
        arrival.enqueue(contact, "q-1", at(13), reason=EntryReason.OVERFLOW)


@pytest.mark.parametrize("reason", [EntryReason.TRANSFER, EntryReason.CALLBACK, EntryReason.OVERFLOW])
def test_enqueue_refuses_reasons_that_have_their_own_command(reason: EntryReason) -> None:
    with refused("entry_reason_not_allowed", InvalidConfiguration):
        arrival.enqueue(received(), "q-1", T0, reason=reason)


def test_enqueue_refuses_a_contact_with_an_agent() -> None:
    with refused("enqueue_requires_received_or_queued"):
        arrival.enqueue(connected(), "q-2", at(20), reason=EntryReason.OVERFLOW)


def test_waiting_contact_projects_the_effective_enqueue_time() -> None:
    waiting = waiting_contact(arrival.enqueue(queued(), "q-2", at(60), reason=EntryReason.OVERFLOW).contact)
    assert (waiting.queue_id, waiting.enqueued_at, waiting.priority) == ("q-2", T0, Priority.HIGH)
    with refused("not_waiting"):
        waiting_contact(connected())


# -- offers --------------------------------------------------------------------------------------


def test_offer_lasts_the_queues_offer_timeout() -> None:
    outcome = offers.offer(queued(), "a-1", at(10), offer_id="o-1", offer_timeout=OFFER_TIMEOUT)
    contact = outcome.contact
    assert (contact.status, contact.agent_id, contact.offer_expires_at) == (S.OFFERED, "a-1", at(30))
    (event,) = outcome.events
    assert isinstance(event, ev.ContactOffered)
    assert event.attempt == 1
    assert event.wait_duration.ToTimedelta() == timedelta(seconds=10)
    assert event.expires_at.ToDatetime(T0.tzinfo) == at(30)
    assert event.context.customer_id == "cust-1"
    assert (
        offers.offer(contact, "a-1", at(10), offer_id="o-1", offer_timeout=OFFER_TIMEOUT).contact is contact
    )


def test_one_offer_at_a_time() -> None:
    with refused("already_offered"):
        offers.offer(offered(), "a-2", at(11), offer_id="o-2", offer_timeout=OFFER_TIMEOUT)


def test_offer_refusals() -> None:
    with refused("offer_requires_queued"):
        offers.offer(received(), "a-1", T0, offer_id="o-1", offer_timeout=OFFER_TIMEOUT)
    with refused("offer_timeout_not_positive", InvalidConfiguration):
        offers.offer(queued(), "a-1", T0, offer_id="o-1", offer_timeout=timedelta(0))
    declined = offers.reject(offered(), "a-1", "o-1", at(11)).contact
    with refused("agent_declined"):
        offers.offer(declined, "a-1", at(12), offer_id="o-2", offer_timeout=OFFER_TIMEOUT)
    second = offers.offer(declined, "a-2", at(12), offer_id="o-2", offer_timeout=OFFER_TIMEOUT)
    (event,) = second.events
    assert isinstance(event, ev.ContactOffered)
    assert event.attempt == 2


def test_accept_assigns_the_contact_once_to_the_offered_agent() -> None:
    contact = offered()
    with refused("offer_for_other_agent"):
        offers.accept(contact, "a-2", "o-1", at(12))
    with refused("offer_superseded"):
        offers.accept(contact, "a-1", "o-0", at(12))
    outcome = offers.accept(contact, "a-1", "o-1", at(12))
    assert (outcome.contact.status, outcome.contact.accepted_at) == (S.ACCEPTED, at(12))
    (event,) = outcome.events
    assert isinstance(event, ev.ContactAccepted)
    assert event.wait_duration.ToTimedelta() == timedelta(seconds=12)
    with refused("already_accepted"):
        offers.accept(outcome.contact, "a-1", "o-1", at(12))
    with refused("offer_accepted_by_other_agent"):
        offers.accept(outcome.contact, "a-2", "o-1", at(13))


def test_accept_needs_a_live_offer() -> None:
    with refused("accept_requires_offer"):
        offers.accept(queued(), "a-1", "o-1", at(5))
    with refused("offer_expired"):
        offers.accept(offered(), "a-1", "o-1", at(30))


def test_reject_puts_the_contact_back_at_its_place() -> None:
    outcome = offers.reject(offered(), "a-1", "o-1", at(14), reason="on a break")
    contact = outcome.contact
    assert (contact.status, contact.agent_id, contact.declined_by) == (S.QUEUED, "", ("a-1",))
    assert contact.enqueued_since == T0
    (event,) = outcome.events
    assert isinstance(event, ev.ContactRejected)
    assert (event.agent_id, event.offer_id, event.reason) == ("a-1", "o-1", "on a break")
    with refused("reject_requires_offer"):
        offers.reject(contact, "a-1", "o-1", at(14))


def test_offer_timeout_only_once_expired_and_tells_a_missed_agent() -> None:
    contact = offered()
    with refused("offer_not_expired"):
        offers.time_out_offer(contact, "o-1", at(29), consecutive_misses=1, max_no_answer=3)
    outcome = offers.time_out_offer(contact, "o-1", at(30), consecutive_misses=3, max_no_answer=3)
    assert outcome.contact.status is S.QUEUED
    assert outcome.contact.declined_by == ("a-1",)
    (event,) = outcome.events
    assert isinstance(event, ev.ContactOfferTimedOut)
    assert (event.agent_id, event.consecutive_misses, event.agent_missed) == ("a-1", 3, True)
    with refused("offer_not_pending"):
        offers.time_out_offer(outcome.contact, "o-1", at(30), consecutive_misses=3, max_no_answer=3)


def test_offer_timeout_below_max_no_answer_misses_nobody() -> None:
    outcome = offers.time_out_offer(offered(), "o-1", at(31), consecutive_misses=1, max_no_answer=3)
    (event,) = outcome.events
    assert isinstance(event, ev.ContactOfferTimedOut)
    assert not event.agent_missed


# -- the conversation ----------------------------------------------------------------------------


def test_connect_freezes_the_wait() -> None:
    contact = offers.accept(offered(), "a-1", "o-1", at(12)).contact
    with refused("not_the_contacts_agent"):
        conversation.connect(contact, "a-2", at(15))
    outcome = conversation.connect(contact, "a-1", at(15))
    assert outcome.contact.waited == timedelta(seconds=15)
    assert outcome.contact.wait_at(at(500)) == timedelta(seconds=15)
    (event,) = outcome.events
    assert isinstance(event, ev.ContactConnected)
    assert event.wait_duration.ToTimedelta() == timedelta(seconds=15)
    with refused("already_connected"):
        conversation.connect(outcome.contact, "a-1", at(16))
    with refused("connect_requires_accept"):
        conversation.connect(offered(), "a-1", at(16))


def test_hold_and_resume_tell_the_hold_length() -> None:
    held = conversation.hold(connected(), "a-1", at(20))
    assert held.contact.status is S.HELD
    assert types(held.events) == ["ContactHeld"]
    with refused("already_held"):
        conversation.hold(held.contact, "a-1", at(21))
    resumed = conversation.resume(held.contact, "a-1", at(32))
    (event,) = resumed.events
    assert isinstance(event, ev.ContactResumed)
    assert event.hold_duration.ToTimedelta() == timedelta(seconds=12)
    assert resumed.contact.hold_total == timedelta(seconds=12)
    with refused("not_held"):
        conversation.resume(resumed.contact, "a-1", at(33))


@pytest.mark.parametrize("channel", [Channel.CHAT, Channel.EMAIL, Channel.SMS])
def test_hold_is_voice_only(channel: Channel) -> None:
    with refused("hold_is_voice_only", InvalidConfiguration):
        conversation.hold(connected(channel), "a-1", at(20))


def test_a_callback_is_a_call_and_can_be_held() -> None:
    contact = replace(connected(), channel=Channel.CALLBACK)
    assert conversation.hold(contact, "a-1", at(20)).contact.status is S.HELD


def test_hold_needs_the_contacts_agent_and_a_connection() -> None:
    with refused("not_the_contacts_agent"):
        conversation.hold(connected(), "a-2", at(20))
    with refused("hold_requires_connected"):
        conversation.hold(queued(), "a-1", at(20))


def test_durations_are_worked_out_exactly() -> None:
    # Connected at 15; held 20-30 and 40-45; hung up at 100; completed at 130.
    contact = connected()
    for start, end in ((20, 30), (40, 45)):
        contact = conversation.hold(contact, "a-1", at(start)).contact
        contact = conversation.resume(contact, "a-1", at(end)).contact
    ended = conversation.hang_up(contact, at(100), wrap_up_timeout=WRAP_UP)
    assert ended.events == ()
    assert (ended.contact.status, ended.contact.wrap_up_until) == (S.AFTER_CONTACT_WORK, at(160))
    outcome = conversation.complete(ended.contact, "a-1", at(130), disposition_code="refund_issued")
    assert outcome.contact.status is S.COMPLETED
    (event,) = outcome.events
    assert isinstance(event, ev.ContactCompleted)
    assert event.talk_duration.ToTimedelta() == timedelta(seconds=70)  # 100 - 15 - 15
    assert event.hold_duration.ToTimedelta() == timedelta(seconds=15)
    assert event.wrap_up_duration.ToTimedelta() == timedelta(seconds=30)
    assert (event.agent_id, event.customer_id, event.ticket_id) == ("a-1", "cust-1", "t-9")
    assert event.disposition_code == "refund_issued"


def test_a_hang_up_on_hold_ends_the_hold() -> None:
    contact = conversation.hold(connected(), "a-1", at(20)).contact
    ended = conversation.hang_up(contact, at(50), wrap_up_timeout=WRAP_UP).contact
    assert ended.hold_total == timedelta(seconds=30)
    (event,) = conversation.complete(ended, "a-1", at(50), disposition_code="x").events
    assert isinstance(event, ev.ContactCompleted)
    assert event.talk_duration.ToTimedelta() == timedelta(seconds=5)
    assert event.hold_duration.ToTimedelta() == timedelta(seconds=30)
    assert event.wrap_up_duration.ToTimedelta() == timedelta(0)


def test_hang_up_refusals() -> None:
    ended = conversation.hang_up(connected(), at(50), wrap_up_timeout=WRAP_UP).contact
    with refused("already_ended"):
        conversation.hang_up(ended, at(51), wrap_up_timeout=WRAP_UP)
    with refused("hang_up_requires_connected"):
        conversation.hang_up(queued(), at(5), wrap_up_timeout=WRAP_UP)


def test_complete_refusals_and_redelivery() -> None:
    with refused("complete_requires_after_contact_work"):
        conversation.complete(connected(), "a-1", at(50), disposition_code="x")
    ended = conversation.hang_up(connected(), at(50), wrap_up_timeout=WRAP_UP).contact
    with refused("not_the_contacts_agent"):
        conversation.complete(ended, "a-2", at(60), disposition_code="x")
    with refused("missing_field", InvalidConfiguration):
        conversation.complete(ended, "a-1", at(60), disposition_code="")
    done = conversation.complete(ended, "a-1", at(60), disposition_code="x").contact
    with refused("already_completed"):
        conversation.complete(done, "a-1", at(60), disposition_code="x")


def test_the_ticket_named_at_completion_links_a_contact_without_one() -> None:
    contact = connected()
    contact = replace(contact, context=replace(contact.context, ticket_id=""))
    ended = conversation.hang_up(contact, at(50), wrap_up_timeout=WRAP_UP).contact
    (event,) = conversation.complete(ended, "a-1", at(60), disposition_code="x", ticket_id="t-1").events
    assert isinstance(event, ev.ContactCompleted)
    assert event.ticket_id == "t-1"


def test_wrap_up_timeout_completes_without_a_disposition() -> None:
    ended = conversation.hang_up(connected(), at(50), wrap_up_timeout=WRAP_UP).contact
    with refused("wrap_up_not_due"):
        conversation.wrap_up_timed_out(ended, at(109))
    outcome = conversation.wrap_up_timed_out(ended, at(110))
    (event,) = outcome.events
    assert isinstance(event, ev.ContactCompleted)
    assert event.disposition_code == ""
    assert event.wrap_up_duration.ToTimedelta() == WRAP_UP
    with refused("already_completed"):
        conversation.wrap_up_timed_out(outcome.contact, at(110))


def test_chat_runs_the_same_lifecycle_without_holds() -> None:
    contact = connected(Channel.CHAT)
    ended = conversation.hang_up(contact, at(615), wrap_up_timeout=WRAP_UP).contact
    (event,) = conversation.complete(ended, "a-1", at(620), disposition_code="answered").events
    assert isinstance(event, ev.ContactCompleted)
    assert event.channel == common_pb2.CHANNEL_CHAT
    assert event.talk_duration.ToTimedelta() == timedelta(seconds=600)
