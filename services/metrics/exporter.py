"""Events in, series out: the metrics service's handler of every event topic.

Each event moves the counters and histograms of `Series`; what an event alone cannot tell (a queue's
threshold, an agent's state before a change, a ticket's status and creation) comes from
`MetricsState`, which also holds the status counts exported at scrape time. Labels are the enum
values as lower-case words (CHANNEL_VOICE is "voice"); ids never are.

Events are handled in batches (one event is a batch of one) in two steps. Each event first queues
what it needs from Redis on the batch's one round trip, in event order, and returns how it moves
its series; once the trip has run, those moves are made, in event order. A bad event ends the
batch before it, queuing nothing: the events before it are handled, and the bus hands it to
`handle` on its own. A failed trip fails its batch before any series moved, and the bus hands the
events back one by one. Every Redis change is idempotent, and every count is made on a mark the
trip made (the event's delivery, or the contact's answer: services.metrics.claims), so an event
delivered again, or handed back after a trip Redis ran without replying, is counted once (the
staffing workload aside, which is at least once by design).

A survey answer off its scale, or an event without the instant its idempotence rests on, can never
be counted: it goes to the DLQ at once. Any other failure (Redis away) is retried, then
dead-lettered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client.metrics import MetricWrapperBase

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
from services.metrics.claims import Claim, Claims
from services.metrics.domain.errors import KpiError
from services.metrics.domain.kpis import (
    FCR_REOPEN_WINDOW,
    ServiceLevelRule,
    csat_satisfied,
    effort_score,
    first_contact_resolved,
    nps_category,
)
from services.metrics.labels import (
    AGENT_STATES,
    sla_metric_label,
    ticket_status_label,
    tier_label,
    word,
)
from services.metrics.round_trip import RoundTrip
from services.metrics.series import QueueFigures, Series
from services.metrics.state import CLOSED, MetricsState, StateTime, TicketFacts
from services.metrics.workload import QueueWorkload, WorkloadTally

log = get_logger(__name__)

# How an event moves its series, once the Redis replies it waits for are in.
Apply = Callable[[], None]


@dataclass(frozen=True)
class _Work:
    """What the events of one batch queue their Redis work on, and the marks they claim there."""

    trip: RoundTrip
    tally: WorkloadTally
    # What the marks this trip makes hold (services.metrics.claims).
    token: str
    claims: list[Claim] = field(default_factory=list)


_Route = Callable[[Any, str, _Work], Apply | None]
_Family = TypeVar("_Family", bound=MetricWrapperBase)

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


# Events whose moves count once already, through the state they change: an answer through the
# contact's first-answer mark, an agent's change only when newer than the last applied; a
# configuration or snapshot sets gauges. Every other event's moves are counted once by its id.
_ONCE_BY_STATE = frozenset(
    {
        contact_events_pb2.ContactConnected,
        agent_events_pb2.AgentStatusChanged,
        agent_events_pb2.AgentRemoved,
        agent_events_pb2.AgentStateChanged,
        queue_events_pb2.QueueSnapshot,
        queue_events_pb2.QueueConfigured,
    }
)


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
        self.claims = Claims()
        self.fcr_window = fcr_window
        self._children: dict[tuple[MetricWrapperBase, tuple[str, ...]], Any] = {}
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
        self.state.read_thresholds()
        with RoundTrip(self.state.client) as trip:
            work = _Work(trip, self.workload.tally(), self.claims.token())
            try:
                moves = plan(work)
                work.tally.send(trip)
                trip.run()
            except Exception:
                self.claims.failed(work.claims)
                raise
        for move in moves:
            if move is not None:
                move()
        return moves

    def _child(self, family: _Family, *values: str) -> _Family:
        """The family's child of these label values, kept once made: `labels()` checks and copies
        its values and takes a lock on every call, and an event makes several."""
        key = (family, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*values)
        return child

    def _plan(self, envelope: Envelope, work: _Work) -> Apply | None:
        route = self._routes.get(type(envelope.message))
        if route is None:
            return None
        tenant_id = envelope.tenant_id
        if not tenant_id:
            raise EventError(f"{envelope.type} {envelope.id} names no tenant")
        try:
            move = route(envelope.message, tenant_id, work)
        except KpiError as exc:
            raise EventError(f"{envelope.type} {envelope.id}: {exc}") from exc
        if move is None or type(envelope.message) in _ONCE_BY_STATE:
            return move
        # Delivery is at least once, and a count made twice stays wrong: a relay publishes again
        # what it could not acknowledge while Redis was away, a group hands over again what it
        # could not commit while Kafka was.
        first = self._claim(
            work, self.state.first_delivery(work.trip, envelope.source, envelope.id, work.token)
        )

        def apply() -> None:
            if first():
                move()

        return apply

    def _claim(self, work: _Work, claim: Claim) -> Callable[[], bool]:
        """Whether the claim is won, asked once the trip has run."""
        work.claims.append(claim)
        return lambda: self.claims.won(claim)

    # -- contacts --

    def _received(self, e: contact_events_pb2.ContactReceived, tenant: str, work: _Work) -> Apply:
        return self._child(
            self.series.contacts_received, tenant, channel_label(e.channel), department_label(e.department)
        ).inc

    def _self_served(self, e: contact_events_pb2.ContactSelfServed, tenant: str, work: _Work) -> Apply:
        return self._child(self.series.contacts_self_served, tenant, channel_label(e.channel)).inc

    def _queued(self, e: contact_events_pb2.ContactQueued, tenant: str, work: _Work) -> Apply | None:
        # The caller who chose a callback entered the queue already; the callback is that entry.
        if e.channel == common_pb2.CHANNEL_CALLBACK:
            return None
        labels = (tenant, e.queue_id, channel_label(e.channel))
        if e.reason in _STAFFING_ENTRY:
            work.tally.arrived(labels, _instant(e, "queued_at"))
        if e.reason in _FIRST_ENTRY:
            return self._child(self.series.contacts_queued, *labels).inc
        return None

    def _connected(self, e: contact_events_pb2.ContactConnected, tenant: str, work: _Work) -> Apply:
        first = self._claim(work, self.state.first_answer(work.trip, tenant, e.contact_id, work.token))
        threshold = self.state.threshold(work.trip, tenant, e.queue_id)
        labels = (tenant, e.queue_id, channel_label(e.channel))
        wait = _seconds(e.wait_duration)

        def apply() -> None:
            if not first():
                return
            self._child(self.series.contacts_answered, *labels).inc()
            self._child(self.series.queue_wait, *labels).observe(wait)
            within = threshold.get()
            # A queue whose threshold was never seen has no "within X" to meet: the answer counts as
            # not within, so service level reads low (and visibly so) rather than high.
            if within is not None and wait <= within.total_seconds():
                self._child(self.series.contacts_answered_in_threshold, *labels).inc()

        return apply

    def _abandoned(self, e: contact_events_pb2.ContactAbandoned, tenant: str, work: _Work) -> Apply | None:
        if e.channel == common_pb2.CHANNEL_CALLBACK:
            return None
        labels = (tenant, e.queue_id, channel_label(e.channel))
        short = self.rule.is_short_abandon(e.wait_duration.ToTimedelta())

        def apply() -> None:
            self._child(self.series.contacts_abandoned, *labels).inc()
            if short:
                self._child(self.series.contacts_abandoned_short, *labels).inc()

        return apply

    def _transferred(self, e: contact_events_pb2.ContactTransferred, tenant: str, work: _Work) -> Apply:
        # The event carries no channel; the queue transferred from is the one that lost the contact.
        return self._child(self.series.contacts_transferred, tenant, e.from_queue_id, "").inc

    def _contact_handed_off(self, e: contact_events_pb2.ContactHandedOff, tenant: str, work: _Work) -> Apply:
        return self._child(
            self.series.contacts_handed_off,
            tenant,
            department_label(e.from_department),
            department_label(e.to_department),
        ).inc

    def _timed_out(self, e: contact_events_pb2.ContactTimedOut, tenant: str, work: _Work) -> Apply:
        return self._child(self.series.contacts_timed_out, tenant, e.queue_id, channel_label(e.channel)).inc

    def _callback_scheduled(
        self, e: contact_events_pb2.ContactCallbackScheduled, tenant: str, work: _Work
    ) -> Apply:
        return self._child(self.series.callbacks_scheduled, tenant, e.queue_id).inc

    def _completed(self, e: contact_events_pb2.ContactCompleted, tenant: str, work: _Work) -> Apply:
        labels = (tenant, e.queue_id, channel_label(e.channel))
        talk, hold, wrap_up = (
            _seconds(e.talk_duration),
            _seconds(e.hold_duration),
            _seconds(e.wrap_up_duration),
        )
        work.tally.handled(labels, timedelta(seconds=talk + hold + wrap_up), _instant(e, "completed_at"))

        def apply() -> None:
            s = self.series
            self._child(s.contacts_completed, *labels).inc()
            self._child(s.talk, *labels).observe(talk)
            self._child(s.hold, *labels).observe(hold)
            self._child(s.wrap_up, *labels).observe(wrap_up)
            self._child(s.handle, *labels).observe(talk + hold + wrap_up)

        return apply

    # -- agents --

    def _agent_status(self, e: agent_events_pb2.AgentStatusChanged, tenant: str, work: _Work) -> Apply:
        status = word(common_pb2.AgentStatus, "AGENT_STATUS_", e.status)
        closed = self.state.agent_status(work.trip, tenant, e.agent_id, status, _required_ms(e, "changed_at"))
        return lambda: self._count(tenant, closed.get())

    def _agent_removed(self, e: agent_events_pb2.AgentRemoved, tenant: str, work: _Work) -> Apply:
        closed = self.state.agent_status(work.trip, tenant, e.agent_id, "", _required_ms(e, "removed_at"))
        return lambda: self._count(tenant, closed.get())

    def _agent_state(self, e: agent_events_pb2.AgentStateChanged, tenant: str, work: _Work) -> Apply:
        state = agent_state_label(e.state)
        closed = self.state.agent_state(work.trip, tenant, e.agent_id, state, _required_ms(e, "changed_at"))
        return lambda: self._count(tenant, closed.get())

    def _count(self, tenant: str, stretch: StateTime | None) -> None:
        if stretch is not None:
            self._child(self.series.agent_state_seconds, tenant, stretch.status, stretch.state).inc(
                stretch.duration.total_seconds()
            )

    # -- queues --

    def _snapshot(self, e: queue_events_pb2.QueueSnapshot, tenant: str, work: _Work) -> Apply:
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

    def _queue_configured(self, e: queue_events_pb2.QueueConfigured, tenant: str, work: _Work) -> Apply:
        return self._goal(tenant, e.queue_id, list(e.channels), e, work)

    def _queue_removed(self, e: queue_events_pb2.QueueRemoved, tenant: str, work: _Work) -> None:
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
                    self._child(self.series.queue_threshold, tenant, queue_id, channel).set(
                        threshold.total_seconds()
                    )
                if target:
                    self._child(self.series.queue_target, tenant, queue_id, channel).set(target)

        return apply

    # -- tickets --

    def _ticket_created(self, e: ticket_events_pb2.TicketCreated, tenant: str, work: _Work) -> Apply:
        t = e.ticket
        channel, department = channel_label(t.channel), department_label(t.department)
        created_at = from_timestamp(t.created_at)
        self.state.ticket_created(
            work.trip,
            tenant,
            t.ticket_id,
            t.version,
            ticket_status_label(t.status) or "new",
            created_at,
            TicketFacts(created_at, channel, department),
        )
        return self._child(
            self.series.tickets_created,
            tenant,
            channel,
            department,
            word(common_pb2.Priority, "PRIORITY_", t.priority),
        ).inc

    def _ticket_status(self, e: ticket_events_pb2.TicketStatusChanged, tenant: str, work: _Work) -> None:
        self.state.ticket_status(work.trip, tenant, e.ticket_id, e.version, ticket_status_label(e.to_status))

    def _ticket_closed(self, e: ticket_events_pb2.TicketClosed, tenant: str, work: _Work) -> None:
        self.state.ticket_status(work.trip, tenant, e.ticket_id, e.version, CLOSED)

    def _ticket_solved(self, e: ticket_events_pb2.TicketSolved, tenant: str, work: _Work) -> Apply:
        labels = (tenant, channel_label(e.channel), department_label(e.department))
        solved_at = from_timestamp(e.solved_at)
        resolution = (
            solved_at - from_timestamp(e.created_at)
            if e.HasField("created_at") and e.HasField("solved_at")
            else None
        )
        first_contact = e.contact_count == 1 and e.reopen_count == 0
        first = (
            self.state.first_contact_solve(work.trip, tenant, e.ticket_id, solved_at)
            if first_contact
            else None
        )

        def apply() -> None:
            self._child(self.series.tickets_solved, *labels).inc()
            if resolution is not None:
                self._child(self.series.ticket_resolution, *labels).observe(resolution.total_seconds())
            if first is not None and first.get():
                self._child(self.series.tickets_solved_first_contact, *labels).inc()

        return apply

    def _ticket_reopened(self, e: ticket_events_pb2.TicketReopened, tenant: str, work: _Work) -> Apply:
        reopened_at = from_timestamp(e.reopened_at)
        solved = self.state.first_contact_reopened(work.trip, tenant, e.ticket_id)

        def apply() -> None:
            self._child(self.series.tickets_reopened, tenant).inc()
            solved_at = solved.get()
            if solved_at is None:
                return
            reopened_after = max(reopened_at - solved_at, timedelta(0))
            if not first_contact_resolved(1, reopened_after, self.fcr_window):
                self._child(self.series.tickets_reopened_in_fcr_window, tenant).inc()

        return apply

    def _ticket_commented(
        self, e: ticket_events_pb2.TicketCommented, tenant: str, work: _Work
    ) -> Apply | None:
        if not e.first_response:
            return None
        commented_at = from_timestamp(e.commented_at)
        facts = self.state.ticket_facts(work.trip, tenant, e.ticket_id)

        def apply() -> None:
            known = facts.get()
            if known is None:
                log.info(
                    "first reply of a ticket created before the metrics state; not timed",
                    tenant=tenant,
                    ticket_id=e.ticket_id,
                )
                return
            first_reply = commented_at - known.created_at
            self._child(self.series.ticket_first_reply, tenant, known.channel, known.department).observe(
                max(first_reply.total_seconds(), 0.0)
            )

        return apply

    def _ticket_escalated(self, e: ticket_events_pb2.TicketEscalated, tenant: str, work: _Work) -> Apply:
        return self._child(
            self.series.tickets_escalated, tenant, tier_label(e.from_tier), tier_label(e.to_tier)
        ).inc

    def _ticket_handed_off(self, e: ticket_events_pb2.TicketHandedOff, tenant: str, work: _Work) -> Apply:
        return self._child(
            self.series.tickets_handed_off,
            tenant,
            department_label(e.from_department),
            department_label(e.to_department),
        ).inc

    # -- SLA --

    def _sla_applied(self, e: sla_events_pb2.SlaApplied, tenant: str, work: _Work) -> Apply:
        return self._child(self.series.sla_applied, tenant, sla_metric_label(e.metric)).inc

    def _sla_warning(self, e: sla_events_pb2.SlaWarning, tenant: str, work: _Work) -> Apply:
        return self._child(self.series.sla_warned, tenant, sla_metric_label(e.metric)).inc

    def _sla_breached(self, e: sla_events_pb2.SlaBreached, tenant: str, work: _Work) -> Apply:
        return self._child(self.series.sla_breached, tenant, sla_metric_label(e.metric)).inc

    def _sla_fulfilled(self, e: sla_events_pb2.SlaFulfilled, tenant: str, work: _Work) -> Apply:
        return self._child(
            self.series.sla_fulfilled, tenant, sla_metric_label(e.metric), "true" if e.breached else "false"
        ).inc

    def _sla_queue_warning(self, e: sla_events_pb2.SlaQueueWarning, tenant: str, work: _Work) -> Apply:
        return self._child(
            self.series.sla_queue_warned, tenant, e.queued_contact.queue_id, channel_label(e.channel)
        ).inc

    def _sla_queue_breached(self, e: sla_events_pb2.SlaQueueBreached, tenant: str, work: _Work) -> Apply:
        return self._child(
            self.series.sla_queue_breached, tenant, e.queued_contact.queue_id, channel_label(e.channel)
        ).inc

    # -- surveys --

    def _survey_answered(self, e: feedback_events_pb2.SurveyAnswered, tenant: str, work: _Work) -> Apply:
        if e.kind == common_pb2.SURVEY_KIND_CSAT:
            satisfied = csat_satisfied(e.score)
            return self._child(self.series.csat_responses, tenant, "true" if satisfied else "false").inc
        if e.kind == common_pb2.SURVEY_KIND_NPS:
            return self._child(self.series.nps_responses, tenant, nps_category(e.score)).inc
        if e.kind == common_pb2.SURVEY_KIND_CES:
            score = effort_score(e.score, e.scale_max)
            responses, scores = (
                self._child(self.series.ces_responses, tenant),
                self._child(self.series.ces_score, tenant),
            )

            def apply() -> None:
                responses.inc()
                scores.inc(score)

            return apply
        raise EventError(f"survey answer of kind {e.kind}, which is not CSAT, NPS or CES")


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
