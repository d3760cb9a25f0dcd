"""Random ticket histories against the engine, with timers fired as a timer store would.

The model below keeps only the status history, written from DOMAIN.md, so it checks the engine's
pause bookkeeping independently: agent work counts the time spent new or open (in business
hours), requester wait the time spent new, open or on hold. Invariants: each instance warns and
breaches at most once; the timers are exactly the due instants of open instances with a target;
every due timer fires and nothing else does; a deadline is where the target runs out; an instance
never paused has its deadline at start + target; redelivery changes nothing; replaying the
history gives the same state.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from services.sla.domain import engine
from services.sla.domain import instance as inst
from services.sla.domain.engine import Reopened
from services.sla.domain.model import Author, Basis, Metric, Priority, Status, Trigger
from services.sla.domain.outputs import Breached, Fulfilled, Output, Warned
from services.sla.domain.policy import Conditions, Target
from services.sla.domain.timebasis import CALENDAR_TIME, TimeBasis
from tests.unit.sla.engine_support import CALENDARS, OFFICE, T0, Ticket, escalation, h, policy, target

NEW, OPEN, PENDING, ON_HOLD, SOLVED, CLOSED = (
    Status.NEW,
    Status.OPEN,
    Status.PENDING,
    Status.ON_HOLD,
    Status.SOLVED,
    Status.CLOSED,
)
AGENT_MOVES = {
    NEW: [OPEN, PENDING, ON_HOLD, SOLVED],
    OPEN: [PENDING, ON_HOLD, SOLVED],
    PENDING: [OPEN, ON_HOLD, SOLVED],
    ON_HOLD: [OPEN, PENDING, SOLVED],
    SOLVED: [OPEN, PENDING, ON_HOLD, CLOSED],
    CLOSED: [],
}
AGENT_WORK_COUNTS = {NEW, OPEN}
REQUESTER_WAIT_COUNTS = {NEW, OPEN, ON_HOLD}


def _targets(priority: Priority, scale: float) -> list[Target]:
    return [
        target(Metric.FIRST_REPLY, h(2 * scale), priority=priority),
        target(Metric.NEXT_REPLY, h(4 * scale), priority=priority),
        target(Metric.PERIODIC_UPDATE, h(10 * scale), priority=priority),
        target(Metric.PAUSABLE_UPDATE, h(10 * scale), Basis.BUSINESS, priority=priority),
        target(Metric.REQUESTER_WAIT, h(30 * scale), priority=priority),
        target(Metric.AGENT_WORK, h(12 * scale), Basis.BUSINESS, priority=priority),
    ]


# Low priority has no targets at all, so instances lose and regain them.
POLICY = policy(
    *_targets(Priority.NORMAL, 1),
    *_targets(Priority.URGENT, 0.25),
    conditions=Conditions(priorities=frozenset({Priority.NORMAL, Priority.URGENT})),
    escalations=tuple(escalation(metric, trigger) for metric in Metric for trigger in Trigger),
)


class SlaMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.ticket = Ticket(POLICY)
        self.ticket.create(T0)
        self.status = NEW
        # The model: (from, to, status) for every closed stretch of one status.
        self.stretches: list[tuple[datetime, datetime, Status]] = []
        self.since = T0
        self.warned: set[str] = set()
        self.breached: set[str] = set()
        self._seen(self.ticket.outputs)

    # -- helpers ---------------------------------------------------------------------------------

    def _seen(self, outputs: tuple[Output, ...]) -> None:
        for output in outputs:
            key = output.instance.instance_id
            if isinstance(output, Warned):
                assert key not in self.warned | self.breached, "warned twice, or after the breach"
                assert output.instance.warn_at is not None
                assert output.at >= output.instance.warn_at
                self.warned.add(key)
            elif isinstance(output, Breached):
                assert key not in self.breached, "breached twice"
                assert output.at >= output.deadline
                self.breached.add(key)
            elif isinstance(output, Fulfilled):
                late = output.deadline is not None and output.at >= output.deadline
                assert output.breached == (late or key in self.breached)
                if output.breached:
                    self.breached.add(key)

    def _moved(self, to: Status) -> None:
        self.stretches.append((self.since, self.now, self.status))
        self.since = self.now
        self.status = to

    def _counted(self, statuses: set[Status], basis: TimeBasis) -> timedelta:
        stretches = [*self.stretches, (self.since, self.now, self.status)]
        return sum((basis.elapsed(a, b) for a, b, s in stretches if s in statuses), timedelta(0))

    # -- rules -----------------------------------------------------------------------------------

    @rule(step=st.sampled_from([timedelta(minutes=1), timedelta(minutes=40), h(3), h(14), timedelta(days=2)]))
    def time_passes(self, step: timedelta) -> None:
        self.now += step

    @precondition(lambda self: self.status is not CLOSED)
    @rule(public=st.booleans())
    def agent_comments(self, public: bool) -> None:
        self._seen(self.ticket.agent(self.now, public=public))
        if public and self.status is NEW:
            self._moved(OPEN)

    @precondition(lambda self: self.status is not CLOSED)
    @rule()
    def customer_comments(self) -> None:
        self._seen(self.ticket.customer(self.now))
        if self.status in (PENDING, SOLVED):
            self._moved(OPEN)

    @precondition(lambda self: self.status is not CLOSED)
    @rule()
    def system_comments(self) -> None:
        assert self.ticket.comment(Author.SYSTEM, self.now) == ()

    @precondition(lambda self: self.status is not CLOSED)
    @rule(data=st.data())
    def agent_moves(self, data: st.DataObject) -> None:
        to = data.draw(st.sampled_from(AGENT_MOVES[self.status]))
        leaving_solved = self.status is SOLVED
        outputs = self.ticket.move(to, self.now)
        if leaving_solved and to is not CLOSED:
            outputs += self.ticket.apply(Reopened(self.ticket.version, self.now))
        self._seen(outputs)
        self._moved(to)

    @precondition(lambda self: self.status is not CLOSED)
    @rule(priority=st.sampled_from([Priority.LOW, Priority.NORMAL, Priority.URGENT]))
    def priority_changes(self, priority: Priority) -> None:
        self._seen(self.ticket.update(self.now, priority=priority))

    @rule()
    def due_timers_fire(self) -> None:
        # As the timer store does: earliest first, re-reading the store after each.
        while True:
            pending = sorted(
                (when, key, trigger) for key, trigger, when in self.ticket.timers() if when <= self.now
            )
            if not pending:
                return
            _, key, trigger = pending[0]
            transition = engine.fire(self.ticket.sla, key, trigger, self.now, self.ticket.policies)
            assert len(transition.outputs) == 1, "a due timer did not fire"
            assert transition.sla is not None
            self.ticket.state = transition.sla
            self._seen(transition.outputs)

    @rule(data=st.data(), trigger=st.sampled_from(list(Trigger)))
    def any_timer_fires(self, data: st.DataObject, trigger: Trigger) -> None:
        key = data.draw(st.sampled_from([i.instance_id for i in self.ticket.sla.instances]))
        armed = {(k, t) for k, t, when in self.ticket.timers() if when <= self.now}
        transition = engine.fire(self.ticket.sla, key, trigger, self.now, self.ticket.policies)
        assert bool(transition.outputs) == ((key, trigger) in armed)
        assert transition.sla is not None
        self.ticket.state = transition.sla
        self._seen(transition.outputs)

    @rule()
    def the_last_fact_is_redelivered(self) -> None:
        before = self.ticket.sla
        transition = engine.apply(before, self.ticket.history[-1], self.ticket.policies, CALENDARS)
        assert transition.sla is before
        assert transition.outputs == ()

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def pauses_follow_the_status_history(self) -> None:
        agent_work = self.ticket.instance(Metric.AGENT_WORK)
        requester_wait = self.ticket.instance(Metric.REQUESTER_WAIT)
        assert inst.consumed(agent_work, OFFICE, self.now) == self._counted(AGENT_WORK_COUNTS, OFFICE)
        waited = self._counted(REQUESTER_WAIT_COUNTS, CALENDAR_TIME)
        assert inst.consumed(requester_wait, CALENDAR_TIME, self.now) == waited

    @invariant()
    def timers_are_the_due_instants_of_open_targeted_instances(self) -> None:
        expected = set()
        for i in self.ticket.sla.instances:
            if i.open and i.terms is not None:
                # The breach counts as the warning: none may follow it.
                if i.warn_at is not None and i.instance_id not in self.warned | self.breached:
                    expected.add((i.instance_id, Trigger.WARNING, i.warn_at))
                if i.deadline is not None and i.instance_id not in self.breached:
                    expected.add((i.instance_id, Trigger.BREACH, i.deadline))
        assert self.ticket.timers() == expected

    @invariant()
    def deadlines_are_where_the_target_runs_out(self) -> None:
        for i in self.ticket.sla.instances:
            if i.terms is None or not i.running or i.deadline is None or i.warn_at is None:
                continue
            basis = inst.basis_of(i.terms, CALENDARS)
            if i.deadline >= i.runs[-1][0]:
                assert inst.consumed(i, basis, i.deadline) == i.terms.target.duration
            if len(i.runs) == 1 and i.runs[0][0] == i.started_at:
                assert i.deadline == basis.add(i.started_at, i.terms.target.duration)
                assert i.warn_at <= i.deadline

    @invariant()
    def at_most_one_open_instance_per_metric(self) -> None:
        for metric in Metric:
            assert sum(1 for i in self.ticket.sla.instances if i.metric is metric and i.open) <= 1
        if self.status in (SOLVED, CLOSED):
            assert not any(i.open for i in self.ticket.sla.instances)

    def teardown(self) -> None:
        replayed = Ticket(POLICY)
        for fact in self.ticket.history:
            replayed.apply(fact)
        # Timer firings are not facts; compare everything they do not touch.
        strip = [(i.instance_id, i.runs, i.terms, i.fulfilled_at) for i in replayed.sla.instances]
        assert strip == [(i.instance_id, i.runs, i.terms, i.fulfilled_at) for i in self.ticket.sla.instances]
        assert replayed.sla.facts == self.ticket.sla.facts
        assert replayed.sla.status is self.ticket.sla.status is self.status


SlaMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestSlaMachine = SlaMachine.TestCase
