"""Events in, series out: the metrics service's handler of every event topic.

Each event moves the counters and histograms of `Series`, which are counted in Redis
(services.metrics.counts); what an event alone cannot tell (a queue's threshold, an agent's state
before a change, a ticket's status and creation) comes from `MetricsState`, which also holds the
status counts exported at scrape time. Labels are the enum values as lower-case words
(CHANNEL_VOICE is "voice"); ids never are.

Events are handled in batches (one event is a batch of one), each event queuing its Redis work on
the batch's one round trip, in event order: its state changes, and its counts in the script that
makes the mark they are counted once on (the event's delivery, the contact's answer, the agent's
change newer than the last applied, the ticket's first-contact solve or reopen). The gauges an
event sets are set once the trip has run. A bad event ends the batch before it, queuing nothing:
the events before it are handled, and the bus hands it to `handle` on its own. A failed trip fails
its batch, and the bus hands the events back one by one: whatever Redis ran of the trip made its
marks with their counts, so an event delivered again, or handed back after a trip Redis ran
without replying, or after this process died, is counted once (the staffing workload aside, which
is at least once by design).

A survey answer off its scale, or an event without the instant its idempotence rests on, can never
be counted: it goes to the DLQ at once. Any other failure (Redis away) is retried, then
dead-lettered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import Gauge

from helpline.domain import from_timestamp
from helpline.events import Envelope, EventError
from helpline.logging import get_logger
from helpline.v1 import (
    agent_events_pb2,
    common_pb2,
    contact_events_pb2,
    feedback_events_pb2,
    queue_events_pb2,
    sla_events_pb2,
    ticket_events_pb2,
)
from services.metrics import labels as enum_labels
from services.metrics.counts import Family
from services.metrics.domain.errors import KpiError
from services.metrics.domain.kpis import (
    FCR_REOPEN_WINDOW,
    ServiceLevelRule,
    csat_satisfied,
    effort_score,
    nps_category,
)
from services.metrics.labels import (
    AGENT_STATES,
    sla_metric_label,
    ticket_status_label,
    tier_label,
    word,
)
from services.metrics.round_trip import Arg, Reply, RoundTrip
from services.metrics.series import QueueFigures, Series
from services.metrics.state import CLOSED, MetricsState, TicketFacts
from services.metrics.workload import QueueWorkload, WorkloadTally

log = get_logger(__name__)

# What an event does once its batch's round trip has run: set gauges, tell what Redis replied.
Apply = Callable[[], None]
# The counts an event makes on its first delivery: pairs of a field and its increment.
Moves = list[Arg]


@dataclass
class _Work:
    """What the events of one batch queue their Redis work on, and the event being planned (whose
    source and id name its delivery mark)."""

    trip: RoundTrip
    tally: WorkloadTally
    envelope: Envelope | None = None


# A route queues the event's Redis work, adds what its first delivery counts to the moves, and
# returns what is left to do once the trip has run.
_Route = Callable[[Any, str, _Work, Moves], Apply | None]

# Contacts enter a queue for the first time with these reasons; transfers, overflows, returns,
# hand-offs and re-queues are the same contact again, and callbacks keep the caller's first entry.
# An unspecified reason comes from a producer older than the field, which only knew first entries.
_FIRST_ENTRY = frozenset(
    {contact_events_pb2.QUEUE_ENTRY_REASON_UNSPECIFIED, contact_events_pb2.QUEUE_ENTRY_REASON_NEW}
)
# Entries that bring the queue work for staffing: the first ones, and contacts moved in from another
# queue; a return or re-queue is the same entry again.
_STAFFING_ENTRY = _FIRST_ENTRY | {
    contact_events_pb2.QUEUE_ENTRY_REASON_TRANSFER,
    contact_events_pb2.QUEUE_ENTRY_REASON_OVERFLOW,
    contact_events_pb2.QUEUE_ENTRY_REASON_HAND_OFF,
}


# The labels of every contact and agent event: remembered, as there are few values of each, within a
# bound that events with made-up enum values cannot push past.
channel_label = lru_cache(maxsize=64)(enum_labels.channel_label)
department_label = lru_cache(maxsize=64)(enum_labels.department_label)
agent_state_label = lru_cache(maxsize=64)(enum_labels.agent_state_label)


def _seconds(duration: Duration) -> float:
    """The duration's `ToTimedelta().total_seconds()`, without the timedelta: a fifth of the cost."""
    return (duration.seconds * 1_000_000 + int(duration.nanos / 1000)) / 1_000_000


class MetricsEvents:
    def __init__(
        self,
        series: Series,
        state: MetricsState,
        workload: QueueWorkload,
        short_abandon: timedelta = timedelta(0),
        fcr_window: timedelta = FCR_REOPEN_WINDOW,
    ) -> None:
        self.series = series
        self.state = state
        self.workload = workload
        self.rule = ServiceLevelRule(short_abandon_threshold=short_abandon)
        self.counts = series.counts
        self.fcr_window = fcr_window
        self._gauges: dict[tuple[Gauge, tuple[str, ...]], Gauge] = {}
        c, a, q, t, s = (
            contact_events_pb2,
            agent_events_pb2,
            queue_events_pb2,
            ticket_events_pb2,
            sla_events_pb2,
        )
        self._routes: dict[type[Message], _Route] = {
            c.ContactReceived: self._received,
            c.ContactSelfServed: self._self_served,
            c.ContactQueued: self._queued,
            c.ContactConnected: self._connected,
            c.ContactAbandoned: self._abandoned,
            c.ContactTransferred: self._transferred,
            c.ContactHandedOff: self._contact_handed_off,
            c.ContactTimedOut: self._timed_out,
            c.ContactAfterHours: self._after_hours,
            c.ContactCallbackScheduled: self._callback_scheduled,
            c.ContactCompleted: self._completed,
            a.AgentStatusChanged: self._agent_status,
            a.AgentRemoved: self._agent_removed,
            a.AgentStateChanged: self._agent_state,
            q.QueueSnapshot: self._snapshot,
            q.QueueConfigured: self._queue_configured,
            q.QueueRemoved: self._queue_removed,
            t.TicketCreated: self._ticket_created,
            t.TicketStatusChanged: self._ticket_status,
            t.TicketClosed: self._ticket_closed,
            t.TicketSolved: self._ticket_solved,
            t.TicketReopened: self._ticket_reopened,
            t.TicketCommented: self._ticket_commented,
            t.TicketEscalated: self._ticket_escalated,
            t.TicketHandedOff: self._ticket_handed_off,
            s.SlaApplied: self._sla_applied,
            s.SlaWarning: self._sla_warning,
            s.SlaBreached: self._sla_breached,
            s.SlaFulfilled: self._sla_fulfilled,
            s.SlaQueueWarning: self._sla_queue_warning,
            s.SlaQueueBreached: self._sla_queue_breached,
            feedback_events_pb2.SurveyAnswered: self._survey_answered,
        }

    def handle(self, envelope: Envelope) -> None:
        """One event, on a round trip of its own; a bad one raises EventError, for the DLQ."""
        self._handle(lambda work: [self._plan(envelope, work)])

    def handle_batch(self, envelopes: Sequence[Envelope]) -> int:
        """Events in order, on one round trip; how many were handled: all of them, or those before
        the first that could not be worked out, which the bus then handles on its own."""
        return len(self._handle(lambda work: self._plan_while_good(envelopes, work)))

    def _plan_while_good(self, envelopes: Sequence[Envelope], work: _Work) -> list[Apply | None]:
        moves = []
        for envelope in envelopes:
            try:
                moves.append(self._plan(envelope, work))
            # Whatever it is, the bus's record handler meets it again, with its retries and DLQ. A
            # route works out all it can fail on before it queues any Redis work, so the event
            # left nothing behind.
            except Exception:
                break
        return moves

    def _handle(self, plan: Callable[[_Work], list[Apply | None]]) -> list[Apply | None]:
        with RoundTrip(self.state.client) as trip:
            work = _Work(trip, self.workload.tally())
            applies = plan(work)
            work.tally.send(trip)
            self.counts.keep(trip)
            trip.run()
        for apply in applies:
            if apply is not None:
                apply()
        return applies

    def _gauge(self, family: Gauge, *values: str) -> Gauge:
        """The gauge's child of these label values, kept once made: `labels()` checks and copies
        its values and takes a lock on every call."""
        key = (family, values)
        child = self._gauges.get(key)
        if child is None:
            child = self._gauges[key] = family.labels(*values)
        return child

    def _plan(self, envelope: Envelope, work: _Work) -> Apply | None:
        route = self._routes.get(type(envelope.message))
        if route is None:
            return None
        tenant_id = envelope.tenant_id
        if not tenant_id:
            raise EventError(f"{envelope.type} {envelope.id} names no tenant")
        moves: Moves = []
        work.envelope = envelope
        try:
            apply = route(envelope.message, tenant_id, work, moves)
        except KpiError as exc:
            raise EventError(f"{envelope.type} {envelope.id}: {exc}") from exc
        if moves:
            # Delivery is at least once, and a count made twice stays wrong: a relay publishes again
            # what it could not acknowledge while Redis was away, a group hands over again what it
            # could not commit while Kafka was.
            self.state.delivered(work.trip, envelope.source, envelope.id, moves)
        return apply

    def _add(self, moves: Moves, family: Family, *labels: str) -> None:
        self.counts.add(moves, family, labels)

    # -- contacts --

    def _received(
        self, e: contact_events_pb2.ContactReceived, tenant: str, work: _Work, moves: Moves
    ) -> None:
        s = self.series
        self._add(
            moves, s.contacts_received, tenant, channel_label(e.channel), department_label(e.department)
        )

    def _self_served(
        self, e: contact_events_pb2.ContactSelfServed, tenant: str, work: _Work, moves: Moves
    ) -> None:
        self._add(moves, self.series.contacts_self_served, tenant, channel_label(e.channel))

    def _queued(self, e: contact_events_pb2.ContactQueued, tenant: str, work: _Work, moves: Moves) -> None:
        # The caller who chose a callback entered the queue already; the callback is that entry.
        if e.channel == common_pb2.CHANNEL_CALLBACK:
            return
        labels = (tenant, e.queue_id, channel_label(e.channel))
        if e.reason in _STAFFING_ENTRY:
            work.tally.arrived(labels, _instant(e, "queued_at"))
        if e.reason in _FIRST_ENTRY:
            self._add(moves, self.series.contacts_queued, *labels)

    def _connected(
        self, e: contact_events_pb2.ContactConnected, tenant: str, work: _Work, moves: Moves
    ) -> None:
        # Counted on the contact's first answer, not on the event's delivery: `moves` stays empty.
        s, labels = self.series, (tenant, e.queue_id, channel_label(e.channel))
        wait = _seconds(e.wait_duration)
        answered: Moves = []
        self.counts.add(answered, s.contacts_answered, labels)
        self.counts.observe(answered, s.queue_wait, labels, wait)
        within = self.counts.field(s.contacts_answered_in_threshold, labels)
        self.state.answered(work.trip, tenant, e.contact_id, e.queue_id, wait, within, answered)

    def _abandoned(
        self, e: contact_events_pb2.ContactAbandoned, tenant: str, work: _Work, moves: Moves
    ) -> None:
        if e.channel == common_pb2.CHANNEL_CALLBACK:
            return
        labels = (tenant, e.queue_id, channel_label(e.channel))
        self._add(moves, self.series.contacts_abandoned, *labels)
        if self.rule.is_short_abandon(e.wait_duration.ToTimedelta()):
            self._add(moves, self.series.contacts_abandoned_short, *labels)

    def _transferred(
        self, e: contact_events_pb2.ContactTransferred, tenant: str, work: _Work, moves: Moves
    ) -> None:
        # The event carries no channel; the queue transferred from is the one that lost the contact.
        self._add(moves, self.series.contacts_transferred, tenant, e.from_queue_id, "")

    def _contact_handed_off(
        self, e: contact_events_pb2.ContactHandedOff, tenant: str, work: _Work, moves: Moves
    ) -> None:
        self._add(
            moves,
            self.series.contacts_handed_off,
            tenant,
            department_label(e.from_department),
            department_label(e.to_department),
        )

    def _timed_out(
        self, e: contact_events_pb2.ContactTimedOut, tenant: str, work: _Work, moves: Moves
    ) -> None:
        self._add(moves, self.series.contacts_timed_out, tenant, e.queue_id, channel_label(e.channel))

    def _after_hours(
        self, e: contact_events_pb2.ContactAfterHours, tenant: str, work: _Work, moves: Moves
    ) -> None:
        self._add(moves, self.series.contacts_after_hours, tenant, e.queue_id, channel_label(e.channel))

    def _callback_scheduled(
        self, e: contact_events_pb2.ContactCallbackScheduled, tenant: str, work: _Work, moves: Moves
    ) -> None:
        self._add(moves, self.series.callbacks_scheduled, tenant, e.queue_id)

    def _completed(
        self, e: contact_events_pb2.ContactCompleted, tenant: str, work: _Work, moves: Moves
    ) -> None:
        s, labels = self.series, (tenant, e.queue_id, channel_label(e.channel))
        talk, hold, wrap_up = (
            _seconds(e.talk_duration),
            _seconds(e.hold_duration),
            _seconds(e.wrap_up_duration),
        )
        work.tally.handled(labels, timedelta(seconds=talk + hold + wrap_up), _instant(e, "completed_at"))
        self.counts.add(moves, s.contacts_completed, labels)
        self.counts.observe(moves, s.talk, labels, talk)
        self.counts.observe(moves, s.hold, labels, hold)
        self.counts.observe(moves, s.wrap_up, labels, wrap_up)
        self.counts.observe(moves, s.handle, labels, talk + hold + wrap_up)

    # -- agents --
    # Counted as the state changes, only when newer than the last applied: `moves` stays empty.

    def _agent_status(
        self, e: agent_events_pb2.AgentStatusChanged, tenant: str, work: _Work, moves: Moves
    ) -> None:
        status = word(common_pb2.AgentStatus, "AGENT_STATUS_", e.status)
        at = _required_ms(e, "changed_at")
        self.state.agent_status(work.trip, tenant, e.agent_id, status, at, self._state_time(tenant))

    def _agent_removed(
        self, e: agent_events_pb2.AgentRemoved, tenant: str, work: _Work, moves: Moves
    ) -> None:
        at = _required_ms(e, "removed_at")
        self.state.agent_status(work.trip, tenant, e.agent_id, "", at, self._state_time(tenant))

    def _agent_state(
        self, e: agent_events_pb2.AgentStateChanged, tenant: str, work: _Work, moves: Moves
    ) -> None:
        state = agent_state_label(e.state)
        at = _required_ms(e, "changed_at")
        self.state.agent_state(work.trip, tenant, e.agent_id, state, at, self._state_time(tenant))

    def _state_time(self, tenant: str) -> str:
        return self.counts.start(self.series.agent_state_seconds, (tenant,))

    # -- queues --

    def _snapshot(self, e: queue_events_pb2.QueueSnapshot, tenant: str, work: _Work, moves: Moves) -> Apply:
        labels = (tenant, e.queue_id, channel_label(e.channel))
        by_state = dict.fromkeys(AGENT_STATES, 0)
        for entry in e.agents_by_state:
            state = agent_state_label(entry.state)
            by_state[state] = by_state.get(state, 0) + entry.count
        figures = QueueFigures(e.depth, _seconds(e.oldest_contact_age), _seconds(e.estimated_wait), by_state)
        goal = self._goal(tenant, e.queue_id, [e.channel], e, work)

        def apply() -> None:
            self.series.snapshots.update(labels, figures)
            goal()

        return apply

    def _queue_configured(
        self, e: queue_events_pb2.QueueConfigured, tenant: str, work: _Work, moves: Moves
    ) -> Apply:
        return self._goal(tenant, e.queue_id, list(e.channels), e, work)

    def _queue_removed(
        self, e: queue_events_pb2.QueueRemoved, tenant: str, work: _Work, moves: Moves
    ) -> None:
        self.state.remove_queue(work.trip, tenant, e.queue_id)

    def _goal(self, tenant: str, queue_id: str, channels: list[int], e: Any, work: _Work) -> Apply:
        """The queue's channels and service-level goal, from its configuration or a snapshot: a
        threshold when the event has one, a target when it is set (0 is unset, from an older
        producer)."""
        names = [channel_label(c) for c in channels]
        threshold = e.service_level_threshold.ToTimedelta() if e.HasField("service_level_threshold") else None
        target = float(e.service_level_target)
        self.state.add_queue_channels(work.trip, tenant, queue_id, names)
        if threshold is not None:
            self.state.set_threshold(work.trip, tenant, queue_id, threshold)
        if target:
            self.state.set_target(work.trip, tenant, queue_id, target)

        def apply() -> None:
            for channel in names:
                if threshold is not None:
                    self._gauge(self.series.queue_threshold, tenant, queue_id, channel).set(
                        threshold.total_seconds()
                    )
                if target:
                    self._gauge(self.series.queue_target, tenant, queue_id, channel).set(target)

        return apply

    # -- tickets --

    def _ticket_created(
        self, e: ticket_events_pb2.TicketCreated, tenant: str, work: _Work, moves: Moves
    ) -> None:
        t = e.ticket
        channel, department = channel_label(t.channel), department_label(t.department)
        created_at = from_timestamp(t.created_at)
        priority = word(common_pb2.Priority, "PRIORITY_", t.priority)
        self.state.ticket_created(
            work.trip,
            tenant,
            t.ticket_id,
            t.version,
            ticket_status_label(t.status) or "new",
            created_at,
            TicketFacts(created_at, channel, department),
        )
        self._add(moves, self.series.tickets_created, tenant, channel, department, priority)

    def _ticket_status(
        self, e: ticket_events_pb2.TicketStatusChanged, tenant: str, work: _Work, moves: Moves
    ) -> None:
        self.state.ticket_status(work.trip, tenant, e.ticket_id, e.version, ticket_status_label(e.to_status))

    def _ticket_closed(
        self, e: ticket_events_pb2.TicketClosed, tenant: str, work: _Work, moves: Moves
    ) -> None:
        self.state.ticket_status(work.trip, tenant, e.ticket_id, e.version, CLOSED)

    def _ticket_solved(
        self, e: ticket_events_pb2.TicketSolved, tenant: str, work: _Work, moves: Moves
    ) -> None:
        s, labels = self.series, (tenant, channel_label(e.channel), department_label(e.department))
        solved_at = from_timestamp(e.solved_at)
        self.counts.add(moves, s.tickets_solved, labels)
        if e.HasField("created_at") and e.HasField("solved_at"):
            resolution = solved_at - from_timestamp(e.created_at)
            self.counts.observe(moves, s.ticket_resolution, labels, resolution.total_seconds())
        if e.contact_count == 1 and e.reopen_count == 0:
            # Counted on the ticket's first-contact solve, which a redelivery finds made.
            first_contact: Moves = []
            self.counts.add(first_contact, s.tickets_solved_first_contact, labels)
            self.state.first_contact_solve(work.trip, tenant, e.ticket_id, solved_at, first_contact)

    def _ticket_reopened(
        self, e: ticket_events_pb2.TicketReopened, tenant: str, work: _Work, moves: Moves
    ) -> None:
        s = self.series
        at = _us(e.reopened_at)
        within = self.counts.field(s.tickets_reopened_in_fcr_window, (tenant,))
        self.state.first_contact_reopened(work.trip, tenant, e.ticket_id, at, self.fcr_window, within)
        self._add(moves, s.tickets_reopened, tenant)

    def _ticket_commented(
        self, e: ticket_events_pb2.TicketCommented, tenant: str, work: _Work, moves: Moves
    ) -> Apply | None:
        if not e.first_response:
            return None
        # Observed on the event's first delivery, in the script that reads the ticket's creation:
        # `moves` stays empty.
        histogram = self.series.ticket_first_reply
        start = self.counts.start(histogram, (tenant,))
        assert work.envelope is not None
        observed = self.state.first_reply(
            work.trip,
            work.envelope,
            (tenant, e.ticket_id),
            _us(e.commented_at),
            (start, histogram.buckets),
        )
        return lambda: _untimed(observed, tenant, e.ticket_id)

    def _ticket_escalated(
        self, e: ticket_events_pb2.TicketEscalated, tenant: str, work: _Work, moves: Moves
    ) -> None:
        self._add(
            moves, self.series.tickets_escalated, tenant, tier_label(e.from_tier), tier_label(e.to_tier)
        )

    def _ticket_handed_off(
        self, e: ticket_events_pb2.TicketHandedOff, tenant: str, work: _Work, moves: Moves
    ) -> None:
        self._add(
            moves,
            self.series.tickets_handed_off,
            tenant,
            department_label(e.from_department),
            department_label(e.to_department),
        )

    # -- SLA --

    def _sla_applied(self, e: sla_events_pb2.SlaApplied, tenant: str, work: _Work, moves: Moves) -> None:
        self._add(moves, self.series.sla_applied, tenant, sla_metric_label(e.metric))

    def _sla_warning(self, e: sla_events_pb2.SlaWarning, tenant: str, work: _Work, moves: Moves) -> None:
        self._add(moves, self.series.sla_warned, tenant, sla_metric_label(e.metric))

    def _sla_breached(self, e: sla_events_pb2.SlaBreached, tenant: str, work: _Work, moves: Moves) -> None:
        self._add(moves, self.series.sla_breached, tenant, sla_metric_label(e.metric))

    def _sla_fulfilled(self, e: sla_events_pb2.SlaFulfilled, tenant: str, work: _Work, moves: Moves) -> None:
        late = "true" if e.breached else "false"
        self._add(moves, self.series.sla_fulfilled, tenant, sla_metric_label(e.metric), late)

    def _sla_queue_warning(
        self, e: sla_events_pb2.SlaQueueWarning, tenant: str, work: _Work, moves: Moves
    ) -> None:
        queue_id = e.queued_contact.queue_id
        self._add(moves, self.series.sla_queue_warned, tenant, queue_id, channel_label(e.channel))

    def _sla_queue_breached(
        self, e: sla_events_pb2.SlaQueueBreached, tenant: str, work: _Work, moves: Moves
    ) -> None:
        queue_id = e.queued_contact.queue_id
        self._add(moves, self.series.sla_queue_breached, tenant, queue_id, channel_label(e.channel))

    # -- surveys --

    def _survey_answered(
        self, e: feedback_events_pb2.SurveyAnswered, tenant: str, work: _Work, moves: Moves
    ) -> None:
        s = self.series
        if e.kind == common_pb2.SURVEY_KIND_CSAT:
            self._add(moves, s.csat_responses, tenant, "true" if csat_satisfied(e.score) else "false")
        elif e.kind == common_pb2.SURVEY_KIND_NPS:
            self._add(moves, s.nps_responses, tenant, nps_category(e.score))
        elif e.kind == common_pb2.SURVEY_KIND_CES:
            score = effort_score(e.score, e.scale_max)
            self._add(moves, s.ces_responses, tenant)
            self.counts.add(moves, s.ces_score, (tenant,), score)
        else:
            raise EventError(f"survey answer of kind {e.kind}, which is not CSAT, NPS or CES")


def _untimed(observed: Reply[int], tenant: str, ticket_id: str) -> None:
    if observed.get() == _NOT_KNOWN:
        log.info(
            "first reply of a ticket created before the metrics state; not timed",
            tenant=tenant,
            ticket_id=ticket_id,
        )


# What the first-reply script replies when the ticket's creation is not known.
_NOT_KNOWN = 2


def _instant(event: Any, field: str) -> datetime | None:
    return from_timestamp(getattr(event, field)) if event.HasField(field) else None


# The instants protobuf's Timestamp allows: years 1 to 9999.
_FIRST_SECOND, _LAST_SECOND = -62_135_596_800, 253_402_300_799


def _required_ms(event: Any, field: str) -> int:
    """The instant the event's idempotence rests on, in epoch milliseconds: exactly what
    `round(from_timestamp(stamp).timestamp() * 1000)` gives, as the agents' records in Redis were
    written with, without building the datetime (agent events come by the thousand a second)."""
    if not event.HasField(field):
        raise EventError(f"{type(event).__name__} without {field}")
    stamp: Timestamp = getattr(event, field)
    if not (_FIRST_SECOND <= stamp.seconds <= _LAST_SECOND and 0 <= stamp.nanos < 1_000_000_000):
        raise EventError(f"{type(event).__name__} with {field} out of range")
    return round((stamp.seconds * 1_000_000 + stamp.nanos // 1000) / 1_000_000 * 1000)


def _us(stamp: Timestamp) -> int:
    """The instant in epoch microseconds, exactly."""
    return stamp.seconds * 1_000_000 + stamp.nanos // 1000
