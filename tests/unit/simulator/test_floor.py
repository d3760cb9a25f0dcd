"""The floor settles the races between a customer's patience and an agent's pick-up one way."""

from __future__ import annotations

import pytest

from simulator.floor import AgentActivity, Floor, Wait
from simulator.plan import PlannedContact
from simulator.truth import LedgerError


def waiting(floor: Floor, contact_id: str = "c1", channel: str = "voice", at: float = 0.0) -> None:
    contact = PlannedContact(contact_id, 0.0, channel, "q1", patience_s=10.0, handle_s=60.0, wrap_up_s=5.0)
    floor.ledger.arrived(contact_id, channel)
    floor.queue(contact)
    floor.ledger.queued(contact_id, "q1", channel, at)


def test_a_customer_out_of_patience_while_waiting_hangs_up() -> None:
    floor = Floor()
    waiting(floor)
    assert floor.out_of_patience("c1")
    floor.left("c1", 3.0)
    assert not floor.pick_up("c1")
    assert floor.ledger.contacts["c1"].abandoned_at == 3.0
    assert floor.waiting() == []


def test_a_customer_holds_on_while_an_agent_picks_up_and_is_answered() -> None:
    floor = Floor()
    waiting(floor)
    assert floor.pick_up("c1")
    assert not floor.out_of_patience("c1")
    floor.picked_up("c1", 2.5)
    assert floor.callers["c1"].state is Wait.ANSWERED
    assert floor.ledger.contacts["c1"].waited_s == 2.5


def test_a_failed_pick_up_after_patience_ran_out_makes_the_customer_leave() -> None:
    floor = Floor()
    waiting(floor)
    assert floor.pick_up("c1")
    assert not floor.out_of_patience("c1")
    assert floor.pick_up_failed("c1")


def test_a_failed_pick_up_within_patience_leaves_the_customer_waiting() -> None:
    floor = Floor()
    waiting(floor)
    assert floor.pick_up("c1")
    assert not floor.pick_up_failed("c1")
    assert floor.waiting() == ["c1"]
    assert floor.pick_up("c1")


def test_an_unknown_contact_cannot_be_picked_up_and_two_agents_cannot_take_one() -> None:
    floor = Floor()
    waiting(floor)
    assert not floor.pick_up("c9")
    assert floor.pick_up("c1")
    assert not floor.pick_up("c1")


def test_an_answered_customer_cannot_also_abandon() -> None:
    floor = Floor()
    waiting(floor)
    floor.pick_up("c1")
    floor.picked_up("c1", 1.0)
    with pytest.raises(LedgerError):
        floor.left("c1", 2.0)


def test_waiting_contacts_and_agents_are_counted_for_the_view() -> None:
    floor = Floor()
    waiting(floor, "c1", "voice")
    waiting(floor, "c2", "chat")
    waiting(floor, "c3", "chat")
    floor.pick_up("c3")
    floor.out_of_patience("c1")
    floor.left("c1", 1.0)
    assert floor.waiting_by_queue() == {("q1", "chat"): 2}
    floor.agents.update(a1=AgentActivity.BUSY, a2=AgentActivity.BUSY, a3=AgentActivity.AWAY)
    assert floor.agents_by_activity() == {AgentActivity.BUSY: 2, AgentActivity.AWAY: 1}
