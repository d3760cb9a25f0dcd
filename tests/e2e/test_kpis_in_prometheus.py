"""The KPIs end to end: scripted events whose KPIs are worked out by hand go onto the real topics,
the metrics service (a process) consumes them, a real Prometheus scrapes it with the project's
recording rules loaded, and the KPIs read back through Prometheus' HTTP API are the expected ones.

The queue is configured first and the test waits until Prometheus has scraped its series at zero:
the service exports a configured queue's series from zero so that increase() sees the first events
(docs/metrics.md), and with every series of a ratio sampled together the ratio is exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from google.protobuf.message import Message

from helpline.bus import make_producer, send
from helpline.domain import duration, timestamp
from helpline.events import new_event, signed, to_record
from helpline.ingress_secrets import IngressSecrets
from helpline.ingress_signing import IngressKey
from helpline.topics import spec, topic_for_domain
from helpline.v1 import (
    agent_events_pb2,
    common_pb2,
    contact_events_pb2,
    feedback_events_pb2,
    queue_events_pb2,
    sla_events_pb2,
    ticket_events_pb2,
)
from tests.e2e.prometheus import Prometheus, scraping
from tests.integration.helpers import wait_until
from tests.integration.service_process import ServiceProcess, service_env

c, a, q, t, s, f = (
    contact_events_pb2,
    agent_events_pb2,
    queue_events_pb2,
    ticket_events_pb2,
    sla_events_pb2,
    feedback_events_pb2,
)
VOICE = common_pb2.CHANNEL_VOICE
WRAP_UP = common_pb2.AGENT_STATE_AFTER_CONTACT_WORK
# Waits of the eight answered contacts against a 20 s threshold: six within it.
WAITS = (5, 10, 15, 20, 25, 30, 8, 12)
# Talk, hold and wrap-up of each completed contact: 180 s and 240 s in turn.
HANDLES = ((120, 30, 30), (200, 0, 40))

EXPECTED = {
    # 6 within / (8 answered + 2 abandoned)
    "tenant_queue_channel:helpline_service_level:ratio_rate5m": 0.6,
    "tenant:helpline_service_level:ratio_rate1h": 0.6,
    "tenant:helpline_service_level:ratio_rate1d": 0.6,
    # the mean of WAITS
    "tenant_queue_channel:helpline_asa_seconds:mean5m": 15.625,
    "tenant_queue_channel:helpline_aht_seconds:mean5m": 210,
    "tenant_queue_channel:helpline_abandonment:ratio_rate5m": 0.2,
    # (180 busy + 30 wrap-up) / (210 + 90 idle while available)
    "tenant:helpline_occupancy:ratio_rate5m": 0.7,
    # (3 solved on their first contact - 1 reopened within 7 days) / 4 solved
    "tenant:helpline_fcr:ratio_rate5m": 0.5,
    # 3 of 4 answers 4 or 5
    "tenant:helpline_csat:ratio_rate5m": 0.75,
    # (3 promoters - 1 detractor) / 5 answers
    "tenant:helpline_nps:score5m": 40,
    "tenant:helpline_ces:score5m": 3,
    # 3 met in time / (3 + 1 breached)
    "tenant_metric:helpline_sla_compliance:ratio_rate5m": 0.75,
    "tenant:helpline_sla_compliance:ratio_rate1h": 0.75,
}


@pytest.fixture
def tenant(unique: str) -> str:
    return f"kpi{unique}"


@pytest.fixture
def prometheus(redis_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path) -> Iterator[Prometheus]:
    metrics = ServiceProcess(
        "metrics", service_env("metrics", redis_url, kafka_bootstrap, unique), tmp_path / "metrics.log"
    )
    metrics.start()
    try:
        with scraping(metrics.port, tmp_path) as prometheus:
            yield prometheus
    finally:
        assert metrics.stop() == 0


class Publisher:
    """Each event onto the topic of its domain; the survey tool's answers signed by its secret."""

    def __init__(self, bootstrap: str, survey_tool: IngressKey) -> None:
        self.producer = make_producer(bootstrap, "test-kpis")
        self.survey_tool = survey_tool

    def __call__(self, message: Message, key: str) -> None:
        envelope = new_event(message, source="/test/kpis")
        record = to_record(envelope, topic_for_domain(envelope.domain).name, key)
        if spec(record.topic).validated:
            record = signed(record, envelope, self.survey_tool)
        send(self.producer, record)

    def flush(self) -> None:
        self.producer.flush()

    def close(self) -> None:
        self.producer.close()


def _contacts(publish: Publisher, tenant: str, now: datetime) -> None:
    for n in range(10):
        contact_id = f"c{n}"
        publish(
            c.ContactQueued(
                tenant_id=tenant,
                contact_id=contact_id,
                queue_id="q1",
                channel=VOICE,
                reason=c.QUEUE_ENTRY_REASON_NEW,
                queued_at=timestamp(now),
            ),
            contact_id,
        )
    for n, wait in enumerate(WAITS):
        contact_id = f"c{n}"
        publish(
            c.ContactConnected(
                tenant_id=tenant,
                contact_id=contact_id,
                queue_id="q1",
                channel=VOICE,
                wait_duration=duration(timedelta(seconds=wait)),
            ),
            contact_id,
        )
        talk, hold, wrap_up = HANDLES[n % 2]
        publish(
            c.ContactCompleted(
                tenant_id=tenant,
                contact_id=contact_id,
                queue_id="q1",
                channel=VOICE,
                talk_duration=duration(timedelta(seconds=talk)),
                hold_duration=duration(timedelta(seconds=hold)),
                wrap_up_duration=duration(timedelta(seconds=wrap_up)),
                completed_at=timestamp(now),
            ),
            contact_id,
        )
    for contact_id, wait in (("c8", 40), ("c9", 3)):
        publish(
            c.ContactAbandoned(
                tenant_id=tenant,
                contact_id=contact_id,
                queue_id="q1",
                channel=VOICE,
                wait_duration=duration(timedelta(seconds=wait)),
            ),
            contact_id,
        )


def _agent(publish: Publisher, tenant: str, start: datetime) -> None:
    """Available from 0: idle to 60, busy to 240, wrap-up to 270, idle again, away from 300."""

    def at(seconds: int) -> Any:
        return timestamp(start + timedelta(seconds=seconds))

    status = a.AgentStatusChanged
    state = a.AgentStateChanged
    for event in (
        status(tenant_id=tenant, agent_id="a1", status=common_pb2.AGENT_STATUS_AVAILABLE, changed_at=at(0)),
        state(tenant_id=tenant, agent_id="a1", state=common_pb2.AGENT_STATE_IDLE, changed_at=at(0)),
        state(tenant_id=tenant, agent_id="a1", state=common_pb2.AGENT_STATE_BUSY, changed_at=at(60)),
        state(
            tenant_id=tenant,
            agent_id="a1",
            state=common_pb2.AGENT_STATE_AFTER_CONTACT_WORK,
            changed_at=at(240),
        ),
        state(tenant_id=tenant, agent_id="a1", state=common_pb2.AGENT_STATE_IDLE, changed_at=at(270)),
        status(tenant_id=tenant, agent_id="a1", status=common_pb2.AGENT_STATUS_AWAY, changed_at=at(300)),
    ):
        publish(event, "a1")


def _tickets_surveys_and_slas(publish: Publisher, tenant: str, now: datetime) -> None:
    solved_at = now - timedelta(days=2)
    for ticket_id, contacts in (("tk1", 1), ("tk2", 1), ("tk3", 1), ("tk4", 2)):
        publish(
            t.TicketSolved(
                tenant_id=tenant,
                ticket_id=ticket_id,
                version=3,
                channel=common_pb2.CHANNEL_EMAIL,
                department=common_pb2.DEPARTMENT_SUPPORT,
                contact_count=contacts,
                created_at=timestamp(solved_at - timedelta(hours=1)),
                solved_at=timestamp(solved_at),
            ),
            ticket_id,
        )
    publish(
        t.TicketReopened(
            tenant_id=tenant,
            ticket_id="tk1",
            version=4,
            reopen_count=1,
            solved_at=timestamp(solved_at),
            reopened_at=timestamp(now),
        ),
        "tk1",
    )
    answers = [(common_pb2.SURVEY_KIND_CSAT, score, 5) for score in (5, 4, 2, 5)]
    answers += [(common_pb2.SURVEY_KIND_NPS, score, 10) for score in (10, 9, 9, 7, 3)]
    answers += [(common_pb2.SURVEY_KIND_CES, score, 7) for score in (2, 3, 4)]
    for n, (kind, score, top) in enumerate(answers):
        publish(
            f.SurveyAnswered(tenant_id=tenant, survey_id=f"s{n}", kind=kind, score=score, scale_max=top),
            f"s{n}",
        )
    first_reply = common_pb2.SLA_METRIC_FIRST_REPLY
    for n in range(3):
        publish(s.SlaFulfilled(tenant_id=tenant, ticket_id=f"tk{n}", metric=first_reply), f"tk{n}")
    publish(s.SlaBreached(tenant_id=tenant, ticket_id="tk9", metric=first_reply), "tk9")


def test_scripted_events_give_the_expected_kpis_in_prometheus(
    prometheus: Prometheus, kafka_bootstrap: str, redis_url: str, tenant: str
) -> None:
    publish = Publisher(
        kafka_bootstrap, IngressSecrets(redis.Redis.from_url(redis_url)).create(tenant, "surveys")
    )
    now = datetime.now(UTC)
    configured = q.QueueConfigured(
        tenant_id=tenant,
        queue_id="q1",
        channels=[VOICE],
        version=1,
        service_level_threshold=duration(timedelta(seconds=20)),
        service_level_target=0.8,
    )
    publish(configured, "q1")
    publish.flush()
    zeros = f'helpline_contacts_answered_total{{tenant="{tenant}"}}'
    wait_until(lambda: prometheus.values(zeros) == [0], timeout=60, what="the queue's series at zero")

    _contacts(publish, tenant, now)
    _agent(publish, tenant, now - timedelta(hours=1))
    _tickets_surveys_and_slas(publish, tenant, now)
    publish.flush()
    publish.close()

    read: dict[str, list[float]] = {}

    def every_kpi_read() -> bool:
        for record in EXPECTED:
            read[record] = prometheus.values(f'{record}{{tenant="{tenant}"}}')
        return all(values == pytest.approx([EXPECTED[r]]) for r, values in read.items())

    try:
        wait_until(every_kpi_read, timeout=90, what="every KPI in Prometheus")
    finally:
        wrong = {r: values for r, values in read.items() if values != pytest.approx([EXPECTED[r]])}
        assert wrong == {}, f"expected {EXPECTED}"
    staffing = f'helpline_queue_required_agents{{tenant="{tenant}",queue="q1",channel="voice"}}'
    assert prometheus.values(staffing) != []
