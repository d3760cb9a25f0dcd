"""The metric engine, against the metrics table of DOMAIN.md (SLA), with every deadline written
out by hand. T0 is Monday 2026-03-02 09:00 UTC; the business calendar is 09:00-17:00 Mon-Fri."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from services.sla.domain import engine
from services.sla.domain.engine import Commented, Created, MetricState, Reopened, StatusChanged, Updated
from services.sla.domain.instance import State
from services.sla.domain.model import (
    Author,
    Basis,
    Metric,
    MoveToTier,
    Notify,
    Priority,
    RaisePriority,
    SlaError,
    Status,
    Tier,
    Trigger,
)
from services.sla.domain.outputs import (
    Applied,
    Breached,
    Fulfilled,
    Output,
    Paused,
    Resumed,
    Retargeted,
    Warned,
)
from services.sla.domain.policy import Conditions
from tests.unit.sla.engine_support import FACTS, T0, Ticket, at, due, escalation, h, on, policy, target

FR, NR, PU, PA, RW, AW = (
    Metric.FIRST_REPLY,
    Metric.NEXT_REPLY,
    Metric.PERIODIC_UPDATE,
    Metric.PAUSABLE_UPDATE,
    Metric.REQUESTER_WAIT,
    Metric.AGENT_WORK,
)
BUSINESS = Basis.BUSINESS
WARN, BREACH = Trigger.WARNING, Trigger.BREACH
NOTIFY = Notify(("group:leads",), "sla-warning")
RAISE = RaisePriority(Priority.URGENT)
TO_L2 = MoveToTier(Tier.L2)

# Every metric, in calendar time.
PLAIN = policy(
    target(FR, h(2)),
    target(NR, h(4)),
    target(PU, h(12)),
    target(PA, h(24)),
    target(RW, h(48)),
    target(AW, h(24)),
    escalations=(escalation(FR, WARN, NOTIFY), escalation(FR, BREACH, RAISE, TO_L2)),
)
# The time-based metrics in business hours.
OFFICE = policy(
    target(FR, h(2), BUSINESS),
    target(PA, h(8), BUSINESS),
    target(RW, h(16), BUSINESS),
    target(AW, h(8), BUSINESS),
)


def kinds(outputs: tuple[Output, ...]) -> list[tuple[str, str]]:
    return [(type(o).__name__, o.instance.metric.value) for o in outputs]


# -- the metrics table ---------------------------------------------------------------------------


def test_creation_starts_first_reply_requester_wait_and_agent_work() -> None:
    ticket = Ticket(PLAIN)
    outputs = ticket.create()
    assert outputs == (
        Applied(ticket.instance(FR), "std", target(FR, h(2)), T0, at(1.5), at(2)),
        Applied(ticket.instance(RW), "std", target(RW, h(48)), T0, at(36), at(48)),
        Applied(ticket.instance(AW), "std", target(AW, h(24)), T0, at(18), at(24)),
    )
    assert [i.instance_id for i in ticket.sla.instances] == [
        "t-1:first_reply:1",
        "t-1:requester_wait:1",
        "t-1:agent_work:1",
    ]
    assert ticket.sla.policy_id == "std"
    assert ticket.sla.created_at == T0
    assert ticket.timers() == due(
        ticket, (FR, 1, at(1.5), at(2)), (RW, 1, at(36), at(48)), (AW, 1, at(18), at(24))
    )


def test_business_deadlines_skip_closed_hours() -> None:
    ticket = Ticket(OFFICE)
    ticket.create()
    # 2h and 8h of business time from Monday 09:00; 16h runs to Tuesday's close.
    assert ticket.timers() == due(
        ticket,
        (FR, 1, on(2, "10:30"), on(2, "11:00")),
        (RW, 1, on(3, "13:00"), on(3, "17:00")),
        (AW, 1, on(2, "15:00"), on(2, "17:00")),
    )


def test_business_deadlines_cross_the_weekend() -> None:
    ticket = Ticket(OFFICE)
    ticket.create(on(6, "15:00"))  # Friday
    assert ticket.instance(AW).deadline == on(9, "15:00")  # 2h on Friday, 6h on Monday
    assert ticket.instance(AW).warn_at == on(9, "13:00")
    assert ticket.instance(FR).deadline == on(6, "17:00")


def test_first_reply_is_fulfilled_by_the_first_public_agent_reply_only() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    assert ticket.comment(Author.AGENT, at(0.25), public=False) == ()
    assert ticket.comment(Author.SYSTEM, at(0.5)) == ()
    assert ticket.comment(Author.CUSTOMER, at(0.6)) == ()
    assert ticket.instance(FR).state is State.ACTIVE
    outputs = ticket.agent(at(1))
    assert outputs[0] == Fulfilled(ticket.instance(FR), at(2), at(1), h(1), breached=False)
    assert ticket.instance(FR).fulfilled_at == at(1)
    # A second agent reply does not touch it again.
    assert "first_reply" not in [metric for _, metric in kinds(ticket.agent(at(1.5)))]


def test_a_public_agent_reply_starts_periodic_and_pausable_updates() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    outputs = ticket.agent(at(1))
    assert kinds(outputs) == [
        ("Fulfilled", "first_reply"),
        ("Applied", "periodic_update"),
        ("Applied", "pausable_update"),
    ]
    assert outputs[1] == Applied(ticket.instance(PU), "std", target(PU, h(12)), at(1), at(10), at(13))
    assert outputs[2] == Applied(ticket.instance(PA), "std", target(PA, h(24)), at(1), at(19), at(25))


def test_periodic_update_is_fulfilled_by_the_next_agent_reply_which_starts_the_next() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    ticket.agent(at(1))
    outputs = ticket.agent(at(5))
    assert kinds(outputs) == [
        ("Fulfilled", "periodic_update"),
        ("Fulfilled", "pausable_update"),
        ("Applied", "periodic_update"),
        ("Applied", "pausable_update"),
    ]
    assert outputs[0] == Fulfilled(ticket.instance(PU, 1), at(13), at(5), h(4), breached=False)
    assert ticket.instance(PU, 2).started_at == at(5)
    assert ticket.instance(PU, 2).deadline == at(17)
    assert ticket.instance(PA, 2).deadline == at(29)


def test_periodic_update_never_pauses_but_pausable_update_pauses_while_pending() -> None:
    ticket = Ticket(replace(OFFICE, targets=(*OFFICE.targets, target(PU, h(12)))))
    ticket.create()
    ticket.agent(on(2, "10:00"))
    # Pausable: 8 business hours from Monday 10:00 end Tuesday 10:00; warning at 6h, Monday 16:00.
    assert ticket.instance(PA).deadline == on(3, "10:00")
    assert ticket.instance(PA).warn_at == on(2, "16:00")
    outputs = ticket.move(Status.PENDING, on(2, "12:00"))
    assert Paused(ticket.instance(PA), Status.PENDING, h(6), on(2, "12:00")) in outputs
    assert "periodic_update" not in [metric for _, metric in kinds(outputs)]
    assert ticket.instance(PU).state is State.ACTIVE
    assert ticket.instance(PA).state is State.PAUSED
    assert ticket.instance(PA).deadline is None
    outputs = ticket.move(Status.OPEN, on(4, "09:00"))  # Wednesday
    # 6h left from Wednesday 09:00; the warning share has 4h left of it.
    assert (
        Resumed(ticket.instance(PA), Status.OPEN, on(4, "13:00"), on(4, "15:00"), on(4, "09:00")) in outputs
    )
    # on_hold does not pause it.
    ticket.move(Status.ON_HOLD, on(4, "10:00"))
    assert ticket.instance(PA).state is State.ACTIVE


def test_next_reply_starts_at_the_oldest_unanswered_customer_comment() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    # Before the first agent reply, first_reply covers the customer.
    ticket.customer(at(0.5))
    assert [i.metric for i in ticket.sla.instances].count(NR) == 0
    ticket.agent(at(1))
    outputs = ticket.customer(at(2))
    assert outputs == (Applied(ticket.instance(NR), "std", target(NR, h(4)), at(2), at(5), at(6)),)
    # A second comment while the first is unanswered changes nothing.
    assert ticket.customer(at(3)) == ()
    assert ticket.instance(NR).started_at == at(2)
    outputs = ticket.agent(at(4))
    assert Fulfilled(ticket.instance(NR), at(6), at(4), h(2), breached=False) in outputs
    # The next customer comment starts the next instance.
    ticket.customer(at(5))
    assert ticket.instance(NR, 2).deadline == at(9)


def test_next_reply_never_pauses() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    ticket.agent(at(1))
    ticket.customer(at(2))
    for status in (Status.PENDING, Status.ON_HOLD, Status.OPEN):
        ticket.move(status, at(3))
        assert ticket.instance(NR).state is State.ACTIVE
        assert ticket.instance(NR).deadline == at(6)


def test_requester_wait_pauses_while_pending_only_and_agent_work_also_on_hold() -> None:
    ticket = Ticket(OFFICE)
    ticket.create()
    outputs = ticket.move(Status.ON_HOLD, on(2, "11:00"))
    assert outputs == (Paused(ticket.instance(AW), Status.ON_HOLD, h(6), on(2, "11:00")),)
    assert ticket.instance(RW).state is State.ACTIVE
    outputs = ticket.move(Status.PENDING, on(2, "12:00"))
    # Requester wait pauses now (3h used of 16h); agent work stays paused.
    assert outputs == (Paused(ticket.instance(RW), Status.PENDING, h(13), on(2, "12:00")),)
    outputs = ticket.move(Status.OPEN, on(2, "20:00"))
    # Resumed out of hours: both count from Tuesday 09:00.
    assert outputs == (
        # 13h left: Tuesday's 8 and 5 on Wednesday; the warning share (12h) has 9h left.
        Resumed(ticket.instance(RW), Status.OPEN, on(4, "10:00"), on(4, "14:00"), on(2, "20:00")),
        # 6h left, the warning share 4h.
        Resumed(ticket.instance(AW), Status.OPEN, on(3, "13:00"), on(3, "15:00"), on(2, "20:00")),
    )


def test_solving_fulfils_every_running_or_paused_instance() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    ticket.agent(at(1))
    ticket.move(Status.PENDING, at(2))
    outputs = ticket.move(Status.SOLVED, at(3))
    assert kinds(outputs) == [
        ("Fulfilled", "requester_wait"),
        ("Fulfilled", "agent_work"),
        ("Fulfilled", "periodic_update"),
        ("Fulfilled", "pausable_update"),
    ]
    # Paused ones report the time they ran and no deadline.
    assert outputs[0] == Fulfilled(ticket.instance(RW), None, at(3), h(2), breached=False)
    assert outputs[2] == Fulfilled(ticket.instance(PU), at(13), at(3), h(2), breached=False)
    assert all(i.state is State.FULFILLED for i in ticket.sla.instances)
    assert ticket.timers() == set()
    # Closing finds nothing more owed.
    assert ticket.move(Status.CLOSED, at(30)) == ()
    assert ticket.sla.status is Status.CLOSED


def test_nothing_starts_on_a_closed_ticket_and_agent_replies_to_a_solved_one_start_no_updates() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    ticket.move(Status.SOLVED, at(1))
    assert ticket.agent(at(2)) == ()
    ticket.move(Status.CLOSED, at(3))
    assert ticket.comment(Author.CUSTOMER, at(4)) == ()
    assert ticket.comment(Author.AGENT, at(5)) == ()
    assert [i.metric for i in ticket.sla.instances] == [FR, RW, AW]


def test_a_ticket_created_pending_starts_its_pausable_metrics_paused() -> None:
    ticket = Ticket(PLAIN)
    outputs = ticket.create(status=Status.PENDING)
    assert outputs == (
        Applied(ticket.instance(FR), "std", target(FR, h(2)), T0, at(1.5), at(2)),
        Applied(ticket.instance(RW), "std", target(RW, h(48)), T0, None, None),
        Paused(ticket.instance(RW), Status.PENDING, h(48), T0),
        Applied(ticket.instance(AW), "std", target(AW, h(24)), T0, None, None),
        Paused(ticket.instance(AW), Status.PENDING, h(24), T0),
    )
    ticket.move(Status.OPEN, at(5))
    assert ticket.instance(RW).deadline == at(53)
    assert ticket.instance(RW).started_at == T0


def test_an_agent_reply_while_pending_starts_pausable_update_paused() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    ticket.agent(at(1))
    ticket.move(Status.PENDING, at(2))
    outputs = ticket.agent(at(3))
    assert Applied(ticket.instance(PA, 2), "std", target(PA, h(24)), at(3), None, None) in outputs
    assert outputs[-1] == Paused(ticket.instance(PA, 2), Status.PENDING, h(24), at(3))
    assert ticket.instance(PU, 2).deadline == at(15)


# -- a whole ticket ------------------------------------------------------------------------------


def test_scripted_ticket_history() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    assert ticket.timers() == due(
        ticket, (FR, 1, at(1.5), at(2)), (RW, 1, at(36), at(48)), (AW, 1, at(18), at(24))
    )

    ticket.agent(at(1))  # first reply, new -> open
    assert ticket.sla.status is Status.OPEN
    assert ticket.timers() == due(
        ticket,
        (RW, 1, at(36), at(48)),
        (AW, 1, at(18), at(24)),
        (PU, 1, at(10), at(13)),
        (PA, 1, at(19), at(25)),
    )

    outputs = ticket.move(Status.PENDING, at(2))
    assert outputs == (
        Paused(ticket.instance(RW), Status.PENDING, h(46), at(2)),
        Paused(ticket.instance(AW), Status.PENDING, h(22), at(2)),
        Paused(ticket.instance(PA), Status.PENDING, h(23), at(2)),
    )
    assert ticket.timers() == due(ticket, (PU, 1, at(10), at(13)))

    outputs = ticket.customer(at(5))  # pending -> open, same version
    assert outputs == (
        Applied(ticket.instance(NR), "std", target(NR, h(4)), at(5), at(8), at(9)),
        Resumed(ticket.instance(RW), Status.OPEN, at(39), at(51), at(5)),
        Resumed(ticket.instance(AW), Status.OPEN, at(21), at(27), at(5)),
        Resumed(ticket.instance(PA), Status.OPEN, at(22), at(28), at(5)),
    )
    assert ticket.timers() == due(
        ticket,
        (NR, 1, at(8), at(9)),
        (RW, 1, at(39), at(51)),
        (AW, 1, at(21), at(27)),
        (PU, 1, at(10), at(13)),
        (PA, 1, at(22), at(28)),
    )

    assert ticket.fire(NR, WARN, at(8)) == (Warned(ticket.instance(NR), at(9), at(8), ()),)
    assert (ticket.id(NR), WARN, at(8)) not in ticket.timers()

    outputs = ticket.agent(at(8.5))
    assert outputs == (
        Fulfilled(ticket.instance(PU), at(13), at(8.5), h(7.5), breached=False),
        Fulfilled(ticket.instance(PA), at(28), at(8.5), h(4.5), breached=False),
        Fulfilled(ticket.instance(NR), at(9), at(8.5), h(3.5), breached=False),
        Applied(ticket.instance(PU, 2), "std", target(PU, h(12)), at(8.5), at(17.5), at(20.5)),
        Applied(ticket.instance(PA, 2), "std", target(PA, h(24)), at(8.5), at(26.5), at(32.5)),
    )

    outputs = ticket.move(Status.ON_HOLD, at(10))
    assert outputs == (Paused(ticket.instance(AW), Status.ON_HOLD, h(17), at(10)),)
    assert ticket.timers() == due(
        ticket, (RW, 1, at(39), at(51)), (PU, 2, at(17.5), at(20.5)), (PA, 2, at(26.5), at(32.5))
    )

    outputs = ticket.move(Status.SOLVED, at(12))
    assert outputs == (
        Fulfilled(ticket.instance(RW), at(51), at(12), h(9), breached=False),
        Fulfilled(ticket.instance(AW), None, at(12), h(7), breached=False),
        Fulfilled(ticket.instance(PU, 2), at(20.5), at(12), h(3.5), breached=False),
        Fulfilled(ticket.instance(PA, 2), at(32.5), at(12), h(3.5), breached=False),
    )
    assert ticket.timers() == set()

    outputs = ticket.customer(at(30))  # solved -> open: a reopen, with the elapsed time kept
    assert outputs == (
        Applied(ticket.instance(NR, 2), "std", target(NR, h(4)), at(30), at(33), at(34)),
        Resumed(ticket.instance(RW), Status.OPEN, at(57), at(69), at(30)),
        Resumed(ticket.instance(AW), Status.OPEN, at(41), at(47), at(30)),
    )
    assert ticket.timers() == due(
        ticket, (NR, 2, at(33), at(34)), (RW, 1, at(57), at(69)), (AW, 1, at(41), at(47))
    )

    outputs = ticket.move(Status.SOLVED, at(31))
    assert outputs == (
        Fulfilled(ticket.instance(RW), at(69), at(31), h(10), breached=False),
        Fulfilled(ticket.instance(AW), at(47), at(31), h(8), breached=False),
        Fulfilled(ticket.instance(NR, 2), at(34), at(31), h(1), breached=False),
    )
    assert ticket.timers() == set()
    assert ticket.move(Status.CLOSED, at(40)) == ()


# -- reopening -----------------------------------------------------------------------------------


def test_reopening_into_pending_reports_the_reopened_metrics_paused() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    ticket.move(Status.SOLVED, at(4))
    outputs = ticket.move(Status.PENDING, at(10))
    assert outputs == (
        Paused(ticket.instance(RW), Status.PENDING, h(44), at(10)),
        Paused(ticket.instance(AW), Status.PENDING, h(20), at(10)),
    )
    assert ticket.instance(RW).state is State.PAUSED
    assert ticket.instance(RW).fulfilled_at is None
    # first_reply stays fulfilled: it is owed once.
    assert ticket.instance(FR).state is State.FULFILLED


def test_a_reopened_metric_that_breached_does_not_breach_again() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    assert kinds(ticket.fire(AW, BREACH, at(24))) == [("Breached", "agent_work")]
    outputs = ticket.move(Status.SOLVED, at(25))
    assert Fulfilled(ticket.instance(AW), at(24), at(25), h(25), breached=True) in outputs
    ticket.move(Status.OPEN, at(26))
    assert ticket.instance(AW).state is State.ACTIVE
    assert ticket.instance(AW).deadline == at(24)  # the past instant it ran out
    assert (ticket.id(AW), BREACH, at(24)) not in ticket.timers()
    assert ticket.fire(AW, BREACH, at(27)) == ()
    outputs = ticket.move(Status.SOLVED, at(27))
    assert Fulfilled(ticket.instance(AW), at(24), at(27), h(26), breached=True) in outputs


def test_reopened_alone_reopens_to_open_and_after_the_status_change_does_nothing() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    ticket.move(Status.SOLVED, at(4))
    outputs = ticket.apply(Reopened(ticket._next(False), at(10)))
    assert kinds(outputs) == [("Resumed", "requester_wait"), ("Resumed", "agent_work")]
    assert ticket.sla.status is Status.OPEN
    # The status change of the same move, right after, finds the work done.
    assert ticket.apply(StatusChanged(ticket.version, Status.OPEN, at(10))) == ()
    # And a Reopened on an unsolved ticket changes nothing.
    assert ticket.apply(Reopened(ticket._next(False), at(11))) == ()


# -- fulfilled late ------------------------------------------------------------------------------


def test_fulfilled_at_or_after_the_deadline_is_breached_even_before_the_timer() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    outputs = ticket.agent(at(2))  # exactly at the deadline
    assert outputs[0] == Fulfilled(ticket.instance(FR), at(2), at(2), h(2), breached=True)
    assert ticket.instance(FR).breached_at == at(2)
    # The late breach timer finds it fulfilled: no Breached, no escalation.
    assert ticket.fire(FR, BREACH, at(2.1)) == ()


def test_fulfilled_after_a_fired_breach_is_breached() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    ticket.fire(FR, BREACH, at(3))
    outputs = ticket.agent(at(4))
    assert outputs[0] == Fulfilled(ticket.instance(FR), at(2), at(4), h(4), breached=True)


# -- retargeting ---------------------------------------------------------------------------------

TIERED = policy(
    target(FR, h(2)),
    target(FR, timedelta(minutes=30), priority=Priority.URGENT),
    target(AW, h(8), BUSINESS),
    target(AW, h(4), BUSINESS, priority=Priority.URGENT),
    target(RW, h(48)),
)


def test_a_priority_change_retargets_from_the_original_start() -> None:
    ticket = Ticket(TIERED)
    ticket.create()
    outputs = ticket.update(at(minutes=20), priority=Priority.URGENT)
    assert outputs == (
        Retargeted(
            ticket.instance(FR),
            "std",
            "std",
            target(FR, timedelta(minutes=30), priority=Priority.URGENT),
            at(2),
            at(minutes=22.5),
            at(minutes=30),
            ("priority",),
            at(minutes=20),
        ),
        # No urgent requester_wait target: it keeps running, without a deadline.
        Retargeted(ticket.instance(RW), None, "std", None, at(48), None, None, ("priority",), at(minutes=20)),
        Retargeted(
            ticket.instance(AW),
            "std",
            "std",
            target(AW, h(4), BUSINESS, priority=Priority.URGENT),
            on(2, "17:00"),
            on(2, "12:00"),
            on(2, "13:00"),
            ("priority",),
            at(minutes=20),
        ),
    )
    assert ticket.sla.facts.priority is Priority.URGENT
    assert ticket.instance(RW).state is State.ACTIVE
    assert ticket.timers() == due(
        ticket, (FR, 1, at(minutes=22.5), at(minutes=30)), (AW, 1, on(2, "12:00"), on(2, "13:00"))
    )


def test_an_update_that_keeps_the_targets_reports_nothing() -> None:
    ticket = Ticket(TIERED)
    ticket.create()
    assert ticket.update(at(1), tags=frozenset({"gold"})) == ()
    assert ticket.sla.facts.tags == {"gold"}
    assert ticket.sla.version == 2


def test_retargeting_a_paused_instance_past_its_new_target_makes_the_breach_due_now() -> None:
    ticket = Ticket(TIERED)
    ticket.create()
    ticket.move(Status.PENDING, on(2, "16:00"))  # 7 business hours used
    outputs = ticket.update(on(2, "16:30"), priority=Priority.URGENT)
    # 4 urgent hours ran out at 13:00 already: paused, yet due.
    assert ticket.instance(AW).deadline == on(2, "13:00")
    assert ticket.instance(AW).warn_at == on(2, "12:00")
    assert (ticket.id(AW), BREACH, on(2, "13:00")) in ticket.timers()
    assert kinds(outputs)[-1] == ("Retargeted", "agent_work")
    assert ticket.fire(AW, BREACH, on(2, "16:31")) == (
        Breached(ticket.instance(AW), on(2, "13:00"), on(2, "16:31"), ()),
    )
    # The breach counts as the warning too.
    assert ticket.fire(AW, WARN, on(2, "16:32")) == ()
    assert ticket.timers() == due(ticket, (FR, 1, at(minutes=22.5), at(minutes=30)))


def test_a_longer_target_after_a_breach_does_not_breach_again() -> None:
    ticket = Ticket(TIERED, facts=replace(FACTS, priority=Priority.URGENT))
    ticket.create()
    ticket.fire(FR, BREACH, at(1))
    outputs = ticket.update(at(1), priority=Priority.NORMAL)
    assert outputs[0] == Retargeted(
        ticket.instance(FR), "std", "std", target(FR, h(2)), at(0.5), at(1.5), at(2), ("priority",), at(1)
    )
    assert ticket.instance(FR).breached
    assert all(entry[0] != ticket.id(FR) for entry in ticket.timers())
    assert ticket.fire(FR, BREACH, at(2)) == ()


def test_a_policy_that_applies_later_counts_from_the_original_start_and_pauses() -> None:
    vip = policy(
        target(FR, h(2), priority=Priority.URGENT),
        target(AW, h(4), priority=Priority.URGENT),
        policy_id="vip",
        conditions=Conditions(priorities=frozenset({Priority.URGENT})),
    )
    ticket = Ticket(vip)
    assert ticket.create() == ()
    assert ticket.sla.policy_id is None
    assert ticket.timers() == set()
    assert ticket.move(Status.PENDING, at(1)) == ()
    ticket.move(Status.OPEN, at(3))
    outputs = ticket.update(at(4), priority=Priority.URGENT)
    assert outputs == (
        # first_reply ran out at T0+2h: Applied now, its breach due at once.
        Applied(ticket.instance(FR), "vip", target(FR, h(2), priority=Priority.URGENT), T0, at(1.5), at(2)),
        # agent_work ran 09:00-10:00, paused, runs again since 12:00: 3 of 4 hours left at 12:00.
        Applied(ticket.instance(AW), "vip", target(AW, h(4), priority=Priority.URGENT), T0, at(5), at(6)),
    )
    assert ticket.sla.policy_id == "vip"
    assert ticket.timers() == due(ticket, (FR, 1, at(1.5), at(2)), (AW, 1, at(5), at(6)))
    assert kinds(ticket.fire(FR, BREACH, at(4))) == [("Breached", "first_reply")]


def test_a_target_gained_while_paused_is_reported_paused() -> None:
    vip = policy(target(AW, h(4), priority=Priority.URGENT), policy_id="vip")
    ticket = Ticket(vip)
    ticket.create()
    ticket.move(Status.PENDING, at(1))
    outputs = ticket.update(at(2), priority=Priority.URGENT)
    assert outputs == (
        Applied(ticket.instance(AW), "vip", target(AW, h(4), priority=Priority.URGENT), T0, None, None),
        Paused(ticket.instance(AW), Status.PENDING, h(3), at(2)),
    )


def test_fulfilled_instances_keep_their_targets_on_update() -> None:
    ticket = Ticket(TIERED)
    ticket.create()
    ticket.agent(at(1))
    ticket.update(at(2), priority=Priority.URGENT)
    assert ticket.instance(FR).target == target(FR, h(2))
    assert ticket.instance(FR).deadline == at(2)


def test_new_instances_take_the_selected_policy() -> None:
    urgent_only = policy(
        target(NR, h(1), priority=Priority.URGENT),
        policy_id="urgent",
        position=1,
        conditions=Conditions(priorities=frozenset({Priority.URGENT})),
    )
    ticket = Ticket(urgent_only, policy(target(NR, h(4))))
    ticket.create()
    ticket.agent(at(1))
    ticket.update(at(2), priority=Priority.URGENT)
    assert ticket.sla.policy_id == "urgent"
    ticket.customer(at(3))
    assert ticket.instance(NR).deadline == at(4)


# -- timers --------------------------------------------------------------------------------------


def test_fire_refuses_early_timers_and_fires_once() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    before = ticket.sla
    assert ticket.fire(FR, WARN, at(1.49)) == ()
    assert ticket.sla is before
    outputs = ticket.fire(FR, WARN, at(1.5))
    assert outputs == (Warned(ticket.instance(FR), at(2), at(1.5), (NOTIFY,)),)
    assert ticket.instance(FR).warned
    assert ticket.fire(FR, WARN, at(1.6)) == ()
    assert ticket.fire(FR, BREACH, at(1.99)) == ()
    outputs = ticket.fire(FR, BREACH, at(2.5))  # late: reports when it fired
    assert outputs == (Breached(ticket.instance(FR), at(2), at(2.5), (RAISE, TO_L2)),)
    assert ticket.instance(FR).breached_at == at(2)
    assert ticket.fire(FR, BREACH, at(3)) == ()
    assert ticket.timers() == due(ticket, (RW, 1, at(36), at(48)), (AW, 1, at(18), at(24)))


def test_the_breach_counts_as_the_warning() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    assert kinds(ticket.fire(FR, BREACH, at(2))) == [("Breached", "first_reply")]
    assert ticket.fire(FR, WARN, at(2)) == ()


def test_stale_timers_are_harmless() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    ticket.agent(at(1))
    before = ticket.sla
    assert ticket.fire(FR, BREACH, at(3)) == ()  # fulfilled
    assert ticket.fire(NR, BREACH, at(3)) == ()  # no such instance
    ticket.move(Status.PENDING, at(2))
    assert ticket.fire(RW, BREACH, at(100)) == ()  # paused short of its deadline
    assert before.instance(ticket.id(FR)) == ticket.instance(FR)


def test_instances_without_target_never_fire() -> None:
    ticket = Ticket(policy(target(FR, h(1))))
    ticket.create()
    assert ticket.instance(AW).target is None
    assert ticket.fire(AW, BREACH, at(1000)) == ()
    assert ticket.timers() == due(ticket, (FR, 1, at(0.75), at(1)))


def test_actions_come_from_the_instances_policy_as_configured_now() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    ticket.policies = (replace(PLAIN, escalations=()),)
    assert ticket.fire(FR, WARN, at(2)) == (Warned(ticket.instance(FR), at(2), at(2), ()),)
    ticket.policies = ()
    assert ticket.fire(FR, BREACH, at(2)) == (Breached(ticket.instance(FR), at(2), at(2), ()),)


def test_a_warning_crossed_before_a_pause_still_fires() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    ticket.move(Status.PENDING, at(20))  # agent_work's warning was due at 18h
    assert ticket.instance(AW).warn_at == at(18)
    assert ticket.instance(AW).deadline is None
    assert ticket.timers() == due(ticket, (FR, 1, at(1.5), at(2))) | {(ticket.id(AW), WARN, at(18))}
    assert kinds(ticket.fire(AW, WARN, at(21))) == [("Warned", "agent_work")]


# -- redelivery and order ------------------------------------------------------------------------


def test_redelivered_facts_are_ignored() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    ticket.agent(at(1))
    state = ticket.sla
    for fact in ticket.history:
        transition = engine.apply(state, fact, ticket.policies, ticket.calendars)
        assert transition.sla is state
        assert transition.outputs == ()


def test_older_versions_are_ignored_and_several_facts_share_a_version() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    ticket.agent(at(1))
    state = ticket.sla
    stale = Commented(1, True, Author.AGENT, at(5))
    assert engine.apply(state, stale, ticket.policies, ticket.calendars).sla is state
    # A later version of any kind applies; then a different kind at the same version still does.
    commented = engine.apply(
        state, Commented(3, True, Author.CUSTOMER, at(2)), ticket.policies, ticket.calendars
    )
    assert commented.sla is not None
    assert commented.sla.version == 3
    moved = engine.apply(
        commented.sla, StatusChanged(3, Status.PENDING, at(2)), ticket.policies, ticket.calendars
    )
    assert moved.outputs != ()
    assert moved.sla is not None
    assert moved.sla.applied == {"commented", "status_changed"}
    again = engine.apply(moved.sla, StatusChanged(3, Status.OPEN, at(2)), ticket.policies, ticket.calendars)
    assert again.sla is moved.sla


def test_a_second_creation_is_ignored() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    state = ticket.sla
    transition = engine.apply(
        state, Created("t-1", 9, FACTS, Status.NEW, at(9)), ticket.policies, ticket.calendars
    )
    assert transition.sla is state


def test_facts_before_the_creation_are_ignored() -> None:
    for fact in (
        Updated(2, FACTS, ("priority",), at(1)),
        StatusChanged(2, Status.OPEN, at(1)),
        Commented(2, True, Author.AGENT, at(1)),
        Reopened(2, at(1)),
    ):
        assert engine.apply(None, fact, [PLAIN], {}) == engine.Transition(None)


def test_replaying_the_history_gives_the_same_state_and_ids() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    ticket.agent(at(1))
    ticket.customer(at(2))
    ticket.agent(at(3))
    replayed = Ticket(PLAIN)
    for fact in ticket.history:
        replayed.apply(fact)
    assert replayed.sla == ticket.sla


def test_a_business_target_needs_its_calendar() -> None:
    ticket = Ticket(OFFICE, calendars={})
    with pytest.raises(SlaError) as refused:
        ticket.create()
    assert refused.value.rule == "unknown_calendar"
    assert refused.value.detail == {"policy_id": "std", "calendar_id": "office"}


def test_a_fact_stamped_before_the_run_began_ends_it_empty() -> None:
    ticket = Ticket(PLAIN)
    ticket.create(at(1))
    outputs = ticket.move(Status.PENDING, at(0.5))
    assert Paused(ticket.instance(AW), Status.PENDING, h(24), at(0.5)) in outputs
    assert ticket.instance(AW).runs == ((at(1), at(1)),)


# -- status --------------------------------------------------------------------------------------


def test_status_reads_each_instance_at_a_moment() -> None:
    ticket = Ticket(PLAIN)
    ticket.create()
    ticket.agent(at(1))
    ticket.move(Status.PENDING, at(3))
    readings = {r.instance.instance_id: r for r in engine.status(ticket.sla, at(30), ticket.calendars)}
    assert {key: (r.state, r.remaining) for key, r in readings.items()} == {
        ticket.id(FR): (MetricState.FULFILLED, h(1)),
        ticket.id(RW): (MetricState.PAUSED, h(45)),
        ticket.id(AW): (MetricState.PAUSED, h(21)),
        # Past its deadline (T0+13h) before the timer fired: breached, with negative time left.
        ticket.id(PU): (MetricState.BREACHED, h(-17)),
        ticket.id(PA): (MetricState.PAUSED, h(22)),
    }
    assert readings[ticket.id(PU)].instance is ticket.instance(PU)


def test_status_counts_down_in_business_time_and_reports_late_fulfilment_as_breached() -> None:
    ticket = Ticket(OFFICE)
    ticket.create()
    ticket.agent(on(2, "12:00"))  # first reply was due at 11:00
    by_metric = {r.instance.metric: r for r in engine.status(ticket.sla, on(2, "16:00"), ticket.calendars)}
    assert (by_metric[FR].state, by_metric[FR].remaining) == (MetricState.BREACHED, h(-1))
    assert (by_metric[AW].state, by_metric[AW].remaining) == (MetricState.ACTIVE, h(1))
    assert (by_metric[RW].state, by_metric[RW].remaining) == (MetricState.ACTIVE, h(9))
    # After hours nothing counts down; agent work ran out at 17:00, before its timer fired.
    late = {r.instance.metric: r for r in engine.status(ticket.sla, on(2, "20:00"), ticket.calendars)}
    assert (late[AW].state, late[AW].remaining) == (MetricState.BREACHED, h(0))
    assert (late[RW].state, late[RW].remaining) == (MetricState.ACTIVE, h(8))


def test_status_of_an_untargeted_instance_has_no_remaining_time() -> None:
    ticket = Ticket(policy(target(FR, h(1))))
    ticket.create()
    reading = engine.status(ticket.sla, at(5), ticket.calendars)[2]
    assert reading.instance.metric is AW
    assert reading.state is MetricState.ACTIVE
    assert reading.remaining is None
