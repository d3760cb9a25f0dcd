"""Each command: the ticket it returns, the events it emits, and what it refuses."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from helpline.domain import from_timestamp
from helpline.v1 import common_pb2, ticket_events_pb2
from services.tickets.domain import commands
from services.tickets.domain.commands.creation import NewTicket
from services.tickets.domain.commands.validation import MAX_LINKED_CONTACTS
from services.tickets.domain.errors import InvalidCommand, LimitReached, TransitionRefused
from services.tickets.domain.model import (
    SYSTEM,
    Actor,
    Channel,
    Department,
    Priority,
    Status,
    TicketType,
    Tier,
)
from services.tickets.domain.survey_settings import SurveyAsk
from tests.unit.tickets.support import AGENT, CUSTOMER, SYSTEM_ACTOR, T0, later, new_ticket, ticket_in, types

# -- create -------------------------------------------------------------------------------------


def test_create_starts_new_at_version_one_with_a_full_snapshot() -> None:
    draft = NewTicket(
        tenant_id="acme",
        subject="  Router drops calls  ",
        description="Since Monday",
        requester_id="cust-1",
        channel=Channel.EMAIL,
        type=TicketType.INCIDENT,
        priority=Priority.HIGH,
        department=Department.SUPPORT,
        tier=Tier.L2,
        group_id="net",
        assignee_id="agent-7",
        tags=["VoIP", "voip", "b2b", " Urgent:Now "],
        custom_fields={"plan": "gold"},
        contact_id="k-1",
    )
    outcome = commands.create(draft, AGENT, T0, ticket_id="t-1", comment_id="c-1")
    ticket = outcome.ticket
    assert ticket.status is Status.NEW  # an assignee does not open it
    assert ticket.version == 1
    assert ticket.subject == "Router drops calls"
    assert ticket.tags == ("b2b", "urgent:now", "voip")
    assert ticket.contact_ids == ("k-1",)
    assert ticket.comment_count == 1
    assert ticket.first_agent_reply_at is None  # the description is no reply
    assert outcome.comment is not None
    assert outcome.comment.body == "Since Monday"
    assert outcome.comment.public
    (created,) = outcome.events
    assert isinstance(created, ticket_events_pb2.TicketCreated)
    assert created.tenant_id == "acme"
    assert created.contact_id == "k-1"
    assert created.created_by == common_pb2.Actor(type=common_pb2.AUTHOR_TYPE_AGENT, id="agent-1")
    snap = created.ticket
    assert snap.ticket_id == "t-1"
    assert snap.version == 1
    assert snap.status == common_pb2.TICKET_STATUS_NEW
    assert snap.priority == common_pb2.PRIORITY_HIGH
    assert snap.type == common_pb2.TICKET_TYPE_INCIDENT
    assert snap.channel == common_pb2.CHANNEL_EMAIL
    assert snap.department == common_pb2.DEPARTMENT_SUPPORT
    assert snap.tier == common_pb2.TIER_L2
    assert (snap.group_id, snap.assignee_id, snap.requester_id) == ("net", "agent-7", "cust-1")
    assert list(snap.tags) == ["b2b", "urgent:now", "voip"]
    assert dict(snap.custom_fields) == {"plan": "gold"}
    assert from_timestamp(snap.created_at) == T0
    assert snap.subject == "Router drops calls"


def test_create_without_a_comment_id_stores_no_comment() -> None:
    outcome = commands.create(NewTicket("acme", "Hi", description="body"), AGENT, T0, ticket_id="t-1")
    assert outcome.comment is None
    assert outcome.ticket.comment_count == 0


def test_a_customer_creating_a_ticket_is_its_requester() -> None:
    ticket = commands.create(NewTicket("acme", "Help"), CUSTOMER, T0, ticket_id="t-1").ticket
    assert ticket.requester_id == "cust-1"


@pytest.mark.parametrize(
    ("draft", "rule"),
    [
        (NewTicket("acme", ""), "subject_required"),
        (NewTicket("acme", "   "), "subject_required"),
        (NewTicket("acme", "x" * 251), "subject_too_long"),
        (NewTicket("", "Hi"), "tenant_id_required"),
        (NewTicket("acme", "Hi", tags=["ok", "not ok"]), "invalid_tag"),
        (NewTicket("acme", "Hi", tags=["-leading"]), "invalid_tag"),
        (NewTicket("acme", "Hi", tags=["x" * 51]), "invalid_tag"),
        (NewTicket("acme", "Hi", tags=[f"t{i}" for i in range(51)]), "too_many_tags"),
        (NewTicket("acme", "Hi", custom_fields={"Plan": "x"}), "invalid_custom_field_key"),
        (NewTicket("acme", "Hi", custom_fields={"1plan": "x"}), "invalid_custom_field_key"),
        (NewTicket("acme", "Hi", custom_fields={"plan": "x" * 1025}), "custom_field_too_long"),
        (NewTicket("acme", "Hi", description="x" * 65_537), "description_too_long"),
    ],
)
def test_create_refuses_bad_input(draft: NewTicket, rule: str) -> None:
    with pytest.raises(InvalidCommand) as refused:
        commands.create(draft, AGENT, T0, ticket_id="t-1")
    assert refused.value.rule == rule


def test_a_subject_of_exactly_250_characters_is_fine() -> None:
    assert len(commands.create(NewTicket("acme", "x" * 250), AGENT, T0, ticket_id="t").ticket.subject) == 250


# -- update_fields ----------------------------------------------------------------------------------


def test_update_lists_exactly_what_changed() -> None:
    ticket = new_ticket(tags=["a"], priority=Priority.NORMAL)
    outcome = commands.update_fields(
        ticket,
        AGENT,
        later(5),
        subject="Printer on fire",  # unchanged
        priority=Priority.URGENT,
        tags=["B", "a"],
        custom_fields={"plan": "gold"},
    )
    assert outcome.ticket.version == 2
    assert outcome.ticket.updated_at == later(5)
    (updated,) = outcome.events
    assert isinstance(updated, ticket_events_pb2.TicketUpdated)
    assert list(updated.changed_fields) == ["priority", "tags", "custom_fields"]
    assert updated.ticket.version == 2
    assert updated.ticket.priority == common_pb2.PRIORITY_URGENT
    assert updated.updated_by.id == "agent-1"


def test_a_no_op_update_emits_nothing_and_keeps_the_version() -> None:
    ticket = new_ticket(tags=["b", "a"], custom_fields={"plan": "gold"})
    outcome = commands.update_fields(
        ticket,
        AGENT,
        later(5),
        subject=" Printer on fire ",
        tags=["A", "b", "a"],
        custom_fields={"plan": "gold"},
        type=TicketType.QUESTION,
        group_id="",
    )
    assert outcome.ticket is ticket
    assert outcome.events == ()


def test_a_group_change_in_an_update_is_an_assignment() -> None:
    outcome = commands.update_fields(new_ticket(), AGENT, later(5), group_id="billing", type=TicketType.TASK)
    assert types(outcome.events) == ["TicketUpdated", "TicketAssigned"]
    updated, assigned = outcome.events
    assert isinstance(updated, ticket_events_pb2.TicketUpdated)
    assert isinstance(assigned, ticket_events_pb2.TicketAssigned)
    assert list(updated.changed_fields) == ["type"]
    assert (assigned.group_id, assigned.previous_group_id, assigned.version) == ("billing", "", 2)


def test_update_validates_like_create() -> None:
    with pytest.raises(InvalidCommand) as refused:
        commands.update_fields(new_ticket(), AGENT, later(5), subject="")
    assert refused.value.rule == "subject_required"


def test_update_on_closed_is_refused() -> None:
    with pytest.raises(TransitionRefused) as refused:
        commands.update_fields(ticket_in(Status.CLOSED), AGENT, later(60), priority=Priority.LOW)
    assert refused.value.rule == "closed_is_immutable"


# -- transition -------------------------------------------------------------------------------------


def test_transition_emits_status_changed_with_the_new_version() -> None:
    outcome = commands.transition(ticket_in(Status.OPEN), Status.PENDING, AGENT, later(30))
    (changed,) = outcome.events
    assert isinstance(changed, ticket_events_pb2.TicketStatusChanged)
    assert changed.version == outcome.ticket.version == 6
    assert changed.from_status == common_pb2.TICKET_STATUS_OPEN
    assert changed.to_status == common_pb2.TICKET_STATUS_PENDING
    assert from_timestamp(changed.changed_at) == later(30)


def test_solving_emits_solved_and_a_survey() -> None:
    ticket = ticket_in(Status.OPEN, contact_ids=("k-1", "k-2"), assignee_id="agent-7", reopen_count=1)
    outcome = commands.transition(ticket, Status.SOLVED, AGENT, later(30), survey=SurveyAsk("s-1"))
    assert types(outcome.events) == ["TicketStatusChanged", "TicketSolved", "TicketSurveyRequested"]
    _, solved, survey = outcome.events
    assert isinstance(solved, ticket_events_pb2.TicketSolved)
    assert solved.contact_count == 2
    assert solved.reopen_count == 1
    assert solved.assignee_id == "agent-7"
    assert from_timestamp(solved.solved_at) == later(30)
    assert isinstance(survey, ticket_events_pb2.TicketSurveyRequested)
    assert list(survey.kinds) == [common_pb2.SURVEY_KIND_CSAT, common_pb2.SURVEY_KIND_NPS]
    assert (survey.survey_id, survey.agent_id, survey.contact_id) == ("s-1", "agent-7", "k-2")


def test_solving_without_a_survey_asked_requests_none() -> None:
    outcome = commands.transition(ticket_in(Status.OPEN), Status.SOLVED, AGENT, later(30))
    assert types(outcome.events) == ["TicketStatusChanged", "TicketSolved"]


def test_reopening_by_an_agent_emits_reopened() -> None:
    outcome = commands.transition(ticket_in(Status.SOLVED), Status.OPEN, AGENT, later(30))
    assert types(outcome.events) == ["TicketStatusChanged", "TicketReopened"]
    reopened = outcome.events[1]
    assert isinstance(reopened, ticket_events_pb2.TicketReopened)
    assert reopened.reopen_count == 1
    assert reopened.from_status == common_pb2.TICKET_STATUS_SOLVED
    assert from_timestamp(reopened.solved_at) == later(10)


def test_closing_emits_closed_not_automatic() -> None:
    outcome = commands.transition(ticket_in(Status.SOLVED), Status.CLOSED, AGENT, later(30))
    assert types(outcome.events) == ["TicketStatusChanged", "TicketClosed"]
    closed = outcome.events[1]
    assert isinstance(closed, ticket_events_pb2.TicketClosed)
    assert not closed.automatic


def test_transition_to_the_same_status_is_a_no_op() -> None:
    ticket = ticket_in(Status.PENDING)
    outcome = commands.transition(ticket, Status.PENDING, AGENT, later(30))
    assert outcome.ticket is ticket
    assert outcome.events == ()


def test_a_survey_request_refuses_no_kinds() -> None:
    with pytest.raises(InvalidCommand) as refused:
        commands.request_survey(ticket_in(Status.SOLVED), "s", later(30), kinds=())
    assert refused.value.rule == "survey_kinds_required"


def test_a_survey_request_refuses_an_unspecified_kind() -> None:
    kinds = (common_pb2.SURVEY_KIND_UNSPECIFIED,)
    with pytest.raises(InvalidCommand) as refused:
        commands.request_survey(ticket_in(Status.SOLVED), "s", later(30), kinds=kinds)
    assert refused.value.rule == "invalid_survey_kind"


def test_a_survey_needs_a_solved_ticket() -> None:
    with pytest.raises(InvalidCommand) as refused:
        commands.request_survey(ticket_in(Status.OPEN), "s-1", later(30))
    assert refused.value.rule == "survey_needs_solved"


def test_request_survey_on_a_solved_ticket() -> None:
    survey = commands.request_survey(
        ticket_in(Status.SOLVED), "s-1", later(30), kinds=(common_pb2.SURVEY_KIND_CES,)
    )
    assert list(survey.kinds) == [common_pb2.SURVEY_KIND_CES]
    assert survey.requester_id == "cust-1"


# -- auto_close -------------------------------------------------------------------------------------


def test_auto_close_when_due() -> None:
    solved = ticket_in(Status.SOLVED)  # solved at later(10)
    outcome = commands.auto_close(solved, later(10) + timedelta(days=4), timedelta(days=4))
    assert outcome.ticket.status is Status.CLOSED
    assert outcome.ticket.closed_at == later(10) + timedelta(days=4)
    assert outcome.ticket.version == solved.version + 1
    assert types(outcome.events) == ["TicketStatusChanged", "TicketClosed"]
    closed = outcome.events[1]
    assert isinstance(closed, ticket_events_pb2.TicketClosed)
    assert closed.automatic
    assert closed.closed_by.type == common_pb2.AUTHOR_TYPE_SYSTEM
    assert closed.closed_by.id == SYSTEM.id


def test_auto_close_not_due() -> None:
    solved = ticket_in(Status.SOLVED)
    with pytest.raises(InvalidCommand) as refused:
        commands.auto_close(solved, later(10) + timedelta(days=4, seconds=-1), timedelta(days=4))
    assert refused.value.rule == "not_due"


def test_auto_close_needs_a_solved_ticket() -> None:
    with pytest.raises(InvalidCommand) as refused:
        commands.auto_close(ticket_in(Status.OPEN), later(10_000), timedelta(days=4))
    assert refused.value.rule == "not_solved"


def test_auto_close_of_a_closed_ticket_is_refused() -> None:
    with pytest.raises(TransitionRefused) as refused:
        commands.auto_close(ticket_in(Status.CLOSED), later(100_000), timedelta(days=4))
    assert refused.value.rule == "closed_is_immutable"


# -- assign -----------------------------------------------------------------------------------------


def test_assign_emits_assigned_and_keeps_new() -> None:
    outcome = commands.assign(new_ticket(group_id="g-1"), AGENT, later(2), assignee_id="agent-7")
    assert outcome.ticket.status is Status.NEW
    assert outcome.ticket.assignee_id == "agent-7"
    (assigned,) = outcome.events
    assert isinstance(assigned, ticket_events_pb2.TicketAssigned)
    assert (assigned.assignee_id, assigned.previous_assignee_id) == ("agent-7", "")
    assert (assigned.group_id, assigned.previous_group_id) == ("g-1", "g-1")
    assert assigned.version == 2


def test_assign_empty_unassigns_and_same_is_a_no_op() -> None:
    ticket = new_ticket(assignee_id="agent-7")
    assert commands.assign(ticket, AGENT, later(2), assignee_id="").ticket.assignee_id == ""
    assert commands.assign(ticket, AGENT, later(2), assignee_id="agent-7").ticket is ticket


def test_assign_needs_something_to_assign() -> None:
    with pytest.raises(InvalidCommand) as refused:
        commands.assign(new_ticket(), AGENT, later(2))
    assert refused.value.rule == "nothing_to_assign"


def test_assigning_a_closed_ticket_is_refused() -> None:
    with pytest.raises(TransitionRefused) as refused:
        commands.assign(ticket_in(Status.CLOSED), AGENT, later(60), assignee_id="agent-7")
    assert refused.value.rule == "closed_is_immutable"


# -- comments ---------------------------------------------------------------------------------------


def test_first_public_agent_reply_is_the_first_response() -> None:
    ticket = new_ticket()
    outcome = commands.add_comment(ticket, "Hello", AGENT, later(3), comment_id="c-1", contact_id="k-3")
    after = outcome.ticket
    assert after.first_agent_reply_at == later(3)
    assert after.status is Status.OPEN
    assert after.comment_count == 1
    assert after.contact_ids == ("k-3",)
    assert after.version == 2
    assert types(outcome.events) == ["TicketCommented", "TicketStatusChanged"]
    commented, changed = outcome.events
    assert isinstance(commented, ticket_events_pb2.TicketCommented)
    assert commented.first_response
    assert commented.public
    assert commented.author_type == common_pb2.AUTHOR_TYPE_AGENT
    assert (commented.version, commented.comment_id, commented.contact_id) == (2, "c-1", "k-3")
    assert isinstance(changed, ticket_events_pb2.TicketStatusChanged)
    assert changed.version == 2
    assert outcome.comment is not None
    assert outcome.comment.ticket_id == ticket.ticket_id


def test_the_second_agent_reply_is_no_first_response() -> None:
    first = commands.add_comment(new_ticket(), "Hello", AGENT, later(3), comment_id="c-1").ticket
    outcome = commands.add_comment(first, "Again", AGENT, later(9), comment_id="c-2")
    assert outcome.ticket.first_agent_reply_at == later(3)
    commented = outcome.events[0]
    assert isinstance(commented, ticket_events_pb2.TicketCommented)
    assert not commented.first_response
    assert types(outcome.events) == ["TicketCommented"]


@pytest.mark.parametrize(
    ("actor", "public"), [(AGENT, False), (CUSTOMER, True), (SYSTEM_ACTOR, True), (SYSTEM_ACTOR, False)]
)
def test_only_a_public_agent_reply_is_a_first_response(actor: Actor, public: bool) -> None:
    outcome = commands.add_comment(new_ticket(), "x", actor, later(3), comment_id="c-1", public=public)
    assert outcome.ticket.first_agent_reply_at is None
    commented = outcome.events[0]
    assert isinstance(commented, ticket_events_pb2.TicketCommented)
    assert not commented.first_response


def test_a_customer_reply_to_a_solved_ticket_reopens_it_and_counts() -> None:
    ticket = ticket_in(Status.SOLVED, reopen_count=2)
    outcome = commands.add_comment(ticket, "Still broken", CUSTOMER, later(30), comment_id="c-1")
    assert outcome.ticket.reopen_count == 3
    assert types(outcome.events) == ["TicketCommented", "TicketStatusChanged", "TicketReopened"]
    reopened = outcome.events[2]
    assert isinstance(reopened, ticket_events_pb2.TicketReopened)
    assert reopened.reopen_count == 3
    assert reopened.reopened_by.type == common_pb2.AUTHOR_TYPE_CUSTOMER
    assert {getattr(e, "version", None) for e in outcome.events} == {6}


def test_a_customer_reply_to_a_pending_ticket_is_no_reopen() -> None:
    outcome = commands.add_comment(ticket_in(Status.PENDING), "Here", CUSTOMER, later(30), comment_id="c-1")
    assert types(outcome.events) == ["TicketCommented", "TicketStatusChanged"]
    assert outcome.ticket.reopen_count == 0


def test_a_customer_reply_to_a_closed_ticket_creates_a_follow_up() -> None:
    closed = ticket_in(
        Status.CLOSED,
        subject="x" * 250,
        department=Department.SUPPORT,
        group_id="net",
        tags=("vip",),
        assignee_id="agent-7",
        priority=Priority.HIGH,
    )
    outcome = commands.add_comment(
        closed, "Broken again", CUSTOMER, later(99), comment_id="c-9", contact_id="k-5", follow_up_id="t-2"
    )
    assert outcome.ticket is closed
    follow_up = outcome.follow_up
    assert follow_up is not None
    assert follow_up.ticket_id == "t-2"
    assert follow_up.subject == ("Re: " + "x" * 250)[:250]
    assert follow_up.status is Status.NEW
    assert follow_up.version == 1
    assert follow_up.follow_up_of == closed.ticket_id
    assert closed.follow_up_ids == ()
    assert (follow_up.requester_id, follow_up.department, follow_up.group_id) == (
        "cust-1",
        Department.SUPPORT,
        "net",
    )
    assert follow_up.tags == ("vip",)
    assert follow_up.priority is Priority.HIGH
    assert follow_up.assignee_id == ""
    assert follow_up.contact_ids == ("k-5",)
    assert follow_up.comment_count == 1
    assert outcome.comment is not None
    assert outcome.comment.ticket_id == "t-2"
    assert outcome.comment.body == "Broken again"
    (created,) = outcome.events
    assert isinstance(created, ticket_events_pb2.TicketCreated)
    assert created.follow_up_of_ticket_id == closed.ticket_id
    assert created.ticket.ticket_id == "t-2"
    assert created.created_by.type == common_pb2.AUTHOR_TYPE_CUSTOMER


def test_a_short_subject_follow_up_reads_re() -> None:
    outcome = commands.add_comment(
        ticket_in(Status.CLOSED), "Again", CUSTOMER, later(99), comment_id="c-9", follow_up_id="t-2"
    )
    assert outcome.follow_up is not None
    assert outcome.follow_up.subject == "Re: Printer on fire"


def test_a_follow_up_needs_its_id() -> None:
    with pytest.raises(InvalidCommand) as refused:
        commands.add_comment(ticket_in(Status.CLOSED), "Again", CUSTOMER, later(99), comment_id="c-9")
    assert refused.value.rule == "follow_up_id_required"


def test_customers_cannot_write_internal_notes() -> None:
    with pytest.raises(InvalidCommand) as refused:
        commands.add_comment(new_ticket(), "psst", CUSTOMER, later(1), comment_id="c-1", public=False)
    assert refused.value.rule == "customer_comments_are_public"


def test_an_empty_comment_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        commands.add_comment(new_ticket(), "  ", AGENT, later(1), comment_id="c-1")
    assert refused.value.rule == "body_required"


def test_an_internal_note_counts_as_a_comment_without_moving() -> None:
    outcome = commands.add_comment(new_ticket(), "FYI", AGENT, later(1), comment_id="c-1", public=False)
    assert outcome.ticket.comment_count == 1
    assert outcome.ticket.status is Status.NEW
    assert types(outcome.events) == ["TicketCommented"]


# -- escalate, hand off, SLA actions ----------------------------------------------------------------


def test_escalate_raises_the_tier() -> None:
    outcome = commands.escalate(
        new_ticket(group_id="l1"), Tier.L2, AGENT, later(5), group_id="l2", reason="hw"
    )
    assert (outcome.ticket.tier, outcome.ticket.group_id, outcome.ticket.version) == (Tier.L2, "l2", 2)
    (escalated,) = outcome.events
    assert isinstance(escalated, ticket_events_pb2.TicketEscalated)
    assert (escalated.from_tier, escalated.to_tier) == (common_pb2.TIER_L1, common_pb2.TIER_L2)
    assert (escalated.group_id, escalated.reason, escalated.version) == ("l2", "hw", 2)


def test_escalate_without_a_group_keeps_it() -> None:
    outcome = commands.escalate(new_ticket(group_id="l1"), Tier.L3, AGENT, later(5))
    assert outcome.ticket.group_id == "l1"


@pytest.mark.parametrize(("tier", "to"), [(Tier.L2, Tier.L1), (Tier.L2, Tier.L2), (Tier.L1, Tier.L1)])
def test_escalation_never_lowers_or_stays(tier: Tier, to: Tier) -> None:
    with pytest.raises(InvalidCommand) as refused:
        commands.escalate(replace(new_ticket(), tier=tier), to, AGENT, later(5))
    assert refused.value.rule == "escalation_must_raise_tier"


def test_no_escalation_past_l3() -> None:
    with pytest.raises(InvalidCommand) as refused:
        commands.escalate(replace(new_ticket(), tier=Tier.L3), Tier.L3, AGENT, later(5))
    assert refused.value.rule == "already_top_tier"


def test_hand_off_moves_department_and_keeps_context() -> None:
    ticket = ticket_in(Status.OPEN, group_id="billing", assignee_id="agent-7", contact_ids=("k-1",))
    outcome = commands.hand_off(ticket, Department.SUPPORT, AGENT, later(30), group_id="tech", reason="bug")
    after = outcome.ticket
    assert (after.department, after.group_id, after.assignee_id) == (Department.SUPPORT, "tech", "")
    assert (after.status, after.requester_id, after.contact_ids, after.tags) == (
        ticket.status,
        ticket.requester_id,
        ticket.contact_ids,
        ticket.tags,
    )
    assert types(outcome.events) == ["TicketHandedOff", "TicketAssigned"]
    handed = outcome.events[0]
    assert isinstance(handed, ticket_events_pb2.TicketHandedOff)
    assert (handed.from_department, handed.to_department) == (
        common_pb2.DEPARTMENT_SERVICE,
        common_pb2.DEPARTMENT_SUPPORT,
    )
    assert (handed.from_group_id, handed.to_group_id, handed.reason) == ("billing", "tech", "bug")
    assert {getattr(e, "version", None) for e in outcome.events} == {6}


def test_hand_off_of_an_unassigned_ticket_emits_only_handed_off() -> None:
    outcome = commands.hand_off(new_ticket(), Department.SUPPORT, AGENT, later(1))
    assert types(outcome.events) == ["TicketHandedOff"]
    assert outcome.ticket.group_id == ""


def test_hand_off_to_the_same_department_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        commands.hand_off(new_ticket(), Department.SERVICE, AGENT, later(1))
    assert refused.value.rule == "hand_off_same_department"


def test_link_contact_is_idempotent() -> None:
    once = commands.link_contact(new_ticket(), "k-1", AGENT, later(1))
    assert once.ticket.contact_ids == ("k-1",)
    (updated,) = once.events
    assert isinstance(updated, ticket_events_pb2.TicketUpdated)
    assert list(updated.changed_fields) == ["contact_ids"]
    twice = commands.link_contact(once.ticket, "k-1", AGENT, later(2))
    assert twice.ticket is once.ticket
    assert twice.events == ()


def test_link_contact_needs_an_id() -> None:
    with pytest.raises(InvalidCommand) as refused:
        commands.link_contact(new_ticket(), "", AGENT, later(1))
    assert refused.value.rule == "contact_id_required"


def _action(**kind: Any) -> common_pb2.EscalationAction:
    return common_pb2.EscalationAction(**kind)


@pytest.mark.parametrize(
    ("current", "raised", "expected"),
    [
        (Priority.NORMAL, common_pb2.PRIORITY_URGENT, Priority.URGENT),
        (Priority.HIGH, common_pb2.PRIORITY_LOW, Priority.HIGH),
        (Priority.HIGH, common_pb2.PRIORITY_HIGH, Priority.HIGH),
    ],
)
def test_sla_raise_priority_never_lowers(current: Priority, raised: int, expected: Priority) -> None:
    ticket = new_ticket(priority=current)
    outcome = commands.apply_escalation_action(
        ticket, _action(raise_priority=raised), SYSTEM_ACTOR, later(60)
    )
    assert outcome.ticket.priority is expected
    if expected is current:
        assert outcome.ticket is ticket
        assert outcome.events == ()
    else:
        (updated,) = outcome.events
        assert isinstance(updated, ticket_events_pb2.TicketUpdated)
        assert list(updated.changed_fields) == ["priority"]
        assert updated.updated_by.id == "sla"


@pytest.mark.parametrize(
    ("current", "to", "expected"),
    [
        (Tier.L1, common_pb2.TIER_L3, Tier.L3),
        (Tier.L2, common_pb2.TIER_L1, Tier.L2),
        (Tier.L2, common_pb2.TIER_L2, Tier.L2),
    ],
)
def test_sla_move_to_tier_never_lowers(current: Tier, to: int, expected: Tier) -> None:
    ticket = replace(new_ticket(), tier=current)
    outcome = commands.apply_escalation_action(
        ticket, _action(move_to_tier=to), SYSTEM_ACTOR, later(60), reason="sla breach"
    )
    assert outcome.ticket.tier is expected
    if expected is not current:
        (escalated,) = outcome.events
        assert isinstance(escalated, ticket_events_pb2.TicketEscalated)
        assert escalated.reason == "sla breach"
    else:
        assert outcome.events == ()


def test_sla_move_to_group_assigns() -> None:
    outcome = commands.apply_escalation_action(
        new_ticket(group_id="g-1"), _action(move_to_group="leads"), SYSTEM_ACTOR, later(60)
    )
    assert outcome.ticket.group_id == "leads"
    assert types(outcome.events) == ["TicketAssigned"]


def test_sla_notify_is_not_a_ticket_change() -> None:
    ticket = new_ticket()
    notify = common_pb2.EscalationAction(notify=common_pb2.EscalationAction.Notify(targets=["lead"]))
    assert commands.apply_escalation_action(ticket, notify, SYSTEM_ACTOR, later(60)).ticket is ticket


def test_sla_actions_on_a_closed_ticket_are_refused() -> None:
    with pytest.raises(TransitionRefused) as refused:
        commands.apply_escalation_action(
            ticket_in(Status.CLOSED),
            _action(raise_priority=common_pb2.PRIORITY_URGENT),
            SYSTEM_ACTOR,
            later(60),
        )
    assert refused.value.rule == "closed_is_immutable"


def test_every_event_carries_tenant_ticket_and_version() -> None:
    ticket = ticket_in(Status.OPEN, contact_ids=("k-1",))
    outcome = commands.transition(ticket, Status.SOLVED, AGENT, later(30), survey=SurveyAsk("s-1"))
    for event in outcome.events:
        fields = {f.name: v for f, v in event.ListFields()}
        assert fields["tenant_id"] == "acme"
        assert fields["ticket_id"] == "t-1"
        assert fields.get("version", outcome.ticket.version) == outcome.ticket.version


def test_a_ticket_links_at_most_its_maximum_of_contacts_and_a_comment_past_it_stays_unlinked() -> None:
    full = replace(new_ticket(), contact_ids=tuple(f"k-{n}" for n in range(MAX_LINKED_CONTACTS)))
    with pytest.raises(LimitReached) as refused:
        commands.link_contact(full, "k-new", AGENT, later(1))
    assert refused.value.rule == "contact_limit_reached"
    assert commands.link_contact(full, "k-0", AGENT, later(1)).ticket is full
    commented = commands.add_comment(full, "Thanks", AGENT, later(2), comment_id="c-1", contact_id="k-new")
    assert commented.ticket.contact_ids == full.contact_ids
    assert commented.ticket.comment_count == full.comment_count + 1
