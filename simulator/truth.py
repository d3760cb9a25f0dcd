"""The simulator's ground truth: what became of each contact as the simulated customers and agents
lived it, and the KPIs that implies, worked out here with DOMAIN.md's definitions and without the
metrics service's code, so the end-to-end test holds the platform's figures against an independent
account. Times are seconds on one clock of the caller's (the run's real time).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from simulator.plan import SurveyAnswers


class LedgerError(ValueError):
    """An observation that contradicts an earlier one: a simulator bug, never a platform's."""


@dataclass
class Leg:
    """A queue entry after a transfer or hand-off. The router counts its wait from the entry minus
    the time the contact already waited (`since`); the KPIs count only the first entry's answer,
    but its abandon, and the completion wherever it happens."""

    queue_id: str
    since: float
    answered_at: float | None = None
    abandoned_at: float | None = None


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
    legs: list[Leg] = field(default_factory=list)
    # Where the contact was completed: its queue, or the last one it was transferred to.
    completed_queue: str = ""
    # A caller's wait ends when they choose a callback; the callback is a contact of its own that
    # keeps the caller's place: queued since the call was, and not a queue entry of its own.
    called_back_at: float | None = None
    callback: bool = False
    # Its queue was closed when it arrived (it never queued) or closed while it waited: the queue's
    # closed action took it (a ticket or voicemail), not an agent.
    after_hours_at: float | None = None

    @property
    def waited_s(self) -> float | None:
        """The first entry's wait, until answered or abandoned."""
        left = self.answered_at if self.answered_at is not None else self.abandoned_at
        return None if left is None or self.queued_at is None else left - self.queued_at

    @property
    def current_queue(self) -> str:
        return self.legs[-1].queue_id if self.legs else self.queue_id

    def waiting(self) -> bool:
        if self.after_hours_at is not None:
            return False
        if self.legs:
            return self.legs[-1].answered_at is None and self.legs[-1].abandoned_at is None
        ended = (self.answered_at, self.abandoned_at, self.called_back_at)
        return self.queued_at is not None and ended == (None, None, None)

    def answered_now(self) -> float | None:
        """When the current entry was answered."""
        return self.legs[-1].answered_at if self.legs else self.answered_at


@dataclass
class TicketTruth:
    ticket_id: str
    contact_id: str
    opened_at: float
    replied_at: float | None = None
    solved_at: float | None = None
    contacts: int = 1
    # Public agent replies, the first one included.
    replies: int = 0
    # Time pending so far, and since when it is pending now.
    paused_s: float = 0.0
    pending_since: float | None = None

    def active_s(self, until: float) -> float:
        """Time open to the requester's wait, from the opening to `until`: pending time left out."""
        pending_now = until - self.pending_since if self.pending_since is not None else 0.0
        return until - self.opened_at - self.paused_s - pending_now


# The survey questions as the ledger names them, and the scale each is answered on.
SURVEY_SCALES: Mapping[str, int] = {"csat": 5, "nps": 10, "ces": 7}


@dataclass
class SurveyTruth:
    """One survey the platform sent (a request the receiver took, repeats of its delivery dropped)
    and what its customer answered: a score for each kind asked, none if they did not respond.
    `requests` counts the requests that carried its id: more than one is the platform's repeat."""

    survey_id: str
    ticket_id: str
    contact_id: str
    kinds: tuple[str, ...]
    requested_at: float
    requests: int = 1
    answers: dict[str, int] = field(default_factory=dict)


def survey_answers(kinds: Iterable[str], answers: SurveyAnswers) -> dict[str, int]:
    """The planned answers to the kinds a survey asks, by kind."""
    scores = {"csat": answers.csat, "nps": answers.nps, "ces": answers.ces}
    return {kind: scores[kind] for kind in kinds}


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


# Agent activities as occupancy counts them: handling (talking or wrapping up, whatever the status)
# against waiting for work while available.
HANDLING = ("busy", "wrap-up")
WAITING_FOR_WORK = "available"


@dataclass
class Ledger:
    """The account of one simulated run: every contact and ticket as its people lived it and each
    agent's time by activity, written by the simulation as things happen (an observation that
    contradicts an earlier one raises LedgerError) and read afterwards as the KPIs DOMAIN.md defines,
    for the end-to-end and outage tests to hold the platform's figures to."""

    contacts: dict[str, ContactTruth] = field(default_factory=dict)
    tickets: dict[str, TicketTruth] = field(default_factory=dict)
    # By survey id.
    surveys: dict[str, SurveyTruth] = field(default_factory=dict)
    # Each agent's current activity and since when, and the seconds of each activity ended so far.
    activities: dict[str, tuple[str, float]] = field(default_factory=dict)
    activity_s: dict[str, float] = field(default_factory=dict)

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
        if truth.legs:
            truth.legs[-1].answered_at = at
        else:
            truth.answered_at = at

    def abandoned(self, contact_id: str, at: float) -> None:
        truth = self._waiting(contact_id)
        if truth.legs:
            truth.legs[-1].abandoned_at = at
        else:
            truth.abandoned_at = at

    def called_back(self, contact_id: str, callback_id: str, at: float) -> None:
        """The waiting caller chose a callback: their call ends, and the callback waits in their place."""
        truth = self._waiting(contact_id)
        if truth.legs:
            raise LedgerError(f"contact {contact_id} called back after a transfer")
        if callback_id in self.contacts:
            raise LedgerError(f"callback {callback_id} arrived twice")
        truth.called_back_at = at
        self.contacts[callback_id] = ContactTruth(
            callback_id, "callback", truth.queue_id, queued_at=truth.queued_at, callback=True
        )

    def after_hours(self, contact_id: str, at: float, *, waited: bool, callback_id: str = "") -> None:
        """The queue's closed action took the contact: at its closing, if the contact `waited` in
        it, or as it arrived. A contact that arrived while closed never queued, though the gateway
        learns so only now, from the router: its queueing is taken back. A `callback_id` is the
        callback due at the next opening, which waits since the caller queued or arrived, as the
        router counts it."""
        truth = self._waiting(contact_id)
        if callback_id in self.contacts:
            raise LedgerError(f"callback {callback_id} arrived twice")
        truth.after_hours_at = at
        if callback_id:
            self.contacts[callback_id] = ContactTruth(
                callback_id, "callback", truth.queue_id, queued_at=truth.queued_at, callback=True
            )
        if not waited:
            truth.queued_at = None

    def after_hours_counts(self) -> Counter[tuple[str, str]]:
        """Contacts the closed action took, by the queue and channel they were in."""
        return Counter(
            (truth.current_queue, truth.channel)
            for truth in self.contacts.values()
            if truth.after_hours_at is not None
        )

    def transferred(self, contact_id: str, to_queue: str, at: float) -> None:
        """An agent sent the answered contact to another queue (a hand-off, if of the other
        department): it waits again, its earlier wait counting."""
        truth = self.contacts[contact_id]
        answered_at = truth.answered_now()
        if answered_at is None or truth.handled:
            raise LedgerError(f"contact {contact_id} transferred while not with an agent")
        since = truth.legs[-1].since if truth.legs else truth.queued_at
        assert since is not None  # answered, so queued
        truth.legs.append(Leg(to_queue, at - (answered_at - since)))

    def handled(self, contact_id: str, talk_s: float, hold_s: float, wrap_up_s: float) -> None:
        """The completing agent's talk, hold and wrap-up (the one who had the contact last)."""
        truth = self.contacts[contact_id]
        if truth.answered_now() is None or truth.handled:
            raise LedgerError(f"contact {contact_id} handled without being answered, or twice")
        if min(talk_s, hold_s, wrap_up_s) < 0:
            raise LedgerError(f"contact {contact_id}: a negative handle time")
        truth.talk_s, truth.hold_s, truth.wrap_up_s, truth.handled = talk_s, hold_s, wrap_up_s, True
        truth.completed_queue = truth.current_queue

    def self_served(self, contact_id: str) -> None:
        truth = self._open(contact_id)
        if truth.queued_at is not None:
            raise LedgerError(f"contact {contact_id} was queued, so not self-served")
        truth.self_served = True

    def survey_requested(
        self, survey_id: str, ticket_id: str, contact_id: str, kinds: Iterable[str], at: float
    ) -> bool:
        """A survey request reached the customer; False when its survey was requested before (a
        repeat the platform sent, counted, which the customer does not answer again)."""
        known = self.surveys.get(survey_id)
        if known is not None:
            known.requests += 1
            return False
        if ticket_id not in self.tickets:
            raise LedgerError(f"survey {survey_id} requested for ticket {ticket_id}, not one of the run")
        unknown = set(kinds) - set(SURVEY_SCALES)
        if unknown:
            raise LedgerError(f"survey {survey_id} asks {sorted(unknown)}, not CSAT, NPS or CES")
        self.surveys[survey_id] = SurveyTruth(survey_id, ticket_id, contact_id, tuple(kinds), at)
        return True

    def survey_answered(self, survey_id: str, answers: Mapping[str, int]) -> None:
        survey = self.surveys.get(survey_id)
        if survey is None:
            raise LedgerError(f"survey {survey_id} answered but never requested")
        if survey.answers:
            raise LedgerError(f"survey {survey_id} answered twice")
        if set(answers) - set(survey.kinds):
            raise LedgerError(f"survey {survey_id} answered {sorted(answers)}, asked {list(survey.kinds)}")
        survey.answers = dict(answers)

    def survey_requests(self) -> Counter[str]:
        """Survey requests each ticket got, repeats of one survey counted."""
        counted: Counter[str] = Counter()
        for survey in self.surveys.values():
            counted[survey.ticket_id] += survey.requests
        return counted

    def solved_tickets(self) -> set[str]:
        return {t.ticket_id for t in self.tickets.values() if t.solved_at is not None}

    def answers(self, kind: str) -> list[int]:
        """Every score answered to the question `kind`."""
        return [s.answers[kind] for s in self.surveys.values() if kind in s.answers]

    def agent_activity(self, agent_id: str, activity: str, at: float) -> None:
        """The agent does `activity` from `at`; the time of the one it ends is counted."""
        current = self.activities.get(agent_id)
        if current is not None:
            if current[0] == activity:
                return
            # Two calls of one agent in flight together (two chats) can report their instants out of
            # order by a round trip: the later report is taken as no earlier.
            at = max(at, current[1])
            self.activity_s[current[0]] = self.activity_s.get(current[0], 0.0) + at - current[1]
        self.activities[agent_id] = (activity, at)

    def occupancy(self) -> float | None:
        """Handling time over handling and available waiting time, of the activities ended so far
        (as the metrics service counts a state's time once it ends)."""
        handling = sum(self.activity_s.get(activity, 0.0) for activity in HANDLING)
        return _ratio(handling, handling + self.activity_s.get(WAITING_FOR_WORK, 0.0))

    def fcr(self) -> float | None:
        """Tickets solved with one contact over tickets solved (no ticket of the run is reopened):
        a ticket the customer had to write back to took two."""
        solved = [t for t in self.tickets.values() if t.solved_at is not None]
        return _ratio(sum(1 for t in solved if t.contacts == 1), len(solved))

    def ticket_opened(self, contact_id: str, ticket_id: str, at: float) -> None:
        self._open(contact_id)
        if ticket_id in self.tickets:
            raise LedgerError(f"ticket {ticket_id} opened twice")
        self.tickets[ticket_id] = TicketTruth(ticket_id, contact_id, at)

    def ticket_replied(self, ticket_id: str, at: float) -> None:
        """A public agent reply; only the first counts for the run's policy (first_reply)."""
        ticket = self.tickets[ticket_id]
        ticket.replies += 1
        if ticket.replied_at is None:
            ticket.replied_at = at

    def ticket_pending(self, ticket_id: str, at: float) -> None:
        ticket = self.tickets[ticket_id]
        if ticket.pending_since is not None or ticket.solved_at is not None:
            raise LedgerError(f"ticket {ticket_id} set pending while pending or solved")
        ticket.pending_since = at

    def ticket_written_back(self, ticket_id: str, at: float) -> None:
        """The customer answered a pending ticket: it is open again, on one more contact."""
        ticket = self.tickets[ticket_id]
        if ticket.pending_since is None:
            raise LedgerError(f"ticket {ticket_id} written back while not pending")
        ticket.paused_s += at - ticket.pending_since
        ticket.pending_since = None
        ticket.contacts += 1

    def ticket_solved(self, ticket_id: str, at: float) -> None:
        ticket = self.tickets[ticket_id]
        if ticket.solved_at is not None:
            raise LedgerError(f"ticket {ticket_id} solved twice")
        ticket.solved_at = at

    def ticket_slas(
        self, targets_s: Mapping[str, float], warn_share: float, now: float
    ) -> dict[tuple[str, str], SlaExpectation]:
        """(ticket, metric) for the policy's first_reply target (which never pauses) and its
        requester_wait target (paused while the ticket is pending)."""
        expected = {}
        for ticket in self.tickets.values():
            for metric, target_s in targets_s.items():
                if metric == "first_reply":
                    end, running = ticket.replied_at, now - ticket.opened_at
                    taken = None if end is None else end - ticket.opened_at
                else:
                    taken = None if ticket.solved_at is None else ticket.active_s(ticket.solved_at)
                    running = ticket.active_s(now)
                expected[(ticket.ticket_id, metric)] = expect(taken, running, target_s, warn_share)
        return expected

    def queue_watches(
        self, thresholds_s: Mapping[str, float], channels: Iterable[str], warn_share: float, now: float
    ) -> dict[tuple[str, str], SlaExpectation]:
        """Each queue entry (contact, queue) on a watched channel against its queue's answer target:
        the wait runs until the contact is answered or gone, a later entry's counting the earlier
        wait. A watch reports no fulfilment."""
        watched = set(channels)
        expected = {}
        for truth in self.contacts.values():
            if truth.queued_at is None or truth.channel not in watched:
                continue
            ended = truth.abandoned_at if truth.called_back_at is None else truth.called_back_at
            entries = [Leg(truth.queue_id, truth.queued_at, truth.answered_at, ended), *truth.legs]
            for entry in entries:
                left = entry.answered_at if entry.answered_at is not None else entry.abandoned_at
                waited = None if left is None else left - entry.since
                running = expect(waited, now - entry.since, thresholds_s[entry.queue_id], warn_share)
                expected[(truth.contact_id, entry.queue_id)] = replace(running, fulfilled=False)
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
        if not truth.waiting():
            raise LedgerError(f"contact {contact_id} is not waiting in a queue")
        return truth

    def figures(self, thresholds_s: Mapping[str, float]) -> Figures:
        """The run's KPIs; `thresholds_s` gives each queue's service-level threshold. Service level
        counts abandons in its denominator (the default rule) and a contact answered at exactly
        the threshold as within it."""
        slots: dict[tuple[str, str], _Slot] = {}

        def slot(queue_id: str, channel: str) -> _Slot:
            return slots.setdefault((queue_id, channel), _Slot())

        for truth in self.contacts.values():
            if truth.queued_at is None:
                continue
            first = slot(truth.queue_id, truth.channel)
            first.queued += 0 if truth.callback else 1
            if truth.answered_at is not None:
                first.waits.append(truth.answered_at - truth.queued_at)
            abandons = [(truth.queue_id, truth.abandoned_at)] + [
                (leg.queue_id, leg.abandoned_at) for leg in truth.legs
            ]
            for queue_id, abandoned_at in abandons:
                if abandoned_at is not None and not truth.callback:
                    slot(queue_id, truth.channel).abandoned += 1
            if truth.handled:
                slot(truth.completed_queue, truth.channel).handles.append(
                    truth.talk_s + truth.hold_s + truth.wrap_up_s
                )
        csat, ces = self.answers("csat"), self.answers("ces")
        return Figures(
            queues={key: found.figures(thresholds_s[key[0]]) for key, found in sorted(slots.items())},
            csat=_ratio(sum(1 for score in csat if score >= 4), len(csat)),
            nps=_nps(self.answers("nps")),
            ces=_ratio(sum(ces), len(ces)),
            deflection=_ratio(sum(t.self_served for t in self.contacts.values()), len(self.contacts)),
        )


@dataclass
class _Slot:
    """One queue and channel as the KPIs count it: first entries and their answers' waits,
    abandons in any entry, handle times of the contacts completed there."""

    queued: int = 0
    waits: list[float] = field(default_factory=list)
    abandoned: int = 0
    handles: list[float] = field(default_factory=list)

    def figures(self, threshold_s: float) -> QueueFigures:
        within = sum(1 for wait in self.waits if wait <= threshold_s)
        return QueueFigures(
            queued=self.queued,
            answered=len(self.waits),
            answered_within=within,
            abandoned=self.abandoned,
            service_level=_ratio(within, len(self.waits) + self.abandoned),
            asa_s=_ratio(sum(self.waits), len(self.waits)),
            aht_s=_ratio(sum(self.handles), len(self.handles)),
            abandonment_rate=_ratio(self.abandoned, self.queued),
        )


def _nps(scores: Iterable[int]) -> float | None:
    counted = list(scores)
    if not counted:
        return None
    promoters = sum(1 for s in counted if s >= 9)
    detractors = sum(1 for s in counted if s <= 6)
    return 100 * (promoters - detractors) / len(counted)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None
