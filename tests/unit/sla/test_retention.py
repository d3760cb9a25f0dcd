"""The retention rules of the SLA domain, as properties over random histories: a ticket's state is
forgotten only once closed, and nothing that can still arrive changes a closed one, so forgetting it
loses nothing; a queue watch's record is never forgotten before its timers are due, and outlives
its contact's stay in the queue by exactly the retention."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.sla.domain import engine
from services.sla.domain.engine import Commented, Created, Reopened, StatusChanged, TicketSla, Updated
from services.sla.domain.model import Author, Metric, Priority, Status, TicketFacts, Trigger
from services.sla.domain.queue_watch import (
    QueueTarget,
    WatchRecord,
    fire,
    left_queue,
    lifetime,
    queued,
    timers,
)
from tests.unit.sla.engine_support import FACTS, T0, Ticket, h, policy, target

RETENTION = timedelta(days=7)
# After every step a history can take (25 steps of up to 3 days).
CLOSED_AT = T0 + timedelta(days=100)
LATE = CLOSED_AT + timedelta(days=1)
POLICY = policy(
    target(Metric.FIRST_REPLY, h(2)),
    target(Metric.NEXT_REPLY, h(4)),
    target(Metric.PERIODIC_UPDATE, h(8)),
    target(Metric.REQUESTER_WAIT, h(24)),
    target(Metric.AGENT_WORK, h(12)),
)
MOVES = {
    Status.NEW: [Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED],
    Status.OPEN: [Status.PENDING, Status.ON_HOLD, Status.SOLVED],
    Status.PENDING: [Status.OPEN, Status.ON_HOLD, Status.SOLVED],
    Status.ON_HOLD: [Status.OPEN, Status.PENDING, Status.SOLVED],
    Status.SOLVED: [Status.OPEN, Status.PENDING, Status.ON_HOLD],
}

# A step of a ticket's history: what happens to it at `now`; returns the instant after it.
Step = Callable[[Ticket, datetime], datetime]


def _wait(span: timedelta) -> Step:
    return lambda _ticket, now: now + span


def _agent_replies(public: bool) -> Step:
    def step(ticket: Ticket, now: datetime) -> datetime:
        ticket.agent(now, public=public)
        return now

    return step


def _customer_replies(ticket: Ticket, now: datetime) -> datetime:
    ticket.customer(now)
    return now


def _moves(choice: int) -> Step:
    """One of the moves the tickets service allows from the current status, short of closing."""

    def step(ticket: Ticket, now: datetime) -> datetime:
        moves = MOVES[ticket.sla.status]
        leaving_solved = ticket.sla.status is Status.SOLVED
        ticket.move(moves[choice % len(moves)], now)
        if leaving_solved:
            ticket.apply(Reopened(ticket.version, now))
        return now

    return step


def _reprioritised(priority: Priority) -> Step:
    def step(ticket: Ticket, now: datetime) -> datetime:
        ticket.update(now, priority=priority)
        return now

    return step


def _due_timers_fire(ticket: Ticket, now: datetime) -> datetime:
    for key, trigger, when in sorted(ticket.timers(), key=lambda timer: timer[2]):
        if when <= now:
            fired = engine.fire(ticket.sla, key, trigger, now, ticket.policies).sla
            assert fired is not None
            ticket.state = fired
    return now


steps = st.lists(
    st.one_of(
        st.integers(min_value=0, max_value=3 * 24 * 60).map(lambda m: _wait(timedelta(minutes=m))),
        st.booleans().map(_agent_replies),
        st.just(_customer_replies),
        st.integers(min_value=0, max_value=3).map(_moves),
        st.sampled_from([Priority.LOW, Priority.NORMAL, Priority.URGENT]).map(_reprioritised),
        st.just(_due_timers_fire),
    ),
    max_size=25,
)


def _closed(history: list[Step]) -> tuple[Ticket, list[TicketSla]]:
    """The ticket worked through `history`, then closed; with every state it went through."""
    ticket = Ticket(POLICY)
    now = T0
    ticket.create(now)
    states = [ticket.sla]
    for step in history:
        now = step(ticket, now)
        states.append(ticket.sla)
    ticket.move(Status.CLOSED, CLOSED_AT)
    return ticket, states


late_facts = st.one_of(
    st.builds(
        Created,
        st.just("t-1"),
        st.integers(min_value=0, max_value=60),
        st.just(FACTS),
        st.sampled_from(list(Status)),
        st.just(T0),
    ),
    st.builds(
        Updated,
        st.integers(min_value=0, max_value=60),
        st.sampled_from([FACTS, TicketFacts(Priority.URGENT)]),
        st.just(("priority",)),
        st.just(LATE),
    ),
    st.builds(
        StatusChanged,
        st.integers(min_value=0, max_value=60),
        st.sampled_from(list(Status)),
        st.just(LATE),
    ),
    st.builds(
        Commented,
        st.integers(min_value=0, max_value=60),
        st.booleans(),
        st.sampled_from(list(Author)),
        st.just(LATE),
    ),
    st.builds(Reopened, st.integers(min_value=0, max_value=60), st.just(LATE)),
)


@settings(max_examples=200, deadline=None)
@given(history=steps)
def test_only_a_closed_tickets_state_is_given_an_end_of_life(history: list[Step]) -> None:
    ticket, states = _closed(history)
    assert all(engine.lifetime(state, RETENTION) is None for state in states)
    assert engine.lifetime(ticket.sla, RETENTION) == RETENTION
    assert engine.timers(ticket.sla) == set()


@settings(max_examples=200, deadline=None)
@given(history=steps, late=st.lists(late_facts, min_size=1, max_size=6))
def test_nothing_that_arrives_after_the_close_changes_the_closed_state(
    history: list[Step], late: list[engine.Fact]
) -> None:
    ticket, _ = _closed(history)
    closed = ticket.sla
    for fact in late:
        transition = engine.apply(closed, fact, ticket.policies, ticket.calendars)
        assert transition.sla == closed
        assert transition.outputs == ()
    later = LATE + timedelta(days=60)
    for instance in closed.instances:
        for trigger in Trigger:
            transition = engine.fire(closed, instance.instance_id, trigger, later, ticket.policies)
            assert transition.sla == closed
            assert transition.outputs == ()


# -- queue watches ---------------------------------------------------------------------------------

TARGET = QueueTarget("q", timedelta(seconds=30), version=1)
seconds = st.integers(min_value=-120, max_value=600).map(lambda s: timedelta(seconds=s))
# A fact of a contact's history, applied to its record: the record after it, None when unchanged.
WatchStep = Callable[[WatchRecord | None], WatchRecord | None]


def _queued(offset: timedelta, waited: timedelta, channel: str) -> WatchStep:
    at = T0 + offset
    return lambda record: queued(record, "c", "q", channel, at - waited, at, TARGET)


def _left(offset: timedelta) -> WatchStep:
    return lambda record: left_queue(record, T0 + offset)


def _fired(offset: timedelta, breach: bool) -> WatchStep:
    def step(record: WatchRecord | None) -> WatchRecord | None:
        if record is None or record.watch is None:
            return None
        fired = fire(record, record.watch.instance_id, breach, T0 + offset)
        return fired[0] if fired else None

    return step


watch_steps = st.lists(
    st.one_of(
        st.builds(_queued, seconds, seconds.map(abs), st.sampled_from(["voice", "chat", "email"])),
        st.builds(_left, seconds),
        st.builds(_fired, seconds, st.booleans()),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(history=watch_steps, retention=st.integers(min_value=1, max_value=86400))
def test_a_watch_record_outlives_its_timers_and_its_stay_by_the_retention(
    history: list[WatchStep], retention: int
) -> None:
    kept_for = timedelta(seconds=retention)
    record: WatchRecord | None = None
    for step in history:
        record = step(record) or record
        if record is None:
            continue
        kept = lifetime(record, kept_for)
        # Written no earlier than its latest fact, the record lasts past each due instant by the
        # retention at least.
        assert all(due <= record.last_at + kept - kept_for for due in timers(record).values())
        if record.watch is None:
            assert kept == kept_for
        else:
            assert kept >= kept_for
