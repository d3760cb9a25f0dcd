"""Reactions to other services' facts: each one commit, each a no-op when decided again on the
ticket it produced, and its system note written only with a change it describes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from helpline.v1 import common_pb2, ticket_events_pb2
from services.tickets.domain import reactions
from services.tickets.domain.errors import InvalidCommand, TransitionRefused
from services.tickets.domain.model import Actor, AuthorType, Channel, Department, Priority, Status, Tier
from services.tickets.domain.reactions import CompletedContact, MissedContact, SlaAlert
from tests.unit.tickets.support import later, new_ticket, ticket_in, types

ROUTER = Actor(AuthorType.SYSTEM, "router")
SLA = Actor(AuthorType.SYSTEM, "sla")
CALL = CompletedContact("k-9", Channel.VOICE, "agent-3", "Billing Question")


def action(**kind: Any) -> common_pb2.EscalationAction:
    return common_pb2.EscalationAction(**kind)


def breach(*actions: common_pb2.EscalationAction) -> SlaAlert:
    return SlaAlert(metric="first_reply", breached=True, policy_id="gold", actions=actions)


def test_a_completed_contact_is_linked_tagged_and_noted_in_one_outcome() -> None:
    ticket = new_ticket()
    outcome = reactions.record_completed_contact(ticket, CALL, ROUTER, later(5), comment_id="n-1")
    after = outcome.ticket
    assert after.contact_ids == ("k-9",)
    assert after.tags == ("disposition:billing_question",)
    assert after.comment_count == ticket.comment_count + 1
    assert after.version == ticket.version + 3
    assert types(outcome.events) == ["TicketUpdated", "TicketUpdated", "TicketCommented"]
    first, second, note = outcome.events
    assert isinstance(first, ticket_events_pb2.TicketUpdated)
    assert isinstance(second, ticket_events_pb2.TicketUpdated)
    assert isinstance(note, ticket_events_pb2.TicketCommented)
    assert (first.ticket.version, second.ticket.version, note.version) == (2, 3, 4)
    assert outcome.comment is not None
    assert not outcome.comment.public
    assert outcome.comment.author == ROUTER
    assert "k-9" in outcome.comment.body
    assert "agent-3" in outcome.comment.body
    assert "Billing Question" in outcome.comment.body


def test_a_completed_contact_decided_again_changes_nothing() -> None:
    once = reactions.record_completed_contact(new_ticket(), CALL, ROUTER, later(5), comment_id="n-1").ticket
    again = reactions.record_completed_contact(once, CALL, ROUTER, later(6), comment_id="n-2")
    assert again.ticket is once
    assert again.events == ()
    assert again.comment is None


def test_a_contact_already_linked_at_creation_still_gets_its_disposition() -> None:
    emailed = new_ticket(contact_id="k-9")
    outcome = reactions.record_completed_contact(emailed, CALL, ROUTER, later(5), comment_id="n-1")
    assert types(outcome.events) == ["TicketUpdated", "TicketCommented"]
    assert outcome.ticket.contact_ids == ("k-9",)


def test_a_completion_without_disposition_only_links() -> None:
    plain = CompletedContact("k-9", Channel.CHAT)
    outcome = reactions.record_completed_contact(new_ticket(), plain, ROUTER, later(5), comment_id="n-1")
    assert types(outcome.events) == ["TicketUpdated"]
    assert outcome.comment is None


@pytest.mark.parametrize(
    ("code", "tag"),
    [
        ("Billing Question", "disposition:billing_question"),
        ("  ", ""),
        ("!!!", ""),
        ("x" * 80, "disposition:" + "x" * 38),
    ],
)
def test_disposition_tags_fit_the_tag_rules(code: str, tag: str) -> None:
    assert reactions.disposition_tag(code) == tag


def test_a_hand_off_moves_the_ticket_and_links_the_contact() -> None:
    ticket = new_ticket(group_id="billing")
    outcome = reactions.hand_off_with_contact(
        ticket, "k-9", Department.SUPPORT, ROUTER, later(5), reason="tech"
    )
    assert outcome.ticket.department is Department.SUPPORT
    assert outcome.ticket.group_id == ""
    assert outcome.ticket.contact_ids == ("k-9",)
    assert types(outcome.events) == ["TicketUpdated", "TicketHandedOff"]
    again = reactions.hand_off_with_contact(outcome.ticket, "k-9", Department.SUPPORT, ROUTER, later(6))
    assert again.ticket is outcome.ticket


def test_a_hand_off_to_the_tickets_own_department_only_links() -> None:
    outcome = reactions.hand_off_with_contact(new_ticket(), "k-9", Department.SERVICE, ROUTER, later(5))
    assert types(outcome.events) == ["TicketUpdated"]


def test_sla_actions_apply_in_order_with_a_note_naming_the_breach() -> None:
    ticket = new_ticket()
    alert = breach(
        action(raise_priority=common_pb2.PRIORITY_URGENT),
        action(move_to_group="leads"),
        action(move_to_tier=common_pb2.TIER_L2),
        action(notify=common_pb2.EscalationAction.Notify(targets=["lead-1"])),
    )
    outcome = reactions.escalate_for_sla(ticket, alert, SLA, later(30), comment_id="n-1")
    after = outcome.ticket
    assert (after.priority, after.group_id, after.tier) == (Priority.URGENT, "leads", Tier.L2)
    assert types(outcome.events) == ["TicketUpdated", "TicketAssigned", "TicketEscalated", "TicketCommented"]
    escalated = outcome.events[2]
    assert isinstance(escalated, ticket_events_pb2.TicketEscalated)
    assert escalated.reason == "SLA first_reply breached"
    assert outcome.comment is not None
    assert outcome.comment.body == (
        "SLA first_reply breached (policy gold): priority raised to urgent; moved to group leads; "
        "escalated to L2."
    )
    assert not outcome.comment.public


def test_sla_actions_already_in_effect_change_and_note_nothing() -> None:
    ticket = ticket_in(Status.OPEN, priority=Priority.URGENT)
    alert = breach(
        action(raise_priority=common_pb2.PRIORITY_HIGH), action(notify=common_pb2.EscalationAction.Notify())
    )
    outcome = reactions.escalate_for_sla(ticket, alert, SLA, later(30), comment_id="n-1")
    assert outcome.ticket is ticket
    assert outcome.events == ()


def test_sla_actions_on_a_closed_ticket_are_refused() -> None:
    with pytest.raises(TransitionRefused):
        reactions.escalate_for_sla(
            ticket_in(Status.CLOSED),
            breach(action(raise_priority=common_pb2.PRIORITY_URGENT)),
            SLA,
            later(30),
            comment_id="n-1",
        )


def test_actions_naming_unknown_values_are_caught_before_any_ticket() -> None:
    reactions.check_actions([action(raise_priority=common_pb2.PRIORITY_HIGH), action(move_to_group="g")])
    with pytest.raises(InvalidCommand):
        reactions.check_actions([action(raise_priority=common_pb2.PRIORITY_UNSPECIFIED)])
    with pytest.raises(InvalidCommand):
        reactions.check_actions([action(move_to_tier=99)])


VOICEMAIL = MissedContact(
    "k-5", Channel.VOICE, "q-sales", timedelta(minutes=15, seconds=3), voicemail=True, recording="rec-8"
)


def test_a_timed_out_contact_says_how_long_it_waited_where_and_what_the_caller_left() -> None:
    assert VOICEMAIL.story() == (
        "Contact k-5 (voice) waited 15 min 3 s in queue q-sales and timed out; the caller was sent to "
        "voicemail (recording: rec-8)."
    )
    missed = MissedContact("k-6", Channel.CHAT, "q-1", timedelta(hours=2, minutes=1), voicemail=False)
    assert missed.story() == "Contact k-6 (chat) waited 2 h 1 min in queue q-1 and timed out."
    assert (VOICEMAIL.tags, missed.tags) == (("timed_out", "voicemail"), ("timed_out",))


def test_a_timed_out_contact_on_a_ticket_is_linked_tagged_and_noted_once() -> None:
    once = reactions.record_missed_contact(new_ticket(), VOICEMAIL, ROUTER, later(5), comment_id="n-1")
    assert once.ticket.contact_ids == ("k-5",)
    assert once.ticket.tags == ("timed_out", "voicemail")
    assert types(once.events) == ["TicketUpdated", "TicketUpdated", "TicketCommented"]
    assert once.comment is not None
    assert not once.comment.public
    assert once.comment.body == VOICEMAIL.story()
    again = reactions.record_missed_contact(once.ticket, VOICEMAIL, ROUTER, later(6), comment_id="n-2")
    assert again.ticket is once.ticket
    assert again.events == ()
    assert again.comment is None


OPENS = datetime(2026, 6, 16, 7, 0, tzinfo=UTC)


def test_an_after_hours_contact_says_the_queue_was_closed_and_when_it_opens() -> None:
    arrived = MissedContact("k-7", Channel.VOICE, "q-sales", timedelta(0), voicemail=True, next_opening=OPENS)
    assert arrived.story() == (
        "Contact k-7 (voice) came in while queue q-sales was closed; it opens at "
        "2026-06-16T07:00:00+00:00; the caller was sent to voicemail."
    )
    assert arrived.tags == ("after_hours", "voicemail")
    waiting = MissedContact(
        "k-8", Channel.CHAT, "q-1", timedelta(minutes=4), voicemail=False, next_opening=OPENS
    )
    assert waiting.story() == (
        "Contact k-8 (chat) waited 4 min 0 s in queue q-1 until it closed; it opens at "
        "2026-06-16T07:00:00+00:00."
    )
    assert waiting.tags == ("after_hours",)


def test_an_after_hours_contact_on_a_ticket_is_linked_tagged_and_noted_once() -> None:
    closed = MissedContact("k-9", Channel.VOICE, "q-1", timedelta(0), voicemail=False, next_opening=OPENS)
    once = reactions.record_missed_contact(new_ticket(), closed, ROUTER, later(5), comment_id="n-1")
    assert once.ticket.contact_ids == ("k-9",)
    assert once.ticket.tags == ("after_hours",)
    assert once.comment is not None
    assert once.comment.body == closed.story()
    again = reactions.record_missed_contact(once.ticket, closed, ROUTER, later(6), comment_id="n-2")
    assert again.events == ()
