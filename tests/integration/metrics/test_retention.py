"""Every mark the metrics service keeps ends, on the real Redis: a contact's first answer, a ticket's
record and its first-contact solve once it is closed, a removed agent's record, a removed queue's
goal and channels. Each is driven to its end with a short retention; then nothing in the database
names it any more, while the counts the exporter exports stay as they were."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import CollectorRegistry

from helpline.clock import FakeClock
from helpline.domain import timestamp
from helpline.events import Envelope, new_event
from helpline.v1 import agent_events_pb2, common_pb2, contact_events_pb2, queue_events_pb2, ticket_events_pb2
from services.metrics.app import MetricsSettings, exporter
from services.metrics.exporter import MetricsEvents
from tests.integration.helpers import wait_until
from tests.integration.redis_traces import traces

START = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)
RETENTION_S = 0.5
c, a, q, t = contact_events_pb2, agent_events_pb2, queue_events_pb2, ticket_events_pb2


class Replica:
    """One exporter whose marks all expire after RETENTION_S."""

    def __init__(self, client: redis.Redis, tenant: str) -> None:
        self.client = client
        self.tenant = tenant
        self.clock = FakeClock(START)
        self.registry = CollectorRegistry()
        settings = MetricsSettings(
            service_name="metrics",
            answer_marker_retention_seconds=RETENTION_S,
            closed_ticket_marker_retention_seconds=RETENTION_S,
            removed_agent_marker_retention_seconds=RETENTION_S,
            delivery_marker_retention_seconds=RETENTION_S,
            # Shorter than the FCR window the settings insist on, to see it run out.
        ).model_copy(update={"fcr_marker_retention_seconds": RETENTION_S})
        self.events: MetricsEvents = exporter(settings, client, self.registry, self.clock)

    def deliver(self, message: Message) -> Envelope:
        envelope = new_event(message, source="/test")
        self.events.handle(envelope)
        return envelope

    def at(self, seconds: float = 0) -> Timestamp:
        return timestamp(START + timedelta(seconds=seconds))

    def value(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, {"tenant": self.tenant, **labels})

    def expiry_ms(self, needle: str) -> list[int]:
        """The milliseconds left of each key whose name holds `needle` (-1: kept for good)."""
        return sorted(int(self.client.pttl(key)) for key in self.client.scan_iter(match=f"*{needle}*"))

    def gone(self, needle: str) -> None:
        wait_until(lambda: not traces(self.client, needle), timeout=10, what=f"every trace of {needle}")


@pytest.fixture
def replica(redis_client: redis.Redis, unique: str) -> Replica:
    return Replica(redis_client, f"t{unique}")


def _within_retention(left: list[int]) -> bool:
    return bool(left) and all(0 < ms <= RETENTION_S * 1000 for ms in left)


def test_a_contacts_first_answer_is_forgotten_after_the_retention(replica: Replica, unique: str) -> None:
    contact_id = f"c-{unique}"
    tenant, voice = replica.tenant, common_pb2.CHANNEL_VOICE
    replica.deliver(
        c.ContactQueued(
            tenant_id=tenant,
            contact_id=contact_id,
            queue_id="q1",
            channel=voice,
            reason=c.QUEUE_ENTRY_REASON_NEW,
            queued_at=replica.at(),
        )
    )
    connected = c.ContactConnected(tenant_id=tenant, contact_id=contact_id, queue_id="q1", channel=voice)
    replica.deliver(connected)
    # Transferred and connected again within its life: still one answer.
    replica.deliver(connected)
    assert _within_retention(replica.expiry_ms(contact_id))
    replica.deliver(
        c.ContactCompleted(
            tenant_id=tenant, contact_id=contact_id, queue_id="q1", channel=voice, completed_at=replica.at(60)
        )
    )
    replica.gone(contact_id)
    assert replica.value("helpline_contacts_answered_total", queue="q1", channel="voice") == 1


def test_an_events_delivery_is_forgotten_after_the_retention(replica: Replica, unique: str) -> None:
    abandoned = replica.deliver(
        c.ContactAbandoned(
            tenant_id=replica.tenant,
            contact_id=f"c-{unique}",
            queue_id="q1",
            channel=common_pb2.CHANNEL_VOICE,
        )
    )
    # Delivered again within its life: still one abandon.
    replica.events.handle(abandoned)
    assert _within_retention(replica.expiry_ms(abandoned.id))
    replica.gone(abandoned.id)
    assert replica.value("helpline_contacts_abandoned_total", queue="q1", channel="voice") == 1


def test_a_closed_tickets_record_and_first_contact_solve_are_forgotten(replica: Replica, unique: str) -> None:
    ticket_id = f"T-{unique}"
    tenant = replica.tenant
    snapshot = t.TicketSnapshot(
        ticket_id=ticket_id,
        version=1,
        status=common_pb2.TICKET_STATUS_NEW,
        priority=common_pb2.PRIORITY_NORMAL,
        channel=common_pb2.CHANNEL_EMAIL,
        department=common_pb2.DEPARTMENT_SUPPORT,
        created_at=replica.at(),
    )
    replica.deliver(t.TicketCreated(tenant_id=tenant, ticket=snapshot))
    replica.deliver(
        t.TicketCommented(
            tenant_id=tenant, ticket_id=ticket_id, version=2, first_response=True, commented_at=replica.at(60)
        )
    )

    def moved(version: int, to: common_pb2.TicketStatus.ValueType) -> None:
        replica.deliver(
            t.TicketStatusChanged(tenant_id=tenant, ticket_id=ticket_id, version=version, to_status=to)
        )

    moved(2, common_pb2.TICKET_STATUS_OPEN)
    moved(3, common_pb2.TICKET_STATUS_SOLVED)
    replica.deliver(
        t.TicketSolved(
            tenant_id=tenant,
            ticket_id=ticket_id,
            version=3,
            contact_count=1,
            channel=common_pb2.CHANNEL_EMAIL,
            department=common_pb2.DEPARTMENT_SUPPORT,
            created_at=replica.at(),
            solved_at=replica.at(120),
        )
    )
    replica.deliver(
        t.TicketReopened(tenant_id=tenant, ticket_id=ticket_id, version=4, reopened_at=replica.at(180))
    )
    moved(4, common_pb2.TICKET_STATUS_OPEN)
    moved(5, common_pb2.TICKET_STATUS_SOLVED)
    # Open or solved, the ticket's record stays (-1); the solve mark runs out on its own.
    assert -1 in replica.expiry_ms(ticket_id)
    replica.deliver(t.TicketClosed(tenant_id=tenant, ticket_id=ticket_id, version=6))
    assert _within_retention(replica.expiry_ms(ticket_id))
    replica.gone(ticket_id)
    assert replica.value("helpline_tickets_reopened_in_fcr_window_total") == 1
    assert replica.value("helpline_tickets", status="solved") == 0


def test_a_removed_agents_record_is_forgotten_and_one_added_again_is_kept(
    replica: Replica, unique: str
) -> None:
    agent_id = f"a-{unique}"
    tenant = replica.tenant
    replica.deliver(
        a.AgentStatusChanged(
            tenant_id=tenant,
            agent_id=agent_id,
            status=common_pb2.AGENT_STATUS_AVAILABLE,
            changed_at=replica.at(),
        )
    )
    replica.deliver(
        a.AgentStateChanged(
            tenant_id=tenant, agent_id=agent_id, state=common_pb2.AGENT_STATE_BUSY, changed_at=replica.at(60)
        )
    )
    assert replica.expiry_ms(agent_id) == [-1]
    replica.deliver(a.AgentRemoved(tenant_id=tenant, agent_id=agent_id, removed_at=replica.at(120)))
    assert _within_retention(replica.expiry_ms(agent_id))
    # Added again and logged in before the record went: kept for good again.
    replica.deliver(
        a.AgentStatusChanged(
            tenant_id=tenant,
            agent_id=agent_id,
            status=common_pb2.AGENT_STATUS_AWAY,
            changed_at=replica.at(180),
        )
    )
    assert replica.expiry_ms(agent_id) == [-1]
    replica.deliver(a.AgentRemoved(tenant_id=tenant, agent_id=agent_id, removed_at=replica.at(240)))
    # A state change after the removal (delivered late) does not keep the record.
    replica.deliver(
        a.AgentStateChanged(
            tenant_id=tenant, agent_id=agent_id, state=common_pb2.AGENT_STATE_IDLE, changed_at=replica.at(250)
        )
    )
    assert _within_retention(replica.expiry_ms(agent_id))
    replica.gone(agent_id)
    assert replica.value("helpline_agents", status="available") == 0
    assert replica.value("helpline_agent_state_seconds_total", status="available", state="busy") == 60


def test_a_removed_queues_goal_and_channels_are_forgotten(replica: Replica, unique: str) -> None:
    queue_id = f"q-{unique}"
    tenant = replica.tenant
    configured = q.QueueConfigured(
        tenant_id=tenant,
        queue_id=queue_id,
        channels=[common_pb2.CHANNEL_VOICE, common_pb2.CHANNEL_CHAT],
        version=1,
        service_level_target=0.9,
    )
    configured.service_level_threshold.FromTimedelta(timedelta(seconds=20))
    replica.deliver(configured)
    replica.deliver(q.QueueSnapshot(tenant_id=tenant, queue_id=queue_id, channel=common_pb2.CHANNEL_SOCIAL))
    assert traces(replica.client, queue_id)
    assert (tenant, queue_id) in replica.events.state.answer_targets()
    replica.deliver(q.QueueRemoved(tenant_id=tenant, queue_id=queue_id, removed_at=replica.at(60)))
    assert traces(replica.client, queue_id) == []
    assert (tenant, queue_id) not in replica.events.state.answer_targets()
    assert all(queue != queue_id for _, queue, _ in replica.events.state.queue_channels())
