"""The exporter on the real Redis: scripted events with known KPIs in, exact series out, and the
state-derived figures unchanged by redelivery and the same from every replica."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from google.protobuf.message import Message
from prometheus_client import CollectorRegistry

from helpline.clock import FakeClock
from helpline.domain import timestamp
from helpline.events import Envelope, EventError, new_event
from helpline.v1 import (
    agent_events_pb2,
    common_pb2,
    contact_events_pb2,
    feedback_events_pb2,
    queue_events_pb2,
    sla_events_pb2,
    ticket_events_pb2,
)
from services.metrics.app import MetricsSettings, exporter
from services.metrics.domain import erlang
from services.metrics.domain.kpis import ServiceLevelRule, service_level

START = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)
SHORT_ABANDON = timedelta(seconds=5)
STAFFING_WINDOW = timedelta(minutes=30)
c, a, q, t, s = contact_events_pb2, agent_events_pb2, queue_events_pb2, ticket_events_pb2, sla_events_pb2


class Replica:
    """One exporter with its own registry, as one replica of the service has."""

    def __init__(
        self,
        client: redis.Redis,
        clock: FakeClock | None = None,
        name: str | None = None,
        **settings_: Any,
    ) -> None:
        self.registry = CollectorRegistry()
        self.clock = clock or FakeClock(START)
        self.name = name or f"replica-{uuid.uuid4().hex}"
        settings = MetricsSettings(
            service_name="metrics",
            replica_name=self.name,
            short_abandon_seconds=SHORT_ABANDON.total_seconds(),
            staffing_window_seconds=int(STAFFING_WINDOW.total_seconds()),
            **settings_,
        )
        self.events = exporter(settings, client, self.registry, self.clock)
        self.delivered: list[Envelope] = []

    def deliver(self, message: Message) -> None:
        envelope = new_event(message, source="/test")
        self.delivered.append(envelope)
        self.events.handle(envelope)

    def value(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


@pytest.fixture
def tenant(unique: str) -> str:
    return f"t{unique}"


@pytest.fixture
def replica(redis_client: redis.Redis) -> Replica:
    return Replica(redis_client)


def _at(seconds: float) -> Any:
    return timestamp(START + timedelta(seconds=seconds))


def _duration(seconds: float, message: Message, field: str) -> None:
    getattr(message, field).FromTimedelta(timedelta(seconds=seconds))


def _contact(replica: Replica, tenant: str, contact_id: str, queue_id: str = "q1") -> None:
    replica.deliver(
        c.ContactReceived(
            tenant_id=tenant,
            contact_id=contact_id,
            channel=common_pb2.CHANNEL_VOICE,
            department=common_pb2.DEPARTMENT_SUPPORT,
        )
    )
    replica.deliver(
        c.ContactQueued(
            tenant_id=tenant,
            contact_id=contact_id,
            queue_id=queue_id,
            channel=common_pb2.CHANNEL_VOICE,
            reason=c.QUEUE_ENTRY_REASON_NEW,
        )
    )


def _connected(replica: Replica, tenant: str, contact_id: str, wait: float, queue_id: str = "q1") -> None:
    connected = c.ContactConnected(
        tenant_id=tenant, contact_id=contact_id, queue_id=queue_id, channel=common_pb2.CHANNEL_VOICE
    )
    _duration(wait, connected, "wait_duration")
    replica.deliver(connected)


def _configure_queue(replica: Replica, tenant: str, threshold: float) -> None:
    configured = q.QueueConfigured(
        tenant_id=tenant, queue_id="q1", channels=[common_pb2.CHANNEL_VOICE], version=1
    )
    _duration(threshold, configured, "service_level_threshold")
    replica.deliver(configured)


def test_contacts_give_service_level_asa_and_aht(replica: Replica, tenant: str) -> None:
    _configure_queue(replica, tenant, 20)
    waits = [5, 10, 15, 20, 3, 8, 25, 40]
    for n, wait in enumerate(waits):
        _contact(replica, tenant, f"c{n}")
        _connected(replica, tenant, f"c{n}", wait)
    for n, wait in ((8, 3), (9, 30)):
        _contact(replica, tenant, f"c{n}")
        abandoned = c.ContactAbandoned(
            tenant_id=tenant, contact_id=f"c{n}", queue_id="q1", channel=common_pb2.CHANNEL_VOICE
        )
        _duration(wait, abandoned, "wait_duration")
        replica.deliver(abandoned)
    # A transfer puts c0 in a queue again and connects it again: still one entry, one answer.
    replica.deliver(
        c.ContactQueued(
            tenant_id=tenant,
            contact_id="c0",
            queue_id="q1",
            channel=common_pb2.CHANNEL_VOICE,
            reason=c.QUEUE_ENTRY_REASON_TRANSFER,
        )
    )
    _connected(replica, tenant, "c0", 50)
    # A callback keeps the caller's first entry, and is neither queued nor abandoned again.
    replica.deliver(
        c.ContactQueued(
            tenant_id=tenant,
            contact_id="cb",
            queue_id="q1",
            channel=common_pb2.CHANNEL_CALLBACK,
            reason=c.QUEUE_ENTRY_REASON_CALLBACK,
        )
    )
    replica.deliver(
        c.ContactAbandoned(
            tenant_id=tenant, contact_id="cb", queue_id="q1", channel=common_pb2.CHANNEL_CALLBACK
        )
    )
    for talk, hold, wrap_up in ((100, 20, 30), (200, 0, 50)):
        completed = c.ContactCompleted(tenant_id=tenant, queue_id="q1", channel=common_pb2.CHANNEL_VOICE)
        _duration(talk, completed, "talk_duration")
        _duration(hold, completed, "hold_duration")
        _duration(wrap_up, completed, "wrap_up_duration")
        replica.deliver(completed)

    labels = {"tenant": tenant, "queue": "q1", "channel": "voice"}
    v = replica.value
    assert v("helpline_contacts_received_total", tenant=tenant, channel="voice", department="support") == 10
    assert v("helpline_contacts_queued_total", **labels) == 10
    assert v("helpline_contacts_answered_total", **labels) == 8
    assert v("helpline_contacts_answered_in_threshold_total", **labels) == 6
    assert v("helpline_contacts_abandoned_total", **labels) == 2
    assert v("helpline_contacts_abandoned_short_total", **labels) == 1
    assert v("helpline_queue_service_level_threshold_seconds", **labels) == 20
    level = service_level(
        ServiceLevelRule(),
        answered_within=int(v("helpline_contacts_answered_in_threshold_total", **labels) or 0),
        answered=int(v("helpline_contacts_answered_total", **labels) or 0),
        abandoned=int(v("helpline_contacts_abandoned_total", **labels) or 0),
    )
    assert level == pytest.approx(0.6)
    wait_sum = v("helpline_contact_queue_wait_seconds_sum", **labels)
    assert wait_sum == sum(waits)
    assert v("helpline_contact_queue_wait_seconds_count", **labels) == 8
    assert v("helpline_contact_queue_wait_seconds_bucket", **labels, le="20.0") == 6
    assert v("helpline_contacts_completed_total", **labels) == 2
    assert v("helpline_contact_handle_seconds_sum", **labels) == 400
    assert v("helpline_contact_hold_seconds_sum", **labels) == 20
    assert v("helpline_contact_wrap_up_seconds_sum", **labels) == 80


def test_an_answer_in_a_queue_of_unknown_threshold_is_not_within(replica: Replica, tenant: str) -> None:
    _contact(replica, tenant, "c", queue_id="unknown")
    _connected(replica, tenant, "c", 1, queue_id="unknown")
    labels = {"tenant": tenant, "queue": "unknown", "channel": "voice"}
    assert replica.value("helpline_contacts_answered_total", **labels) == 1
    assert replica.value("helpline_contacts_answered_in_threshold_total", **labels) is None


def test_a_snapshot_sets_the_queue_gauges(replica: Replica, tenant: str) -> None:
    snapshot = q.QueueSnapshot(
        tenant_id=tenant,
        queue_id="q1",
        channel=common_pb2.CHANNEL_CHAT,
        depth=4,
        agents_by_state=[
            common_pb2.AgentStateCount(state=common_pb2.AGENT_STATE_IDLE, count=2),
            common_pb2.AgentStateCount(state=common_pb2.AGENT_STATE_BUSY, count=3),
        ],
    )
    _duration(75, snapshot, "oldest_contact_age")
    _duration(40, snapshot, "estimated_wait")
    _duration(30, snapshot, "service_level_threshold")
    snapshot.service_level_target = 0.9
    replica.deliver(snapshot)
    labels = {"tenant": tenant, "queue": "q1", "channel": "chat"}
    assert replica.value("helpline_queue_depth", **labels) == 4
    assert replica.value("helpline_queue_oldest_contact_age_seconds", **labels) == 75
    assert replica.value("helpline_queue_estimated_wait_seconds", **labels) == 40
    assert replica.value("helpline_queue_agents", **labels, state="busy") == 3
    assert replica.value("helpline_queue_agents", **labels, state="offered") == 0
    assert replica.value("helpline_queue_staffed_agents", **labels) == 5
    assert replica.value("helpline_queue_service_level_threshold_seconds", **labels) == 30
    assert replica.value("helpline_queue_service_level_target_ratio", **labels) == 0.9


def test_surveys_count_by_kind_and_an_answer_off_its_scale_is_dead_lettered(
    replica: Replica, tenant: str
) -> None:
    answers = [
        (common_pb2.SURVEY_KIND_CSAT, 5, 5),
        (common_pb2.SURVEY_KIND_CSAT, 4, 5),
        (common_pb2.SURVEY_KIND_CSAT, 2, 5),
        (common_pb2.SURVEY_KIND_NPS, 10, 10),
        (common_pb2.SURVEY_KIND_NPS, 9, 10),
        (common_pb2.SURVEY_KIND_NPS, 7, 10),
        (common_pb2.SURVEY_KIND_NPS, 3, 10),
        (common_pb2.SURVEY_KIND_CES, 7, 7),
        (common_pb2.SURVEY_KIND_CES, 3, 5),
    ]
    for kind, score, scale_max in answers:
        replica.deliver(
            feedback_events_pb2.SurveyAnswered(tenant_id=tenant, kind=kind, score=score, scale_max=scale_max)
        )
    with pytest.raises(EventError):
        replica.deliver(
            feedback_events_pb2.SurveyAnswered(
                tenant_id=tenant, kind=common_pb2.SURVEY_KIND_CSAT, score=6, scale_max=5
            )
        )
    v = replica.value
    assert v("helpline_csat_responses_total", tenant=tenant, satisfied="true") == 2
    assert v("helpline_csat_responses_total", tenant=tenant, satisfied="false") == 1
    assert v("helpline_nps_responses_total", tenant=tenant, category="promoter") == 2
    assert v("helpline_nps_responses_total", tenant=tenant, category="passive") == 1
    assert v("helpline_nps_responses_total", tenant=tenant, category="detractor") == 1
    assert v("helpline_ces_responses_total", tenant=tenant) == 2
    # 3 of 5 lands on 4 of 7.
    assert v("helpline_ces_score_total", tenant=tenant) == 11


def test_sla_events_count_by_metric(replica: Replica, tenant: str) -> None:
    first_reply = common_pb2.SLA_METRIC_FIRST_REPLY
    queued = s.QueuedContact(contact_id="c", queue_id="q1")
    replica.deliver(s.SlaApplied(tenant_id=tenant, ticket_id="t1", metric=first_reply))
    replica.deliver(s.SlaApplied(tenant_id=tenant, ticket_id="t2", metric=first_reply))
    replica.deliver(s.SlaWarning(tenant_id=tenant, ticket_id="t1", metric=first_reply))
    replica.deliver(s.SlaBreached(tenant_id=tenant, ticket_id="t1", metric=first_reply))
    replica.deliver(s.SlaFulfilled(tenant_id=tenant, ticket_id="t1", metric=first_reply, breached=True))
    replica.deliver(s.SlaFulfilled(tenant_id=tenant, ticket_id="t2", metric=first_reply))
    replica.deliver(
        s.SlaQueueWarning(tenant_id=tenant, queued_contact=queued, channel=common_pb2.CHANNEL_VOICE)
    )
    replica.deliver(
        s.SlaQueueBreached(tenant_id=tenant, queued_contact=queued, channel=common_pb2.CHANNEL_VOICE)
    )
    v = replica.value
    assert v("helpline_sla_applied_total", tenant=tenant, metric="first_reply") == 2
    assert v("helpline_sla_warned_total", tenant=tenant, metric="first_reply") == 1
    assert v("helpline_sla_breached_total", tenant=tenant, metric="first_reply") == 1
    assert v("helpline_sla_fulfilled_total", tenant=tenant, metric="first_reply", late="true") == 1
    assert v("helpline_sla_fulfilled_total", tenant=tenant, metric="first_reply", late="false") == 1
    assert v("helpline_sla_queue_warned_total", tenant=tenant, queue="q1", channel="voice") == 1
    assert v("helpline_sla_queue_breached_total", tenant=tenant, queue="q1", channel="voice") == 1


def _agent_events(replica: Replica, tenant: str) -> None:
    """a1 is available from 0, idle to 60, busy to 240, in wrap-up to 270, idle again, away from 300."""
    available, away = common_pb2.AGENT_STATUS_AVAILABLE, common_pb2.AGENT_STATUS_AWAY
    for agent_id in ("a1", "a2"):
        replica.deliver(
            a.AgentStatusChanged(tenant_id=tenant, agent_id=agent_id, status=available, changed_at=_at(0))
        )
    for state, at in (
        (common_pb2.AGENT_STATE_IDLE, 0),
        (common_pb2.AGENT_STATE_BUSY, 60),
        (common_pb2.AGENT_STATE_AFTER_CONTACT_WORK, 240),
        (common_pb2.AGENT_STATE_IDLE, 270),
    ):
        replica.deliver(a.AgentStateChanged(tenant_id=tenant, agent_id="a1", state=state, changed_at=_at(at)))
    replica.deliver(a.AgentStatusChanged(tenant_id=tenant, agent_id="a1", status=away, changed_at=_at(300)))
    # An older status delivered late changes nothing.
    replica.deliver(
        a.AgentStatusChanged(tenant_id=tenant, agent_id="a1", status=available, changed_at=_at(200))
    )
    # Idle while away is not time open for contacts.
    replica.deliver(
        a.AgentStateChanged(
            tenant_id=tenant, agent_id="a1", state=common_pb2.AGENT_STATE_BUSY, changed_at=_at(400)
        )
    )


def _status(
    replica: Replica, tenant: str, ticket_id: str, version: int, to: common_pb2.TicketStatus.ValueType
) -> None:
    replica.deliver(
        t.TicketStatusChanged(tenant_id=tenant, ticket_id=ticket_id, version=version, to_status=to)
    )


def _ticket_events(replica: Replica, tenant: str) -> None:
    new, open_, pending, solved = (
        common_pb2.TICKET_STATUS_NEW,
        common_pb2.TICKET_STATUS_OPEN,
        common_pb2.TICKET_STATUS_PENDING,
        common_pb2.TICKET_STATUS_SOLVED,
    )
    day = 86400
    for ticket_id in ("t1", "t2", "t3", "t4"):
        snapshot = t.TicketSnapshot(
            ticket_id=ticket_id,
            version=1,
            status=new,
            priority=common_pb2.PRIORITY_HIGH,
            channel=common_pb2.CHANNEL_EMAIL,
            department=common_pb2.DEPARTMENT_SUPPORT,
            created_at=_at(0),
        )
        replica.deliver(t.TicketCreated(tenant_id=tenant, ticket=snapshot))
    replica.deliver(
        t.TicketCommented(
            tenant_id=tenant, ticket_id="t1", version=2, first_response=True, commented_at=_at(300)
        )
    )
    _status(replica, tenant, "t1", 3, open_)
    _status(replica, tenant, "t1", 4, solved)
    _status(replica, tenant, "t2", 2, solved)
    for ticket_id, version, solved_after in (("t1", 4, 3600), ("t2", 2, 7200)):
        replica.deliver(
            t.TicketSolved(
                tenant_id=tenant,
                ticket_id=ticket_id,
                version=version,
                channel=common_pb2.CHANNEL_EMAIL,
                department=common_pb2.DEPARTMENT_SUPPORT,
                contact_count=1,
                created_at=_at(0),
                solved_at=_at(solved_after),
            )
        )
    # t1 is reopened 2 days after its solve (within the FCR window), t2 8 days after (outside).
    for ticket_id, version, solved_after, reopened_after in (
        ("t1", 5, 3600, 2 * day),
        ("t2", 3, 7200, 8 * day),
    ):
        replica.deliver(
            t.TicketReopened(
                tenant_id=tenant,
                ticket_id=ticket_id,
                version=version,
                reopen_count=1,
                solved_at=_at(solved_after),
                reopened_at=_at(solved_after + reopened_after),
            )
        )
        _status(replica, tenant, ticket_id, version, open_)
    _status(replica, tenant, "t2", 4, common_pb2.TICKET_STATUS_CLOSED)
    replica.deliver(t.TicketClosed(tenant_id=tenant, ticket_id="t2", version=4))
    _status(replica, tenant, "t3", 2, pending)


def _state_figures(replica: Replica, tenant: str) -> dict[str, float | None]:
    figures: dict[str, float | None] = {}
    for status in ("new", "open", "pending", "solved", "closed"):
        figures[f"tickets {status}"] = replica.value("helpline_tickets", tenant=tenant, status=status)
    for status in ("available", "away"):
        figures[f"agents {status}"] = replica.value("helpline_agents", tenant=tenant, status=status)
    for status, state in (
        ("available", "idle"),
        ("away", "idle"),
        ("available", "busy"),
        ("available", "after_contact_work"),
    ):
        figures[f"seconds {state} {status}"] = replica.value(
            "helpline_agent_state_seconds_total", tenant=tenant, status=status, state=state
        )
    figures["reopened in window"] = replica.value(
        "helpline_tickets_reopened_in_fcr_window_total", tenant=tenant
    )
    figures["solved first contact"] = replica.value(
        "helpline_tickets_solved_first_contact_total", tenant=tenant, channel="email", department="support"
    )
    return figures


EXPECTED_STATE = {
    "tickets new": 1,
    "tickets open": 1,
    "tickets pending": 1,
    "tickets solved": 0,
    "tickets closed": None,
    "agents available": 1,
    "agents away": 1,
    "seconds idle available": 90,
    "seconds idle away": 100,
    "seconds busy available": 180,
    "seconds after_contact_work available": 30,
    "reopened in window": 1,
    "solved first contact": 2,
}


def test_agents_and_tickets_give_state_gauges_fcr_and_ticket_times(replica: Replica, tenant: str) -> None:
    _agent_events(replica, tenant)
    _ticket_events(replica, tenant)
    assert _state_figures(replica, tenant) == EXPECTED_STATE
    email_support = {"tenant": tenant, "channel": "email", "department": "support"}
    v = replica.value
    assert v("helpline_tickets_created_total", **email_support, priority="high") == 4
    assert v("helpline_tickets_solved_total", **email_support) == 2
    assert v("helpline_tickets_solved_first_contact_total", **email_support) == 2
    assert v("helpline_tickets_reopened_total", tenant=tenant) == 2
    assert v("helpline_ticket_first_reply_seconds_sum", **email_support) == 300
    assert v("helpline_ticket_resolution_seconds_sum", **email_support) == 3600 + 7200
    assert v("helpline_ticket_resolution_seconds_count", **email_support) == 2


def test_a_shorter_fcr_window_leaves_a_later_reopen_out_of_it(redis_client: redis.Redis, tenant: str) -> None:
    """t1 is reopened two days after its solve: within the 7-day window, past a 1-day one."""
    day = timedelta(days=1).total_seconds()
    replica = Replica(redis_client, fcr_reopen_window_seconds=day, fcr_marker_retention_seconds=2 * day)
    _ticket_events(replica, tenant)
    assert replica.value("helpline_tickets_reopened_total", tenant=tenant) == 2
    assert (replica.value("helpline_tickets_reopened_in_fcr_window_total", tenant=tenant) or 0) == 0


def test_an_agent_logging_in_is_idle_until_the_router_tells_a_state(replica: Replica, tenant: str) -> None:
    """The router creates agents idle and tells only changes of state: the stretch from the login
    to the first offer counts as idle while available."""
    available, away = common_pb2.AGENT_STATUS_AVAILABLE, common_pb2.AGENT_STATUS_AWAY
    replica.deliver(
        a.AgentStatusChanged(tenant_id=tenant, agent_id="a9", status=available, changed_at=_at(0))
    )
    offered = a.AgentStateChanged(
        tenant_id=tenant, agent_id="a9", state=common_pb2.AGENT_STATE_OFFERED, changed_at=_at(45)
    )
    replica.deliver(offered)
    replica.deliver(a.AgentStatusChanged(tenant_id=tenant, agent_id="a9", status=away, changed_at=_at(50)))
    seconds = "helpline_agent_state_seconds_total"
    assert replica.value(seconds, tenant=tenant, status="available", state="idle") == 45
    assert replica.value(seconds, tenant=tenant, status="available", state="offered") == 5


def test_redelivery_changes_no_state_figure_and_every_replica_reports_the_same(
    replica: Replica, tenant: str, redis_client: redis.Redis
) -> None:
    _agent_events(replica, tenant)
    _ticket_events(replica, tenant)
    for envelope in list(replica.delivered):
        replica.events.handle(envelope)
    assert _state_figures(replica, tenant) == EXPECTED_STATE
    second = Replica(redis_client)
    for status in ("new", "open", "pending", "solved"):
        assert second.value("helpline_tickets", tenant=tenant, status=status) == replica.value(
            "helpline_tickets", tenant=tenant, status=status
        )
    assert second.value("helpline_agents", tenant=tenant, status="away") == 1


def _entered(
    replica: Replica, tenant: str, contact_id: str, at: float, reason: c.QueueEntryReason.ValueType
) -> None:
    replica.deliver(
        c.ContactQueued(
            tenant_id=tenant,
            contact_id=contact_id,
            queue_id="q1",
            channel=common_pb2.CHANNEL_VOICE,
            reason=reason,
            queued_at=_at(at),
        )
    )


def _completed(replica: Replica, tenant: str, contact_id: str, at: float) -> None:
    completed = c.ContactCompleted(
        tenant_id=tenant,
        contact_id=contact_id,
        queue_id="q1",
        channel=common_pb2.CHANNEL_VOICE,
        completed_at=_at(at),
    )
    _duration(150, completed, "talk_duration")
    _duration(10, completed, "hold_duration")
    _duration(20, completed, "wrap_up_duration")
    replica.deliver(completed)


def test_staffing_follows_erlang_c_over_the_window_for_every_replica(
    replica: Replica, tenant: str, redis_client: redis.Redis
) -> None:
    """DOMAIN.md's reference: 100 contacts in 30 minutes, AHT 180 s, 80% within 20 s, needs 14."""
    _configure_queue(replica, tenant, 20)
    reasons = [c.QUEUE_ENTRY_REASON_NEW] * 90 + [c.QUEUE_ENTRY_REASON_TRANSFER] * 10
    for n, reason in enumerate(reasons):
        _entered(replica, tenant, f"c{n}", n * 18, reason)
        _completed(replica, tenant, f"c{n}", n * 18 + 1)
    # The same contacts entering again bring no new work, nor do callbacks of callers counted already.
    _entered(replica, tenant, "c0", 100, c.QUEUE_ENTRY_REASON_RETURN)
    _entered(replica, tenant, "c1", 200, c.QUEUE_ENTRY_REASON_REQUEUE)
    labels = {"tenant": tenant, "queue": "q1", "channel": "voice"}
    second = Replica(redis_client, FakeClock(START))
    for reader in (replica, second):
        reader.clock.advance(STAFFING_WINDOW)
        assert reader.value("helpline_queue_offered_load_erlangs", **labels) == pytest.approx(10.0)
        assert reader.value("helpline_queue_required_agents", **labels) == 14
    assert replica.value("helpline_contacts_queued_total", **labels) == 90

    replica.clock.advance(STAFFING_WINDOW + timedelta(minutes=1))
    assert replica.value("helpline_queue_required_agents", **labels) is None
    # An event older than the window is not counted into it.
    _entered(replica, tenant, "late", 0, c.QUEUE_ENTRY_REASON_NEW)
    assert replica.value("helpline_queue_offered_load_erlangs", **labels) is None


def test_staffing_takes_the_queue_target_and_needs_nobody_without_arrivals(
    replica: Replica, tenant: str
) -> None:
    configured = q.QueueConfigured(
        tenant_id=tenant,
        queue_id="q1",
        channels=[common_pb2.CHANNEL_VOICE],
        version=1,
        service_level_target=0.95,
    )
    _duration(20, configured, "service_level_threshold")
    replica.deliver(configured)
    for n in range(100):
        _entered(replica, tenant, f"c{n}", n * 18, c.QUEUE_ENTRY_REASON_NEW)
        _completed(replica, tenant, f"c{n}", n * 18 + 1)
    replica.clock.advance(STAFFING_WINDOW)
    labels = {"tenant": tenant, "queue": "q1", "channel": "voice"}
    expected = erlang.required_agents(
        100, STAFFING_WINDOW, timedelta(seconds=180), timedelta(seconds=20), 0.95
    ).agents
    assert expected > 14
    assert replica.value("helpline_queue_required_agents", **labels) == expected
    assert replica.value("helpline_queue_service_level_target_ratio", **labels) == 0.95

    # Handle times seen and no new contact: the queue needs nobody.
    replica.clock.advance(STAFFING_WINDOW + timedelta(minutes=1))
    _completed(replica, tenant, "c-last", 2 * 1800 + 60)
    assert replica.value("helpline_queue_required_agents", **labels) == 0
    assert replica.value("helpline_queue_offered_load_erlangs", **labels) == 0


def test_every_replica_exports_a_configured_queue_and_its_tenant_from_zero(
    replica: Replica, tenant: str, redis_client: redis.Redis
) -> None:
    """So that `increase()` sees a new queue's first contact: it cannot see a series appear at 1."""
    other = Replica(redis_client)
    labels = {"tenant": tenant, "queue": "q1", "channel": "voice"}
    assert other.value("helpline_contacts_answered_total", **labels) is None
    _configure_queue(replica, tenant, 20)
    for reader in (replica, other):
        assert reader.value("helpline_contacts_answered_total", **labels) == 0
        assert reader.value("helpline_contact_handle_seconds_count", **labels) == 0
        assert reader.value("helpline_csat_responses_total", tenant=tenant, satisfied="true") == 0
        assert (
            reader.value("helpline_sla_fulfilled_total", tenant=tenant, metric="first_reply", late="true")
            == 0
        )
        assert (
            reader.value(
                "helpline_tickets_created_total",
                tenant=tenant,
                channel="email",
                department="support",
                priority="urgent",
            )
            == 0
        )
    _contact(replica, tenant, "c")
    _connected(replica, tenant, "c", 3)
    assert replica.value("helpline_contacts_answered_total", **labels) == 1
