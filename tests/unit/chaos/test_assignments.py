"""The routing invariants read from the router's events (tests/chaos/assignments.py)."""

from __future__ import annotations

from google.protobuf.message import Message

from helpline.v1 import agent_events_pb2, common_pb2, contact_events_pb2
from tests.chaos.assignments import AssignmentAudit

CAPACITY = {"ann": {"voice": 1}, "bob": {"voice": 1}, "cyd": {"chat": 2}}


def offered(offer: str, agent: str, contact: str = "c1") -> contact_events_pb2.ContactOffered:
    return contact_events_pb2.ContactOffered(contact_id=contact, offer_id=offer, agent_id=agent)


def accepted(offer: str, agent: str, contact: str = "c1") -> contact_events_pb2.ContactAccepted:
    return contact_events_pb2.ContactAccepted(contact_id=contact, offer_id=offer, agent_id=agent)


def loads(agent: str, **active: int) -> agent_events_pb2.AgentStateChanged:
    return agent_events_pb2.AgentStateChanged(
        agent_id=agent,
        state=common_pb2.AGENT_STATE_BUSY,
        loads=[
            common_pb2.ChannelLoad(channel=common_pb2.Channel.Value(f"CHANNEL_{name.upper()}"), active=n)
            for name, n in active.items()
        ],
    )


def audit(*events: Message) -> list[str]:
    checked = AssignmentAudit(CAPACITY)
    checked.feed((str(n), event) for n, event in enumerate(events))
    return checked.violations


def test_a_contact_offered_accepted_transferred_and_taken_again_breaks_nothing() -> None:
    assert (
        audit(
            offered("o1", "ann"),
            contact_events_pb2.ContactRejected(contact_id="c1", offer_id="o1", agent_id="ann"),
            offered("o2", "bob"),
            accepted("o2", "bob"),
            contact_events_pb2.ContactTransferred(contact_id="c1", from_agent_id="bob", to_queue_id="q2"),
            offered("o3", "ann"),
            contact_events_pb2.ContactOfferTimedOut(contact_id="c1", offer_id="o3", agent_id="ann"),
            offered("o4", "ann"),
            accepted("o4", "ann"),
            contact_events_pb2.ContactCompleted(contact_id="c1", agent_id="ann"),
            loads("ann", voice=1),
            loads("cyd", chat=2),
        )
        == []
    )


def test_a_second_offer_while_one_is_pending_is_a_violation() -> None:
    assert audit(offered("o1", "ann"), offered("o2", "bob")) == [
        "c1 offered to bob (o2) while offer o1 to ann was pending"
    ]


def test_an_offer_withdrawn_as_the_customer_leaves_is_no_longer_pending() -> None:
    left = contact_events_pb2.ContactAbandoned(contact_id="c1")
    assert audit(offered("o1", "ann"), left, offered("o2", "bob")) == []


def test_a_contact_accepted_by_a_second_agent_while_with_the_first_is_a_violation() -> None:
    assert audit(offered("o1", "ann"), accepted("o1", "ann"), accepted("o2", "bob")) == [
        "c1 accepted by bob while with ann"
    ]


def test_a_load_over_capacity_or_below_zero_is_a_violation() -> None:
    assert audit(loads("ann", voice=2), loads("cyd", chat=-1), loads("bob", chat=1)) == [
        "ann has 2 voice contacts; capacity 1 (state AGENT_STATE_BUSY)",
        "cyd has -1 chat contacts; capacity 2 (state AGENT_STATE_BUSY)",
        "bob has 1 chat contacts; capacity 0 (state AGENT_STATE_BUSY)",
    ]


def test_an_event_delivered_twice_counts_once() -> None:
    checked = AssignmentAudit(CAPACITY)
    checked.feed([("e1", offered("o1", "ann")), ("e1", offered("o1", "ann"))])
    assert (checked.violations, checked.offers) == ([], 1)
