"""The metric engine: a ticket's SLA state, moved on by ticket facts and timers (DOMAIN.md, SLA;
Zendesk semantics). Pure: the caller passes the policies, the calendars and the time.

    metric           starts                                 fulfilled by                 paused while
    first_reply      ticket created                         first public agent reply     never
    next_reply       oldest unanswered public customer      next public agent reply      never
                     comment, once first_reply is fulfilled
    periodic_update  a public agent reply                   the next public agent reply  never
    pausable_update  a public agent reply                   the next public agent reply  pending
    requester_wait   ticket created                         solved                       pending
    agent_work       ticket created                         solved                       pending, on_hold

Choices the table leaves open:
- Solving (or closing) fulfils every running or paused instance: nothing more is owed. Nothing
  starts on a solved or closed ticket, except next_reply from a customer comment on a solved one,
  since that comment reopens it (the status change follows with the same version).
- Leaving solved is a reopen (StatusChanged out of solved, or Reopened, whichever comes first):
  requester_wait and agent_work become owed again, the same instance with its elapsed time kept.
  A reopened instance that breached before does not breach again; it is fulfilled again on the
  next solve, so it may report Fulfilled twice (the later one is the final word).
- Policies are selected at creation and re-selected on every Updated. Each open instance then
  takes the new policy's target for its metric, counted from its original start and pauses; one
  whose metric the new policy lacks keeps running without a deadline. An instance moving from no
  target to a target reports Applied; one that had a target and gets another (or none) reports
  Retargeted. Instances started later take their target from the selected policy as it is
  configured now. Warnings and breaches fire once per instance whatever retargeting does.
- A breach (reported, or found on a late fulfilment) counts as the warning too: a warning after
  it would tell nothing new.
- Business-time targets count the calendar `calendars[policy.calendar_id]`; calendar-time
  targets count every hour. A business target whose calendar is missing is refused
  (`unknown_calendar`), so the event can be retried once the calendar exists.
- One ticket command emits several facts with the same version (a customer reply to a pending
  ticket is a comment and a status change), so a fact is a redelivery when its version is older
  than the state's, or equal with a kind already applied at that version. Facts of a ticket whose
  creation the engine never saw are ignored.
- A closed ticket is immutable (DOMAIN.md; a customer's reply makes a follow-up ticket): every
  fact after the close is ignored and no instance is left open, so its state is final, holds no
  timers, and may be forgotten after a retention (`lifetime`) without changing anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from services.sla.domain import instance as inst
from services.sla.domain.instance import Calendars, Instance
from services.sla.domain.model import Action, Author, Metric, Status, TicketFacts, Trigger
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
from services.sla.domain.policy import Policy, select

PAUSED_WHILE: Mapping[Metric, frozenset[Status]] = {
    Metric.FIRST_REPLY: frozenset(),
    Metric.NEXT_REPLY: frozenset(),
    Metric.PERIODIC_UPDATE: frozenset(),
    Metric.PAUSABLE_UPDATE: frozenset({Status.PENDING}),
    Metric.REQUESTER_WAIT: frozenset({Status.PENDING}),
    Metric.AGENT_WORK: frozenset({Status.PENDING, Status.ON_HOLD}),
}
_AT_CREATION = (Metric.FIRST_REPLY, Metric.REQUESTER_WAIT, Metric.AGENT_WORK)
_ANSWERED_BY_AGENT = frozenset(
    {Metric.FIRST_REPLY, Metric.NEXT_REPLY, Metric.PERIODIC_UPDATE, Metric.PAUSABLE_UPDATE}
)
_UPDATES = (Metric.PERIODIC_UPDATE, Metric.PAUSABLE_UPDATE)
_REOPENED = frozenset({Metric.REQUESTER_WAIT, Metric.AGENT_WORK})
_DONE = frozenset({Status.SOLVED, Status.CLOSED})


@dataclass(frozen=True)
class Created:
    kind: ClassVar[str] = "created"
    ticket_id: str
    version: int
    facts: TicketFacts
    status: Status
    at: datetime


@dataclass(frozen=True)
class Updated:
    """Fields policies match on changed; `facts` is the ticket after the change (a department
    hand-off arrives as one too)."""

    kind: ClassVar[str] = "updated"
    version: int
    facts: TicketFacts
    changed_fields: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class StatusChanged:
    kind: ClassVar[str] = "status_changed"
    version: int
    to_status: Status
    at: datetime


@dataclass(frozen=True)
class Commented:
    kind: ClassVar[str] = "commented"
    version: int
    public: bool
    author: Author
    at: datetime


@dataclass(frozen=True)
class Reopened:
    """A customer reply reopened a solved ticket (to open)."""

    kind: ClassVar[str] = "reopened"
    version: int
    at: datetime


Fact = Created | Updated | StatusChanged | Commented | Reopened


@dataclass(frozen=True)
class TicketSla:
    ticket_id: str
    # The last ticket version applied, and the kinds of fact applied at it.
    version: int
    facts: TicketFacts
    status: Status
    created_at: datetime
    policy_id: str | None
    instances: tuple[Instance, ...]
    applied: frozenset[str] = frozenset()

    def instance(self, instance_id: str) -> Instance | None:
        return next((i for i in self.instances if i.instance_id == instance_id), None)


@dataclass(frozen=True)
class Transition:
    sla: TicketSla | None
    outputs: tuple[Output, ...] = ()


def apply(sla: TicketSla | None, fact: Fact, policies: Iterable[Policy], calendars: Calendars) -> Transition:
    """The state after `fact`, with the SLA events it causes; a redelivered fact changes nothing."""
    if sla is None:
        return _created(fact, policies, calendars) if isinstance(fact, Created) else Transition(None)
    if isinstance(fact, Created) or _seen(sla, fact) or _final(sla):
        return Transition(sla)
    kinds = sla.applied if fact.version == sla.version else frozenset()
    sla = replace(sla, version=fact.version, applied=kinds | {fact.kind})
    if isinstance(fact, Updated):
        return _updated(sla, fact, policies, calendars)
    if isinstance(fact, Commented):
        return _commented(sla, fact, policies, calendars)
    if isinstance(fact, StatusChanged):
        return _status_changed(sla, fact.to_status, fact.at, calendars)
    # Reopened: the StatusChanged of the same move usually came first and left nothing to do.
    if sla.status is Status.SOLVED:
        return _status_changed(sla, Status.OPEN, fact.at, calendars)
    return Transition(sla)


def fire(
    sla: TicketSla, instance_id: str, kind: Trigger, now: datetime, policies: Iterable[Policy]
) -> Transition:
    """A timer of `instance_id` went off at `now`. It reports only if the instance still owes
    something, has a target, has not reported this trigger yet and is due by `now`; so a late,
    early, stale or duplicate timer is harmless."""
    found = sla.instance(instance_id)
    if found is None or not found.open or found.terms is None:
        return Transition(sla)
    if kind is Trigger.WARNING:
        if found.warned or found.breached or found.warn_at is None or now < found.warn_at:
            return Transition(sla)
        fired = replace(found, warned=True)
        output: Output = Warned(fired, found.deadline, now, _actions(policies, fired, kind))
    else:
        if found.breached or found.deadline is None or now < found.deadline:
            return Transition(sla)
        fired = replace(found, breached_at=found.deadline)
        output = Breached(fired, found.deadline, now, _actions(policies, fired, kind))
    instances = tuple(fired if i.instance_id == instance_id else i for i in sla.instances)
    return Transition(replace(sla, instances=instances), (output,))


def timers(sla: TicketSla) -> set[tuple[str, Trigger, datetime]]:
    """The due instants the timer store must hold for this ticket, and nothing else."""
    due: set[tuple[str, Trigger, datetime]] = set()
    for i in sla.instances:
        if not i.open or i.terms is None:
            continue
        if not i.warned and not i.breached and i.warn_at is not None:
            due.add((i.instance_id, Trigger.WARNING, i.warn_at))
        if not i.breached and i.deadline is not None:
            due.add((i.instance_id, Trigger.BREACH, i.deadline))
    return due


def lifetime(sla: TicketSla, retention: timedelta) -> timedelta | None:
    """How long the state is kept once written: `retention` once it is final (the ticket closed),
    None (for good) while the ticket may still change. Nothing arrives for a closed ticket but
    redeliveries of its earlier events, which the state ignores by their versions: the retention
    only has to outlast how far back its events can be delivered again."""
    return retention if _final(sla) else None


def _final(sla: TicketSla) -> bool:
    return sla.status is Status.CLOSED


def _seen(sla: TicketSla, fact: Fact) -> bool:
    return fact.version < sla.version or (fact.version == sla.version and fact.kind in sla.applied)


def _actions(policies: Iterable[Policy], fired: Instance, trigger: Trigger) -> tuple[Action, ...]:
    policy_id = fired.terms.policy_id if fired.terms is not None else None
    policy = next((p for p in policies if p.policy_id == policy_id), None)
    return policy.actions(fired.metric, trigger) if policy is not None else ()


def _created(fact: Created, policies: Iterable[Policy], calendars: Calendars) -> Transition:
    policy = select(policies, fact.facts)
    sla = TicketSla(
        fact.ticket_id,
        fact.version,
        fact.facts,
        fact.status,
        fact.at,
        policy.policy_id if policy is not None else None,
        (),
        frozenset({fact.kind}),
    )
    return _started(sla, _AT_CREATION, fact.at, policy, calendars)


def _updated(sla: TicketSla, fact: Updated, policies: Iterable[Policy], calendars: Calendars) -> Transition:
    policy = select(policies, fact.facts)
    instances: list[Instance] = []
    outputs: list[Output] = []
    for before in sla.instances:
        terms = inst.terms_for(policy, before.metric, fact.facts.priority) if before.open else before.terms
        if terms == before.terms:
            instances.append(before)
            continue
        after = inst.retarget(before, terms, calendars)
        instances.append(after)
        if before.terms is None:
            outputs.extend(_applied(after, sla.status, fact.at, calendars))
        else:
            outputs.append(
                Retargeted(
                    after,
                    terms.policy_id if terms is not None else None,
                    before.terms.policy_id,
                    after.target,
                    before.deadline,
                    after.warn_at,
                    after.deadline,
                    fact.changed_fields,
                    fact.at,
                )
            )
    policy_id = policy.policy_id if policy is not None else None
    return Transition(
        replace(sla, facts=fact.facts, policy_id=policy_id, instances=tuple(instances)), tuple(outputs)
    )


def _commented(
    sla: TicketSla, fact: Commented, policies: Iterable[Policy], calendars: Calendars
) -> Transition:
    if not fact.public or fact.author is Author.SYSTEM or sla.status is Status.CLOSED:
        return Transition(sla)
    policy = next((p for p in policies if p.policy_id == sla.policy_id), None)
    if fact.author is Author.CUSTOMER:
        waiting = any(i.open and i.metric in (Metric.FIRST_REPLY, Metric.NEXT_REPLY) for i in sla.instances)
        # Before the first agent reply, first_reply already covers the customer; after it, the
        # oldest unanswered comment started next_reply and later ones do not restart it.
        if waiting:
            return Transition(sla)
        return _started(sla, (Metric.NEXT_REPLY,), fact.at, policy, calendars)
    instances: list[Instance] = []
    outputs: list[Output] = []
    for before in sla.instances:
        if before.open and before.metric in _ANSWERED_BY_AGENT:
            after = inst.fulfil(before, fact.at)
            outputs.extend(_fulfilled(after, fact.at, calendars))
            instances.append(after)
        else:
            instances.append(before)
    answered = replace(sla, instances=tuple(instances))
    if sla.status is Status.SOLVED:
        return Transition(answered, tuple(outputs))
    return _started(answered, _UPDATES, fact.at, policy, calendars, outputs)


def _status_changed(sla: TicketSla, to: Status, at: datetime, calendars: Calendars) -> Transition:
    reopening = sla.status is Status.SOLVED and to not in _DONE
    instances: list[Instance] = []
    outputs: list[Output] = []
    for before in sla.instances:
        after = before
        runs_now = to not in PAUSED_WHILE[before.metric]
        if to in _DONE and before.open:
            after = inst.fulfil(before, at)
            outputs.extend(_fulfilled(after, at, calendars))
        elif reopening and not before.open and before.metric in _REOPENED:
            after = inst.reopen(before, at, runs_now, calendars)
            outputs.extend(_moved(after, to, at, calendars))
        elif before.open and before.running != runs_now:
            after = inst.resume(before, at, calendars) if runs_now else inst.pause(before, at, calendars)
            outputs.extend(_moved(after, to, at, calendars))
        instances.append(after)
    return Transition(replace(sla, status=to, instances=tuple(instances)), tuple(outputs))


def _started(
    sla: TicketSla,
    metrics: Sequence[Metric],
    at: datetime,
    policy: Policy | None,
    calendars: Calendars,
    earlier: Sequence[Output] = (),
) -> Transition:
    """New instances of `metrics` (after the `earlier` outputs of the same fact), numbered after the
    ticket's earlier ones of the same metric, so a replay of the same facts gives the same ids."""
    outputs = list(earlier)
    instances = list(sla.instances)
    for metric in metrics:
        number = 1 + sum(1 for i in instances if i.metric is metric)
        terms = inst.terms_for(policy, metric, sla.facts.priority)
        running = sla.status not in PAUSED_WHILE[metric]
        new = inst.start(f"{sla.ticket_id}:{metric.value}:{number}", metric, at, running, terms, calendars)
        instances.append(new)
        outputs.extend(_applied(new, sla.status, at, calendars))
    return Transition(replace(sla, instances=tuple(instances)), tuple(outputs))


def _applied(started: Instance, status: Status, at: datetime, calendars: Calendars) -> list[Output]:
    """Applied when an instance gets a target, plus Paused when the ticket's status holds it."""
    if started.terms is None:
        return []
    applied: list[Output] = [
        Applied(
            started,
            started.terms.policy_id,
            started.terms.target,
            started.started_at,
            started.warn_at,
            started.deadline,
        )
    ]
    return applied + ([] if started.running else _moved(started, status, at, calendars))


def _moved(moved: Instance, status: Status, at: datetime, calendars: Calendars) -> list[Output]:
    """Paused or Resumed, for an instance with a target."""
    terms = moved.terms
    if terms is None:
        return []
    if moved.running:
        return [Resumed(moved, status, moved.warn_at, moved.deadline, at)]
    used = inst.consumed(moved, inst.basis_of(terms, calendars), at)
    return [Paused(moved, status, terms.target.duration - used, at)]


def _fulfilled(done: Instance, at: datetime, calendars: Calendars) -> list[Output]:
    if done.terms is None:
        return []
    elapsed = inst.consumed(done, inst.basis_of(done.terms, calendars), at)
    return [Fulfilled(done, done.deadline, at, elapsed, done.breached)]


class MetricState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    FULFILLED = "fulfilled"
    BREACHED = "breached"


@dataclass(frozen=True)
class MetricStatus:
    """One instance as GetTicketSlaStatus reports it at a given moment."""

    instance: Instance
    state: MetricState
    # Target time left in its basis: counting down while active, frozen while paused or fulfilled,
    # negative past the deadline (as Zendesk shows breached time). None without a target.
    remaining: timedelta | None


def status(sla: TicketSla, now: datetime, calendars: Calendars) -> list[MetricStatus]:
    """Every instance of the ticket at `now`, in the order they started. `breached` wins over the
    phase: an instance past its deadline reads breached whether still running, paused or fulfilled
    late, even before its breach timer has fired."""
    readings: list[MetricStatus] = []
    for i in sla.instances:
        overdue = i.open and i.deadline is not None and now >= i.deadline
        state = MetricState.BREACHED if i.breached or overdue else MetricState(i.state.value)
        readings.append(MetricStatus(i, state, inst.remaining(i, calendars, now)))
    return readings
