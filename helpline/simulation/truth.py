"""The simulator's ground truth: what became of each contact as the simulated customers and agents
lived it, and the KPIs that implies, worked out here with DOMAIN.md's definitions and without the
metrics service's code, so the end-to-end test holds the platform's figures against an independent
account. Times are seconds on one clock of the caller's (the run's real time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from helpline.simulation.plan import SurveyAnswers


class LedgerError(ValueError):
    """An observation that contradicts an earlier one: a simulator bug, never a platform's."""


@dataclass
class ContactTruth:
    contact_id: str
    channel: str
    queue_id: str = ""
    queued_at: float | None = None
    answered_at: float | None = None
    abandoned_at: float | None = None
    talk_s: float = 0.0
    hold_s: float = 0.0
    wrap_up_s: float = 0.0
    handled: bool = False
    self_served: bool = False
    survey: SurveyAnswers | None = None

    @property
    def waited_s(self) -> float | None:
        left = self.answered_at if self.answered_at is not None else self.abandoned_at
        return None if left is None or self.queued_at is None else left - self.queued_at


@dataclass
class TicketTruth:
    ticket_id: str
    contact_id: str
    opened_at: float
    replied_at: float | None = None
    solved_at: float | None = None


@dataclass(frozen=True)
class SlaExpectation:
    """What the SLA service should report for one timed thing: a warning once `warn_share` of the
    target has gone by, a breach once all of it has, and a fulfilment if it ended. `margin_s` is how
    far the time taken lies from the nearer of the two instants: within the clocks' tolerance, the
    platform may see it on either side."""

    warned: bool
    breached: bool
    fulfilled: bool
    margin_s: float


def expect(taken_s: float | None, running_for_s: float, target_s: float, warn_share: float) -> SlaExpectation:
    """`taken_s` until the thing ended, or None while it runs on (for `running_for_s` so far)."""
    measured = running_for_s if taken_s is None else taken_s
    warn_s = warn_share * target_s
    return SlaExpectation(
        warned=measured > warn_s,
        breached=measured > target_s,
        fulfilled=taken_s is not None,
        margin_s=min(abs(measured - warn_s), abs(measured - target_s)),
    )


@dataclass(frozen=True)
class QueueFigures:
    """One queue and channel over the run, as the KPIs' definitions count them."""

    queued: int
    answered: int
    answered_within: int
    abandoned: int
    service_level: float | None
    asa_s: float | None
    aht_s: float | None
    abandonment_rate: float | None


@dataclass(frozen=True)
class Figures:
    queues: dict[tuple[str, str], QueueFigures]
    csat: float | None
    nps: float | None
    ces: float | None
    deflection: float | None


@dataclass
class Ledger:
    contacts: dict[str, ContactTruth] = field(default_factory=dict)
    tickets: dict[str, TicketTruth] = field(default_factory=dict)

    def arrived(self, contact_id: str, channel: str) -> None:
        if contact_id in self.contacts:
            raise LedgerError(f"contact {contact_id} arrived twice")
        self.contacts[contact_id] = ContactTruth(contact_id, channel)

    def queued(self, contact_id: str, queue_id: str, channel: str, at: float) -> None:
        truth = self._open(contact_id)
        if truth.queued_at is not None:
            raise LedgerError(f"contact {contact_id} queued twice")
        truth.queue_id, truth.channel, truth.queued_at = queue_id, channel, at

    def answered(self, contact_id: str, at: float) -> None:
        truth = self._waiting(contact_id)
        truth.answered_at = at

    def abandoned(self, contact_id: str, at: float) -> None:
        truth = self._waiting(contact_id)
        truth.abandoned_at = at

    def handled(self, contact_id: str, talk_s: float, hold_s: float, wrap_up_s: float) -> None:
        truth = self.contacts[contact_id]
        if truth.answered_at is None or truth.handled:
            raise LedgerError(f"contact {contact_id} handled without being answered, or twice")
        if min(talk_s, hold_s, wrap_up_s) < 0:
            raise LedgerError(f"contact {contact_id}: a negative handle time")
        truth.talk_s, truth.hold_s, truth.wrap_up_s, truth.handled = talk_s, hold_s, wrap_up_s, True

    def self_served(self, contact_id: str) -> None:
        truth = self._open(contact_id)
        if truth.queued_at is not None:
            raise LedgerError(f"contact {contact_id} was queued, so not self-served")
        truth.self_served = True

    def surveyed(self, contact_id: str, answers: SurveyAnswers) -> None:
        self.contacts[contact_id].survey = answers

    def ticket_opened(self, contact_id: str, ticket_id: str, at: float) -> None:
        self._open(contact_id)
        if ticket_id in self.tickets:
            raise LedgerError(f"ticket {ticket_id} opened twice")
        self.tickets[ticket_id] = TicketTruth(ticket_id, contact_id, at)

    def ticket_replied(self, ticket_id: str, at: float) -> None:
        """The first public agent reply; later ones start no SLA of the run's policy."""
        ticket = self.tickets[ticket_id]
        if ticket.replied_at is None:
            ticket.replied_at = at

    def ticket_solved(self, ticket_id: str, at: float) -> None:
        ticket = self.tickets[ticket_id]
        if ticket.solved_at is not None:
            raise LedgerError(f"ticket {ticket_id} solved twice")
        ticket.solved_at = at

    def ticket_slas(
        self, targets_s: Mapping[str, float], warn_share: float, now: float
    ) -> dict[tuple[str, str], SlaExpectation]:
        """(ticket, metric) for the policy's first_reply and requester_wait targets (no ticket of
        the run is ever pending, so requester_wait never pauses)."""
        ends = {"first_reply": lambda t: t.replied_at, "requester_wait": lambda t: t.solved_at}
        expected = {}
        for ticket in self.tickets.values():
            for metric, target_s in targets_s.items():
                end = ends[metric](ticket)
                taken = None if end is None else end - ticket.opened_at
                expected[(ticket.ticket_id, metric)] = expect(
                    taken, now - ticket.opened_at, target_s, warn_share
                )
        return expected

    def queue_watches(
        self, thresholds_s: Mapping[str, float], channels: Iterable[str], warn_share: float, now: float
    ) -> dict[str, SlaExpectation]:
        """Each contact queued on a watched channel against its queue's answer target: the wait
        runs until the contact is answered or gone. A watch reports no fulfilment."""
        watched = set(channels)
        expected = {}
        for truth in self.contacts.values():
            if truth.queued_at is None or truth.channel not in watched:
                continue
            waited = truth.waited_s
            running = expect(waited, now - truth.queued_at, thresholds_s[truth.queue_id], warn_share)
            expected[truth.contact_id] = replace(running, fulfilled=False)
        return expected

    def _open(self, contact_id: str) -> ContactTruth:
        truth = self.contacts.get(contact_id)
        if truth is None:
            raise LedgerError(f"contact {contact_id} never arrived")
        if truth.self_served:
            raise LedgerError(f"contact {contact_id} was self-served")
        return truth

    def _waiting(self, contact_id: str) -> ContactTruth:
        truth = self._open(contact_id)
        if truth.queued_at is None or truth.answered_at is not None or truth.abandoned_at is not None:
            raise LedgerError(f"contact {contact_id} is not waiting in a queue")
        return truth

    def figures(self, thresholds_s: Mapping[str, float]) -> Figures:
        """The run's KPIs; `thresholds_s` gives each queue's service-level threshold. Service level
        counts abandons in its denominator (the default rule) and a contact answered at exactly
        the threshold as within it."""
        slots: dict[tuple[str, str], list[ContactTruth]] = {}
        for truth in self.contacts.values():
            if truth.queued_at is not None:
                slots.setdefault((truth.queue_id, truth.channel), []).append(truth)
        surveys = [t.survey for t in self.contacts.values() if t.survey is not None]
        return Figures(
            queues={slot: _queue(found, thresholds_s[slot[0]]) for slot, found in sorted(slots.items())},
            csat=_ratio(sum(1 for s in surveys if s.csat >= 4), len(surveys)),
            nps=_nps(s.nps for s in surveys),
            ces=_ratio(sum(s.ces for s in surveys), len(surveys)),
            deflection=_ratio(sum(t.self_served for t in self.contacts.values()), len(self.contacts)),
        )


def _queue(contacts: list[ContactTruth], threshold_s: float) -> QueueFigures:
    answered = [t for t in contacts if t.answered_at is not None]
    abandoned = [t for t in contacts if t.abandoned_at is not None]
    within = [t for t in answered if (t.waited_s or 0.0) <= threshold_s]
    handled = [t for t in answered if t.handled]
    return QueueFigures(
        queued=len(contacts),
        answered=len(answered),
        answered_within=len(within),
        abandoned=len(abandoned),
        service_level=_ratio(len(within), len(answered) + len(abandoned)),
        asa_s=_ratio(sum(t.waited_s or 0.0 for t in answered), len(answered)),
        aht_s=_ratio(sum(t.talk_s + t.hold_s + t.wrap_up_s for t in handled), len(handled)),
        abandonment_rate=_ratio(len(abandoned), len(contacts)),
    )


def _nps(scores: Iterable[int]) -> float | None:
    counted = list(scores)
    if not counted:
        return None
    promoters = sum(1 for s in counted if s >= 9)
    detractors = sum(1 for s in counted if s <= 6)
    return 100 * (promoters - detractors) / len(counted)


def _ratio(numerator: float, denominator: int) -> float | None:
    return numerator / denominator if denominator else None
