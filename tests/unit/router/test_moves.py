"""Transfers, hand-offs, callbacks, abandon and return, and the maximum wait: the context and the
time already waited travel with the contact."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from helpline.v1 import common_pb2
from helpline.v1 import contact_events_pb2 as ev
from services.router.domain import conversation, moves, offers
from services.router.domain.contact import ContactContext, ContactStatus, EntryReason
from services.router.domain.errors import InvalidConfiguration
from services.router.domain.model import Channel, Department, TimeoutAction
from services.router.domain.outcome import Placement
from tests.unit.router.contacts import (
    OFFER_TIMEOUT,
    RESUME_WINDOW,
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


# -- blind transfer ------------------------------------------------------------------------------


def test_blind_transfer_to_a_queue_keeps_context_and_time_waited() -> None:
    # Waited 15 s before the answer; transferred at 100.
    outcome = moves.transfer(connected(), "a-1", at(100), to_queue_id="q-2", reason="billing")
    contact = outcome.contact
    assert (contact.status, contact.queue_id, contact.agent_id) == (S.QUEUED, "q-2", "")
    assert contact.enqueued_since == at(85)
    assert contact.wait_at(at(110)) == timedelta(seconds=25)
    assert contact.context.ticket_id == "t-9"
    assert contact.transfer_count == 1
    assert types(outcome.events) == ["ContactTransferred", "ContactQueued"]
    transferred, queued_event = outcome.events
    assert isinstance(transferred, ev.ContactTransferred)
    assert (transferred.from_queue_id, transferred.from_agent_id, transferred.to_queue_id) == (
        "q-1",
        "a-1",
        "q-2",
    )
    assert isinstance(queued_event, ev.ContactQueued)
    assert queued_event.reason == ev.QUEUE_ENTRY_REASON_TRANSFER
    assert queued_event.enqueued_since.ToDatetime(T0.tzinfo) == at(85)
    assert dict(queued_event.context.attributes) == {"plan": "gold"}


def test_a_contact_transferred_twice_keeps_only_its_queue_time() -> None:
    first = moves.transfer(connected(), "a-1", at(100), to_queue_id="q-2").contact
    first = offers.offer(first, "a-2", at(105), offer_id="o-2", offer_timeout=OFFER_TIMEOUT).contact
    first = offers.accept(first, "a-2", "o-2", at(106)).contact
    first = conversation.connect(first, "a-2", at(110)).contact
    assert first.waited == timedelta(seconds=25)
    second = moves.transfer(first, "a-2", at(300), to_queue_id="q-3").contact
    assert second.enqueued_since == at(275)
    assert second.transfer_count == 2


def test_blind_transfer_to_an_agent_reserves_the_contact_for_them() -> None:
    outcome = moves.transfer(connected(), "a-1", at(100), to_agent_id="a-7")
    contact = outcome.contact
    assert (contact.queue_id, contact.reserved_for) == ("q-1", "a-7")
    transferred = outcome.events[0]
    assert isinstance(transferred, ev.ContactTransferred)
    assert transferred.to_agent_id == "a-7"
    with refused("reserved_for_agent"):
        offers.offer(contact, "a-2", at(101), offer_id="o-2", offer_timeout=OFFER_TIMEOUT)
    taken = offers.offer(contact, "a-7", at(101), offer_id="o-2", offer_timeout=OFFER_TIMEOUT).contact
    assert offers.accept(taken, "a-7", "o-2", at(102)).contact.reserved_for == ""


def test_transfer_refusals() -> None:
    with refused("transfer_requires_connected"):
        moves.transfer(queued(), "a-1", at(5), to_queue_id="q-2")
    with refused("not_the_contacts_agent"):
        moves.transfer(connected(), "a-2", at(100), to_queue_id="q-2")
    with refused("transfer_needs_target", InvalidConfiguration):
        moves.transfer(connected(), "a-1", at(100))
    with refused("transfer_to_self", InvalidConfiguration):
        moves.transfer(connected(), "a-1", at(100), to_agent_id="a-1")
    with refused("transfer_across_departments", InvalidConfiguration):
        moves.transfer(connected(), "a-1", at(100), to_queue_id="q-s", to_department=Department.SUPPORT)


# -- warm transfer -------------------------------------------------------------------------------


def test_warm_transfer_hands_the_customer_over_after_the_consult() -> None:
    # Connected at 15, held 20-50 while consulting a-7, handed over at 50, hung up at 80.
    contact = conversation.hold(connected(), "a-1", at(20)).contact
    consulting = moves.start_consult(contact, "a-1", "a-7", at(21))
    assert consulting.events == ()
    assert moves.start_consult(consulting.contact, "a-1", "a-7", at(21)).contact is consulting.contact
    with refused("consult_in_progress"):
        moves.start_consult(consulting.contact, "a-1", "a-8", at(22))
    with refused("consult_in_progress"):
        moves.transfer(consulting.contact, "a-1", at(22), to_queue_id="q-2")
    outcome = moves.complete_warm_transfer(consulting.contact, "a-1", at(50))
    after = outcome.contact
    assert (after.status, after.agent_id, after.consult_agent_id) == (S.CONNECTED, "a-7", "")
    assert after.waited == timedelta(seconds=15)
    assert types(outcome.events) == ["ContactTransferred", "ContactConnected"]
    connected_event = outcome.events[1]
    assert isinstance(connected_event, ev.ContactConnected)
    assert connected_event.agent_id == "a-7"
    ended = conversation.hang_up(after, at(80), wrap_up_timeout=WRAP_UP).contact
    (completed,) = conversation.complete(ended, "a-7", at(90), disposition_code="x").events
    assert isinstance(completed, ev.ContactCompleted)
    # The completing agent's durations: a-1's hold does not count.
    assert completed.talk_duration.ToTimedelta() == timedelta(seconds=30)
    assert completed.hold_duration.ToTimedelta() == timedelta(0)


def test_a_cancelled_consult_leaves_the_contact_with_its_agent() -> None:
    consulting = moves.start_consult(connected(), "a-1", "a-7", at(21)).contact
    cancelled = moves.cancel_consult(consulting, "a-1", at(30)).contact
    assert (cancelled.agent_id, cancelled.consult_agent_id) == ("a-1", "")
    assert moves.cancel_consult(cancelled, "a-1", at(30)).contact is cancelled
    with refused("no_consult"):
        moves.complete_warm_transfer(cancelled, "a-1", at(31))


# -- hand-off ------------------------------------------------------------------------------------


def test_hand_off_moves_department_with_the_ticket_link() -> None:
    outcome = moves.hand_off(
        connected(),
        at(100),
        to_queue_id="q-support",
        to_department=Department.SUPPORT,
        agent_id="a-1",
        reason="technical",
        placement=Placement(position=1),
    )
    contact = outcome.contact
    assert (contact.department, contact.queue_id, contact.enqueued_since) == (
        Department.SUPPORT,
        "q-support",
        at(85),
    )
    assert types(outcome.events) == ["ContactHandedOff", "ContactQueued"]
    handed, queued_event = outcome.events
    assert isinstance(handed, ev.ContactHandedOff)
    assert (handed.from_department, handed.to_department) == (
        common_pb2.DEPARTMENT_SERVICE,
        common_pb2.DEPARTMENT_SUPPORT,
    )
    assert (handed.from_queue_id, handed.from_agent_id, handed.reason) == ("q-1", "a-1", "technical")
    assert handed.context.ticket_id == "t-9"
    assert isinstance(queued_event, ev.ContactQueued)
    assert queued_event.reason == ev.QUEUE_ENTRY_REASON_HAND_OFF
    assert queued_event.department == common_pb2.DEPARTMENT_SUPPORT


def test_a_waiting_contact_can_be_handed_off_keeping_its_place() -> None:
    contact = moves.hand_off(queued(), at(40), to_queue_id="q-s", to_department=Department.SUPPORT).contact
    assert contact.enqueued_since == T0


def test_hand_off_refusals() -> None:
    with refused("hand_off_same_department", InvalidConfiguration):
        moves.hand_off(
            connected(), at(100), to_queue_id="q-2", to_department=Department.SERVICE, agent_id="a-1"
        )
    with refused("not_the_contacts_agent"):
        moves.hand_off(
            connected(), at(100), to_queue_id="q-s", to_department=Department.SUPPORT, agent_id="a-2"
        )
    with refused("hand_off_requires_connected_or_queued"):
        moves.hand_off(offered(), at(100), to_queue_id="q-s", to_department=Department.SUPPORT)


# -- callbacks -----------------------------------------------------------------------------------


def test_callback_ends_the_call_and_the_callback_keeps_the_place() -> None:
    outcome = moves.schedule_callback(
        queued(),
        at(300),
        callback_contact_id="k-2",
        callback_number="+449876",
        placement=Placement(position=4, estimated_wait=timedelta(minutes=9)),
    )
    assert outcome.contact.status is S.CALLED_BACK
    callback = outcome.spawned
    assert callback is not None
    assert outcome.contact.callback_contact_id == "k-2"
    assert (callback.channel, callback.status, callback.related_contact_id) == (
        Channel.CALLBACK,
        S.QUEUED,
        "k-1",
    )
    assert (callback.enqueued_since, callback.entry_reason) == (T0, EntryReason.CALLBACK)
    assert callback.context.customer_address == "+449876"
    assert callback.context.ticket_id == "t-9"
    assert types(outcome.events) == ["ContactCallbackScheduled", "ContactReceived", "ContactQueued"]
    scheduled, received_event, queued_event = outcome.events
    assert isinstance(scheduled, ev.ContactCallbackScheduled)
    assert scheduled.enqueued_since.ToDatetime(T0.tzinfo) == T0
    assert scheduled.estimated_wait.ToTimedelta() == timedelta(minutes=9)
    assert not scheduled.HasField("scheduled_for")
    assert isinstance(received_event, ev.ContactReceived)
    assert received_event.related_contact_id == "k-1"
    assert isinstance(queued_event, ev.ContactQueued)
    assert queued_event.reason == ev.QUEUE_ENTRY_REASON_CALLBACK
    assert queued_event.enqueued_since.ToDatetime(T0.tzinfo) == T0
    with refused("already_called_back"):
        moves.schedule_callback(outcome.contact, at(300), callback_contact_id="k-2")


def test_a_scheduled_callback_is_not_offered_early() -> None:
    callback = moves.schedule_callback(
        queued(), at(300), callback_contact_id="k-2", scheduled_for=at(3600)
    ).spawned
    assert callback is not None
    with refused("callback_not_due"):
        offers.offer(callback, "a-1", at(3599), offer_id="o-9", offer_timeout=OFFER_TIMEOUT)
    assert offers.offer(
        callback, "a-1", at(3600), offer_id="o-9", offer_timeout=OFFER_TIMEOUT
    ).contact.status is (S.OFFERED)


def test_callback_refusals() -> None:
    with refused("callback_is_voice_only", InvalidConfiguration):
        moves.schedule_callback(queued(Channel.CHAT), at(30), callback_contact_id="k-2")
    with refused("callback_requires_queued"):
        moves.schedule_callback(connected(), at(30), callback_contact_id="k-2")
    with refused("missing_field", InvalidConfiguration):
        moves.schedule_callback(queued(), at(30), callback_contact_id="")
    with refused("callback_needs_new_id", InvalidConfiguration):
        moves.schedule_callback(queued(), at(30), callback_contact_id="k-1")


# -- abandon and return --------------------------------------------------------------------------


@pytest.mark.parametrize("channel", [Channel.VOICE, Channel.CHAT])
def test_abandon_while_waiting(channel: Channel) -> None:
    outcome = moves.abandon(offered(channel), at(45), resume_window=RESUME_WINDOW, position=2)
    assert (outcome.contact.status, outcome.contact.agent_id) == (S.ABANDONED, "")
    (event,) = outcome.events
    assert isinstance(event, ev.ContactAbandoned)
    assert event.wait_duration.ToTimedelta() == timedelta(seconds=45)
    assert event.resumable_until.ToDatetime(T0.tzinfo) == at(105)
    assert event.position == 2
    with refused("already_abandoned"):
        moves.abandon(outcome.contact, at(45), resume_window=RESUME_WINDOW)


def test_email_never_abandons() -> None:
    with refused("email_never_abandons", InvalidConfiguration):
        moves.abandon(queued(Channel.EMAIL), at(45), resume_window=RESUME_WINDOW)
    with refused("channel_never_abandons", InvalidConfiguration):
        moves.abandon(queued(Channel.SMS), at(45), resume_window=RESUME_WINDOW)


def test_abandon_only_while_waiting() -> None:
    with refused("abandon_requires_queued"):
        moves.abandon(connected(), at(45), resume_window=RESUME_WINDOW)


def test_return_within_the_resume_window_regains_the_place() -> None:
    abandoned = moves.abandon(queued(at_s=0), at(45), resume_window=RESUME_WINDOW).contact
    again = received(contact_id="k-2", now=at(100), related_contact_id="k-1")
    outcome = moves.rejoin(again, abandoned, at(105), queue_id="q-other", resume_window=RESUME_WINDOW)
    contact = outcome.contact
    assert (contact.queue_id, contact.enqueued_since, contact.entry_reason) == ("q-1", T0, EntryReason.RETURN)
    (event,) = outcome.events
    assert isinstance(event, ev.ContactQueued)
    assert event.reason == ev.QUEUE_ENTRY_REASON_RETURN


def test_return_after_the_resume_window_is_a_new_contact() -> None:
    abandoned = moves.abandon(queued(at_s=0), at(45), resume_window=RESUME_WINDOW).contact
    again = received(contact_id="k-2", now=at(106))
    outcome = moves.rejoin(again, abandoned, at(106), queue_id="q-2", resume_window=RESUME_WINDOW)
    contact = outcome.contact
    assert (contact.queue_id, contact.enqueued_since, contact.entry_reason) == (
        "q-2",
        at(106),
        EntryReason.NEW,
    )


def test_return_refusals() -> None:
    with refused("related_not_abandoned", InvalidConfiguration):
        moves.rejoin(received(contact_id="k-2"), queued(), at(5), queue_id="q-1", resume_window=RESUME_WINDOW)
    abandoned = moves.abandon(queued(), at(45), resume_window=RESUME_WINDOW).contact
    with refused("related_contact_mismatch", InvalidConfiguration):
        moves.rejoin(
            received(contact_id="k-2", related_contact_id="k-0"),
            abandoned,
            at(50),
            queue_id="q-1",
            resume_window=RESUME_WINDOW,
        )


# -- maximum wait --------------------------------------------------------------------------------


def test_time_out_at_max_wait_with_a_ticket() -> None:
    contact = queued(Channel.EMAIL)
    with refused("max_wait_not_reached"):
        moves.time_out(contact, at(3599), max_wait=timedelta(hours=1), action=TimeoutAction.TICKET)
    outcome = moves.time_out(contact, at(3600), max_wait=timedelta(hours=1), action=TimeoutAction.TICKET)
    assert outcome.contact.status is S.TIMED_OUT
    (event,) = outcome.events
    assert isinstance(event, ev.ContactTimedOut)
    assert event.action == common_pb2.TIMEOUT_ACTION_TICKET
    assert event.wait_duration.ToTimedelta() == timedelta(hours=1)
    with refused("already_timed_out"):
        moves.time_out(outcome.contact, at(3600), max_wait=timedelta(hours=1), action=TimeoutAction.TICKET)


def test_time_out_carries_the_context_the_tickets_service_makes_its_ticket_from() -> None:
    context = ContactContext(
        customer_id="cu-1", intent="billing", ticket_id="t-9", attributes={"voicemail_recording": "rec-1"}
    )
    contact = replace(queued(), context=context)
    outcome = moves.time_out(contact, at(60), max_wait=timedelta(minutes=1), action=TimeoutAction.VOICEMAIL)
    (event,) = outcome.events
    assert isinstance(event, ev.ContactTimedOut)
    assert event.action == common_pb2.TIMEOUT_ACTION_VOICEMAIL
    assert (event.context.customer_id, event.context.intent) == ("cu-1", "billing")
    assert event.ticket_id == event.context.ticket_id == "t-9"
    assert dict(event.context.attributes) == {"voicemail_recording": "rec-1"}


def test_time_out_to_a_callback_creates_it_at_the_callers_place() -> None:
    outcome = moves.time_out(
        queued(),
        at(600),
        max_wait=timedelta(minutes=10),
        action=TimeoutAction.CALLBACK,
        callback_contact_id="k-3",
    )
    assert outcome.spawned is not None
    assert outcome.spawned.enqueued_since == T0
    assert types(outcome.events) == ["ContactTimedOut", "ContactReceived", "ContactQueued"]
    timed_out = outcome.events[0]
    assert isinstance(timed_out, ev.ContactTimedOut)
    assert timed_out.callback_contact_id == outcome.contact.callback_contact_id == "k-3"


def test_time_out_waits_for_a_pending_offer() -> None:
    with refused("time_out_requires_queued"):
        moves.time_out(offered(), at(600), max_wait=timedelta(minutes=1), action=TimeoutAction.VOICEMAIL)


# -- hours of operation --------------------------------------------------------------------------

OPENS = at(12 * 3600)


def test_a_new_contact_in_a_closed_queue_becomes_a_ticket() -> None:
    contact = received(Channel.CHAT, queue_id="q-1")
    outcome = moves.after_hours(contact, at(5), action=TimeoutAction.TICKET, next_opening=OPENS)
    assert outcome.contact.status is S.AFTER_HOURS
    assert outcome.contact.finished_at == at(5)
    assert outcome.spawned is None
    (event,) = outcome.events
    assert isinstance(event, ev.ContactAfterHours)
    assert (event.queue_id, event.action) == ("q-1", common_pb2.TIMEOUT_ACTION_TICKET)
    assert event.next_opening.ToDatetime(T0.tzinfo) == OPENS
    assert event.wait_duration.ToTimedelta() == timedelta(0)
    # The context the tickets service builds the ticket from.
    assert (event.context.customer_id, event.context.intent, event.ticket_id) == (
        "cust-1",
        "billing.refund",
        "t-9",
    )
    with refused("already_after_hours"):
        moves.after_hours(outcome.contact, at(6), action=TimeoutAction.TICKET, next_opening=OPENS)


def test_a_waiting_contact_when_the_queue_closes_goes_to_voicemail_with_its_wait() -> None:
    outcome = moves.after_hours(queued(at_s=0), at(90), action=TimeoutAction.VOICEMAIL, next_opening=OPENS)
    assert outcome.contact.status is S.AFTER_HOURS
    (event,) = outcome.events
    assert isinstance(event, ev.ContactAfterHours)
    assert event.action == common_pb2.TIMEOUT_ACTION_VOICEMAIL
    assert event.wait_duration.ToTimedelta() == timedelta(seconds=90)


def test_a_closed_callback_action_schedules_the_callback_for_the_opening_keeping_the_enqueue_time() -> None:
    outcome = moves.after_hours(
        queued(at_s=0), at(90), action=TimeoutAction.CALLBACK, next_opening=OPENS, callback_contact_id="cb-1"
    )
    callback = outcome.spawned
    assert callback is not None
    assert (callback.contact_id, callback.channel, callback.status) == ("cb-1", Channel.CALLBACK, S.QUEUED)
    assert callback.scheduled_for == OPENS
    # Its order among callbacks is the original caller's enqueue time.
    assert callback.enqueued_since == at(0)
    assert outcome.contact.callback_contact_id == "cb-1"
    assert types(outcome.events) == ["ContactAfterHours", "ContactReceived", "ContactQueued"]
    # A new caller's callback counts from the call.
    fresh = moves.after_hours(
        received(queue_id="q-1"),
        at(7),
        action=TimeoutAction.CALLBACK,
        next_opening=OPENS,
        callback_contact_id="cb-2",
    )
    assert fresh.spawned is not None
    assert fresh.spawned.enqueued_since == at(7)


def test_only_callers_are_called_back_after_hours_others_get_a_ticket() -> None:
    outcome = moves.after_hours(
        queued(Channel.EMAIL),
        at(30),
        action=TimeoutAction.CALLBACK,
        next_opening=OPENS,
        callback_contact_id="cb-1",
    )
    assert outcome.spawned is None
    (event,) = outcome.events
    assert isinstance(event, ev.ContactAfterHours)
    assert event.action == common_pb2.TIMEOUT_ACTION_TICKET


def test_after_hours_refusals() -> None:
    with refused("queue_is_open", InvalidConfiguration):
        moves.after_hours(queued(), at(30), action=TimeoutAction.TICKET, next_opening=at(30))
    with refused("after_hours_requires_received_or_queued"):
        moves.after_hours(offered(), at(30), action=TimeoutAction.TICKET, next_opening=OPENS)
    with refused("callback_needs_new_id", InvalidConfiguration):
        moves.after_hours(
            queued(), at(30), action=TimeoutAction.CALLBACK, next_opening=OPENS, callback_contact_id="k-1"
        )
