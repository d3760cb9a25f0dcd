"""Events in, series out: the metrics service's handler of every event topic.

Each event moves the counters and histograms of `Series`; what an event alone cannot tell (a queue's
threshold, an agent's state before a change, a ticket's status and creation) comes from
`MetricsState`, which also holds the status counts exported at scrape time. Labels are the enum
values as lower-case words (CHANNEL_VOICE is "voice"); ids never are.

A survey answer off its scale, or an event without the instant its idempotence rests on, can never
be counted: it goes to the DLQ at once. Any other failure (Redis away) is retried, then
dead-lettered.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.message import Message

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
from services.metrics.domain.errors import KpiError
from services.metrics.domain.kpis import (
    ServiceLevelRule,
    csat_satisfied,
    effort_score,
    first_contact_resolved,
    nps_category,
)
from services.metrics.labels import (
    AGENT_STATES,
    agent_state_label,
    channel_label,
    department_label,
    sla_metric_label,
    ticket_status_label,
    tier_label,
    word,
)
from services.metrics.series import Series
from services.metrics.state import CLOSED, MetricsState, StateTime, TicketFacts
from services.metrics.workload import QueueWorkload

log = get_logger(__name__)

_Route = Callable[[Any, str], None]

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


def _seconds(duration: Any) -> float:
    return float(duration.ToTimedelta().total_seconds())


class MetricsEvents:
    def __init__(
        self,
        series: Series,
        state: MetricsState,
        workload: QueueWorkload,
        short_abandon: timedelta = timedelta(0),
    ) -> None:
        self.series = series
        self.state = state
        self.workload = workload
        self.rule = ServiceLevelRule(short_abandon_threshold=short_abandon)
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
        route = self._routes.get(type(envelope.message))
        if route is None:
            return
        tenant_id = envelope.tenant_id
        if not tenant_id:
            raise EventError(f"{envelope.type} {envelope.id} names no tenant")
        try:
            route(envelope.message, tenant_id)
        except KpiError as exc:
            raise EventError(f"{envelope.type} {envelope.id}: {exc}") from exc

    # -- contacts --

    def _received(self, e: contact_events_pb2.ContactReceived, tenant: str) -> None:
        self.series.contacts_received.labels(
            tenant, channel_label(e.channel), department_label(e.department)
        ).inc()

    def _self_served(self, e: contact_events_pb2.ContactSelfServed, tenant: str) -> None:
        self.series.contacts_self_served.labels(tenant, channel_label(e.channel)).inc()

    def _queued(self, e: contact_events_pb2.ContactQueued, tenant: str) -> None:
        # The caller who chose a callback entered the queue already; the callback is that entry.
        if e.channel == common_pb2.CHANNEL_CALLBACK:
            return
        labels = (tenant, e.queue_id, channel_label(e.channel))
        if e.reason in _FIRST_ENTRY:
            self.series.contacts_queued.labels(*labels).inc()
        if e.reason in _STAFFING_ENTRY:
            self.workload.arrived(labels, _instant(e, "queued_at"))

    def _connected(self, e: contact_events_pb2.ContactConnected, tenant: str) -> None:
        if not self.state.first_answer(tenant, e.contact_id):
            return
        labels = (tenant, e.queue_id, channel_label(e.channel))
        wait = e.wait_duration.ToTimedelta()
        self.series.contacts_answered.labels(*labels).inc()
        self.series.queue_wait.labels(*labels).observe(wait.total_seconds())
        threshold = self.state.threshold(tenant, e.queue_id)
        # A queue whose threshold was never seen has no "within X" to meet: the answer counts as not
        # within, so service level reads low (and visibly so) rather than high.
        if threshold is not None and wait <= threshold:
            self.series.contacts_answered_in_threshold.labels(*labels).inc()

    def _abandoned(self, e: contact_events_pb2.ContactAbandoned, tenant: str) -> None:
        if e.channel == common_pb2.CHANNEL_CALLBACK:
            return
        labels = (tenant, e.queue_id, channel_label(e.channel))
        self.series.contacts_abandoned.labels(*labels).inc()
        if self.rule.is_short_abandon(e.wait_duration.ToTimedelta()):
            self.series.contacts_abandoned_short.labels(*labels).inc()

    def _transferred(self, e: contact_events_pb2.ContactTransferred, tenant: str) -> None:
        # The event carries no channel; the queue transferred from is the one that lost the contact.
        self.series.contacts_transferred.labels(tenant, e.from_queue_id, "").inc()

    def _contact_handed_off(self, e: contact_events_pb2.ContactHandedOff, tenant: str) -> None:
        self.series.contacts_handed_off.labels(
            tenant, department_label(e.from_department), department_label(e.to_department)
        ).inc()

    def _timed_out(self, e: contact_events_pb2.ContactTimedOut, tenant: str) -> None:
        self.series.contacts_timed_out.labels(tenant, e.queue_id, channel_label(e.channel)).inc()

    def _callback_scheduled(self, e: contact_events_pb2.ContactCallbackScheduled, tenant: str) -> None:
        self.series.callbacks_scheduled.labels(tenant, e.queue_id).inc()

    def _completed(self, e: contact_events_pb2.ContactCompleted, tenant: str) -> None:
        labels = (tenant, e.queue_id, channel_label(e.channel))
        talk, hold, wrap_up = (
            _seconds(e.talk_duration),
            _seconds(e.hold_duration),
            _seconds(e.wrap_up_duration),
        )
        self.series.contacts_completed.labels(*labels).inc()
        self.series.talk.labels(*labels).observe(talk)
        self.series.hold.labels(*labels).observe(hold)
        self.series.wrap_up.labels(*labels).observe(wrap_up)
        self.series.handle.labels(*labels).observe(talk + hold + wrap_up)
        self.workload.handled(labels, timedelta(seconds=talk + hold + wrap_up), _instant(e, "completed_at"))

    # -- agents --

    def _agent_status(self, e: agent_events_pb2.AgentStatusChanged, tenant: str) -> None:
        status = word(common_pb2.AgentStatus, "AGENT_STATUS_", e.status)
        self._count(
            tenant, self.state.agent_status(tenant, e.agent_id, status, _required_instant(e, "changed_at"))
        )

    def _agent_removed(self, e: agent_events_pb2.AgentRemoved, tenant: str) -> None:
        self._count(
            tenant, self.state.agent_status(tenant, e.agent_id, "", _required_instant(e, "removed_at"))
        )

    def _agent_state(self, e: agent_events_pb2.AgentStateChanged, tenant: str) -> None:
        state = agent_state_label(e.state)
        self._count(
            tenant, self.state.agent_state(tenant, e.agent_id, state, _required_instant(e, "changed_at"))
        )

    def _count(self, tenant: str, stretch: StateTime | None) -> None:
        if stretch is not None:
            self.series.agent_state_seconds.labels(tenant, stretch.status, stretch.state).inc(
                stretch.duration.total_seconds()
            )

    # -- queues --

    def _snapshot(self, e: queue_events_pb2.QueueSnapshot, tenant: str) -> None:
        labels = (tenant, e.queue_id, channel_label(e.channel))
        s = self.series
        s.queue_depth.labels(*labels).set(e.depth)
        s.queue_oldest_age.labels(*labels).set(_seconds(e.oldest_contact_age))
        s.queue_estimated_wait.labels(*labels).set(_seconds(e.estimated_wait))
        by_state = dict.fromkeys(AGENT_STATES, 0)
        for entry in e.agents_by_state:
            state = agent_state_label(entry.state)
            by_state[state] = by_state.get(state, 0) + entry.count
        for state, count in by_state.items():
            s.queue_agents.labels(*labels, state).set(count)
        # The snapshot counts only the agents not offline, so its states add up to those staffed.
        s.staffed_agents.labels(*labels).set(sum(by_state.values()))
        self._goal(tenant, e.queue_id, [e.channel], e)

    def _queue_configured(self, e: queue_events_pb2.QueueConfigured, tenant: str) -> None:
        self._goal(tenant, e.queue_id, list(e.channels), e)

    def _goal(self, tenant: str, queue_id: str, channels: list[int], e: Any) -> None:
        """The queue's channels and service-level goal, from its configuration or a snapshot: a
        threshold when the event has one, a target when it is set (0 is unset, from an older
        producer)."""
        self.state.add_queue_channels(tenant, queue_id, [channel_label(c) for c in channels])
        if e.HasField("service_level_threshold"):
            threshold = e.service_level_threshold.ToTimedelta()
            self.state.set_threshold(tenant, queue_id, threshold)
            for channel in channels:
                self.series.queue_threshold.labels(tenant, queue_id, channel_label(channel)).set(
                    threshold.total_seconds()
                )
        if e.service_level_target:
            self.state.set_target(tenant, queue_id, e.service_level_target)
            for channel in channels:
                self.series.queue_target.labels(tenant, queue_id, channel_label(channel)).set(
                    e.service_level_target
                )

    # -- tickets --

    def _ticket_created(self, e: ticket_events_pb2.TicketCreated, tenant: str) -> None:
        t = e.ticket
        channel, department = channel_label(t.channel), department_label(t.department)
        self.series.tickets_created.labels(
            tenant, channel, department, word(common_pb2.Priority, "PRIORITY_", t.priority)
        ).inc()
        created_at = from_timestamp(t.created_at)
        self.state.ticket_created(
            tenant,
            t.ticket_id,
            t.version,
            ticket_status_label(t.status) or "new",
            created_at,
            TicketFacts(created_at, channel, department),
        )

    def _ticket_status(self, e: ticket_events_pb2.TicketStatusChanged, tenant: str) -> None:
        self.state.ticket_status(tenant, e.ticket_id, e.version, ticket_status_label(e.to_status))

    def _ticket_closed(self, e: ticket_events_pb2.TicketClosed, tenant: str) -> None:
        self.state.ticket_status(tenant, e.ticket_id, e.version, CLOSED)

    def _ticket_solved(self, e: ticket_events_pb2.TicketSolved, tenant: str) -> None:
        labels = (tenant, channel_label(e.channel), department_label(e.department))
        solved_at = from_timestamp(e.solved_at)
        self.series.tickets_solved.labels(*labels).inc()
        if e.HasField("created_at") and e.HasField("solved_at"):
            resolution = solved_at - from_timestamp(e.created_at)
            self.series.ticket_resolution.labels(*labels).observe(resolution.total_seconds())
        first_contact = e.contact_count == 1 and e.reopen_count == 0
        if first_contact and self.state.first_contact_solve(tenant, e.ticket_id, solved_at):
            self.series.tickets_solved_first_contact.labels(*labels).inc()

    def _ticket_reopened(self, e: ticket_events_pb2.TicketReopened, tenant: str) -> None:
        self.series.tickets_reopened.labels(tenant).inc()
        solved_at = self.state.first_contact_reopened(tenant, e.ticket_id)
        if solved_at is None:
            return
        reopened_after = max(from_timestamp(e.reopened_at) - solved_at, timedelta(0))
        if not first_contact_resolved(1, reopened_after):
            self.series.tickets_reopened_in_fcr_window.labels(tenant).inc()

    def _ticket_commented(self, e: ticket_events_pb2.TicketCommented, tenant: str) -> None:
        if not e.first_response:
            return
        facts = self.state.ticket_facts(tenant, e.ticket_id)
        if facts is None:
            log.info(
                "first reply of a ticket created before the metrics state; not timed", ticket_id=e.ticket_id
            )
            return
        first_reply = from_timestamp(e.commented_at) - facts.created_at
        self.series.ticket_first_reply.labels(tenant, facts.channel, facts.department).observe(
            max(first_reply.total_seconds(), 0.0)
        )

    def _ticket_escalated(self, e: ticket_events_pb2.TicketEscalated, tenant: str) -> None:
        self.series.tickets_escalated.labels(tenant, tier_label(e.from_tier), tier_label(e.to_tier)).inc()

    def _ticket_handed_off(self, e: ticket_events_pb2.TicketHandedOff, tenant: str) -> None:
        self.series.tickets_handed_off.labels(
            tenant, department_label(e.from_department), department_label(e.to_department)
        ).inc()

    # -- SLA --

    def _sla_applied(self, e: sla_events_pb2.SlaApplied, tenant: str) -> None:
        self.series.sla_applied.labels(tenant, sla_metric_label(e.metric)).inc()

    def _sla_warning(self, e: sla_events_pb2.SlaWarning, tenant: str) -> None:
        self.series.sla_warned.labels(tenant, sla_metric_label(e.metric)).inc()

    def _sla_breached(self, e: sla_events_pb2.SlaBreached, tenant: str) -> None:
        self.series.sla_breached.labels(tenant, sla_metric_label(e.metric)).inc()

    def _sla_fulfilled(self, e: sla_events_pb2.SlaFulfilled, tenant: str) -> None:
        self.series.sla_fulfilled.labels(
            tenant, sla_metric_label(e.metric), "true" if e.breached else "false"
        ).inc()

    def _sla_queue_warning(self, e: sla_events_pb2.SlaQueueWarning, tenant: str) -> None:
        self.series.sla_queue_warned.labels(tenant, e.queued_contact.queue_id, channel_label(e.channel)).inc()

    def _sla_queue_breached(self, e: sla_events_pb2.SlaQueueBreached, tenant: str) -> None:
        self.series.sla_queue_breached.labels(
            tenant, e.queued_contact.queue_id, channel_label(e.channel)
        ).inc()

    # -- surveys --

    def _survey_answered(self, e: feedback_events_pb2.SurveyAnswered, tenant: str) -> None:
        if e.kind == common_pb2.SURVEY_KIND_CSAT:
            satisfied = csat_satisfied(e.score)
            self.series.csat_responses.labels(tenant, "true" if satisfied else "false").inc()
        elif e.kind == common_pb2.SURVEY_KIND_NPS:
            self.series.nps_responses.labels(tenant, nps_category(e.score)).inc()
        elif e.kind == common_pb2.SURVEY_KIND_CES:
            score = effort_score(e.score, e.scale_max)
            self.series.ces_responses.labels(tenant).inc()
            self.series.ces_score.labels(tenant).inc(score)
        else:
            raise EventError(f"survey answer of kind {e.kind}, which is not CSAT, NPS or CES")


def _instant(event: Any, field: str) -> datetime | None:
    return from_timestamp(getattr(event, field)) if event.HasField(field) else None


def _required_instant(event: Any, field: str) -> datetime:
    """The event's instant that its idempotence rests on; without it the change cannot be ordered."""
    instant = _instant(event, field)
    if instant is None:
        raise EventError(f"{type(event).__name__} without {field}")
    return instant
