"""The status table of DOMAIN.md (Tickets), one rule per test."""

from __future__ import annotations

import pytest

from services.tickets.domain import commands, lifecycle
from services.tickets.domain.errors import TransitionRefused
from services.tickets.domain.model import Status, Ticket
from tests.unit.tickets.support import AGENT, CUSTOMER, SYSTEM_ACTOR, later, ticket_in

UNSOLVED = {Status.OPEN, Status.PENDING, Status.ON_HOLD}


def test_the_table() -> None:
    assert lifecycle.allowed_transitions(Status.NEW) == UNSOLVED | {Status.SOLVED}
    assert lifecycle.allowed_transitions(Status.OPEN) == {Status.PENDING, Status.ON_HOLD, Status.SOLVED}
    assert lifecycle.allowed_transitions(Status.PENDING) == {Status.OPEN, Status.ON_HOLD, Status.SOLVED}
    assert lifecycle.allowed_transitions(Status.ON_HOLD) == {Status.OPEN, Status.PENDING, Status.SOLVED}
    assert lifecycle.allowed_transitions(Status.SOLVED) == UNSOLVED | {Status.CLOSED}
    assert lifecycle.allowed_transitions(Status.CLOSED) == frozenset()


@pytest.mark.parametrize("status", list(Status))
def test_allowed_transitions_and_check_transition_agree(status: Status) -> None:
    ticket = ticket_in(status)
    for to in Status:
        if to is status and status is not Status.CLOSED:
            lifecycle.check_transition(ticket, to)  # staying put is no move
        elif to in lifecycle.allowed_transitions(status):
            lifecycle.check_transition(ticket, to)
        else:
            with pytest.raises(TransitionRefused):
                lifecycle.check_transition(ticket, to)


@pytest.mark.parametrize("status", [s for s in Status if s not in (Status.NEW, Status.CLOSED)])
def test_new_never_returns(status: Status) -> None:
    with pytest.raises(TransitionRefused) as refused:
        commands.transition(ticket_in(status), Status.NEW, AGENT, later(30))
    assert refused.value.rule == "new_never_returns"
    assert refused.value.detail == {"from_status": status.value, "to_status": "new"}


@pytest.mark.parametrize("status", [Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD])
def test_closed_only_from_solved(status: Status) -> None:
    with pytest.raises(TransitionRefused) as refused:
        commands.transition(ticket_in(status), Status.CLOSED, AGENT, later(30))
    assert refused.value.rule == "closed_only_from_solved"


@pytest.mark.parametrize("to", list(Status))
def test_closed_is_immutable_for_transitions(to: Status) -> None:
    with pytest.raises(TransitionRefused) as refused:
        commands.transition(ticket_in(Status.CLOSED), to, AGENT, later(30))
    assert refused.value.rule == "closed_is_immutable"


@pytest.mark.parametrize("to", sorted(UNSOLVED | {Status.SOLVED}))
def test_new_moves_to_any_working_status(to: Status) -> None:
    assert commands.transition(ticket_in(Status.NEW), to, AGENT, later(30)).ticket.status is to


@pytest.mark.parametrize(
    ("start", "to"),
    [(a, b) for a in sorted(UNSOLVED) for b in sorted(UNSOLVED | {Status.SOLVED}) if a is not b],
)
def test_agents_move_between_open_pending_on_hold_and_solved(start: Status, to: Status) -> None:
    assert commands.transition(ticket_in(start), to, AGENT, later(30)).ticket.status is to


def test_solved_closes_explicitly() -> None:
    closed = commands.transition(ticket_in(Status.SOLVED), Status.CLOSED, AGENT, later(30)).ticket
    assert closed.status is Status.CLOSED
    assert closed.closed_at == later(30)
    assert closed.solved_at == later(10)


def test_solving_stamps_solved_at() -> None:
    solved = commands.transition(ticket_in(Status.OPEN), Status.SOLVED, AGENT, later(30)).ticket
    assert solved.solved_at == later(30)


@pytest.mark.parametrize("to", sorted(UNSOLVED))
def test_leaving_solved_is_a_reopen_and_clears_solved_at(to: Status) -> None:
    reopened = commands.transition(ticket_in(Status.SOLVED), to, AGENT, later(30)).ticket
    assert reopened.status is to
    assert reopened.reopen_count == 1
    assert reopened.solved_at is None


def test_customer_reply_on_pending_opens() -> None:
    after = _customer_reply(Status.PENDING)
    assert after.status is Status.OPEN
    assert after.reopen_count == 0


def test_customer_reply_on_solved_reopens_and_counts() -> None:
    after = _customer_reply(Status.SOLVED)
    assert after.status is Status.OPEN
    assert after.reopen_count == 1
    assert after.solved_at is None


def test_customer_reply_on_on_hold_stays_on_hold() -> None:
    assert _customer_reply(Status.ON_HOLD).status is Status.ON_HOLD


def test_customer_reply_on_new_stays_new() -> None:
    assert _customer_reply(Status.NEW).status is Status.NEW


def test_customer_reply_on_open_stays_open() -> None:
    assert _customer_reply(Status.OPEN).status is Status.OPEN


def test_customer_reply_on_closed_creates_a_follow_up_and_leaves_it_closed() -> None:
    closed = ticket_in(Status.CLOSED)
    outcome = commands.add_comment(
        closed, "It is on fire again", CUSTOMER, later(60), comment_id="c-9", follow_up_id="t-2"
    )
    assert outcome.ticket is closed
    assert outcome.follow_up is not None
    assert outcome.follow_up.follow_up_of == closed.ticket_id


def test_agent_first_public_reply_opens_a_new_ticket() -> None:
    after = commands.add_comment(ticket_in(Status.NEW), "On it", AGENT, later(5), comment_id="c-1").ticket
    assert after.status is Status.OPEN


@pytest.mark.parametrize("status", [Status.PENDING, Status.ON_HOLD, Status.SOLVED])
def test_agent_public_reply_keeps_other_statuses(status: Status) -> None:
    after = commands.add_comment(ticket_in(status), "Update", AGENT, later(30), comment_id="c-1").ticket
    assert after.status is status


@pytest.mark.parametrize("status", [Status.NEW, Status.PENDING, Status.SOLVED])
def test_internal_notes_never_change_status(status: Status) -> None:
    after = commands.add_comment(
        ticket_in(status), "Note", AGENT, later(30), comment_id="c-1", public=False
    ).ticket
    assert after.status is status


@pytest.mark.parametrize("status", [Status.NEW, Status.PENDING, Status.SOLVED])
def test_system_comments_never_change_status(status: Status) -> None:
    after = commands.add_comment(ticket_in(status), "Auto", SYSTEM_ACTOR, later(30), comment_id="c-1").ticket
    assert after.status is status


def test_agent_comment_on_closed_is_refused() -> None:
    with pytest.raises(TransitionRefused) as refused:
        commands.add_comment(ticket_in(Status.CLOSED), "Late", AGENT, later(60), comment_id="c-1")
    assert refused.value.rule == "closed_is_immutable"


def _customer_reply(status: Status) -> Ticket:
    return commands.add_comment(ticket_in(status), "Any news?", CUSTOMER, later(30), comment_id="c-1").ticket
