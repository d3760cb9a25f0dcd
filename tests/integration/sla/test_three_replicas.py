"""Three SLA processes share one Redis and one broker. Queued contacts and new tickets arrive on
Kafka with answer targets and first-reply targets coming due over several seconds of real time;
halfway, one replica is SIGKILLed and started again. Every warning and breach reaches
`helpline.sla`, each under one event id (the relay may publish an event twice after a kill, with
the same id, which consumers drop), and none is missed."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from helpline.bus import make_producer, send
from helpline.business_hours import Calendar, OpenInterval
from helpline.domain import from_timestamp, timestamp
from helpline.events import from_record, new_event, to_record
from helpline.kafka import clients
from helpline.kafka.port import Start
from helpline.kafka.reading import partitions
from helpline.v1 import common_pb2, contact_events_pb2, queue_events_pb2, sla_events_pb2, ticket_events_pb2
from helpline.vocabulary import Priority
from services.sla.config import SlaConfig
from services.sla.domain.model import Basis, Metric
from services.sla.domain.policy import Conditions, Policy, Target
from services.sla.store import Keys, SlaStore
from tests.integration.helpers import wait_until
from tests.integration.service_process import ServiceProcess, service_env

REPLICAS = 3
CONTACTS = 120
TICKETS = 120
THRESHOLD = timedelta(seconds=4)
FIRST_REPLY = timedelta(seconds=4)
# Arrivals spread over this long, so timers come due before, during and after the kill.
SPREAD_S = 8.0
# A replica killed while holding claimed timers leaves them to the others after this lease.
LEASE_S = "2"
WATCHED = (
    sla_events_pb2.SlaApplied,
    sla_events_pb2.SlaWarning,
    sla_events_pb2.SlaBreached,
    sla_events_pb2.SlaQueueWarning,
    sla_events_pb2.SlaQueueBreached,
)


@pytest.fixture
def replicas(
    redis_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> Iterator[list[ServiceProcess]]:
    processes = [
        ServiceProcess(
            "sla",
            service_env("sla", redis_url, kafka_bootstrap, unique, HELPLINE_TIMER_LEASE_SECONDS=LEASE_S),
            tmp_path / f"sla{n}.log",
        )
        for n in range(REPLICAS)
    ]
    for process in processes:
        process.start()
    yield processes
    assert [process.stop() for process in processes] == [0] * REPLICAS


def _configure(redis_client: redis.Redis, tenant: str) -> None:
    config = SlaConfig(SlaStore(redis_client))
    always = tuple(OpenInterval.parse(day, "00:00", "24:00") for day in range(7))
    config.put_calendar(tenant, Calendar("always", "Always open", "UTC", always))
    target = Target(Metric.FIRST_REPLY, Priority.NORMAL, FIRST_REPLY, Basis.BUSINESS)
    config.put_policy(tenant, Policy("p", "Everything", 1, Conditions(), (target,), "always"))


def _queue_configured(tenant: str) -> queue_events_pb2.QueueConfigured:
    configured = queue_events_pb2.QueueConfigured(tenant_id=tenant, queue_id="q", version=1)
    configured.service_level_threshold.FromTimedelta(THRESHOLD)
    return configured


def _queued(tenant: str, n: int, at: datetime) -> contact_events_pb2.ContactQueued:
    return contact_events_pb2.ContactQueued(
        tenant_id=tenant,
        contact_id=f"c{n}",
        queue_id="q",
        channel=common_pb2.CHANNEL_CHAT,
        queued_at=timestamp(at),
        enqueued_since=timestamp(at),
    )


def _ticket(tenant: str, n: int, at: datetime) -> ticket_events_pb2.TicketCreated:
    snapshot = ticket_events_pb2.TicketSnapshot(
        ticket_id=f"t{n}",
        version=1,
        status=common_pb2.TICKET_STATUS_NEW,
        priority=common_pb2.PRIORITY_NORMAL,
        created_at=timestamp(at),
        updated_at=timestamp(at),
    )
    return ticket_events_pb2.TicketCreated(tenant_id=tenant, ticket=snapshot)


def _subject(event: Any) -> str:
    if isinstance(event, sla_events_pb2.SlaQueueWarning | sla_events_pb2.SlaQueueBreached):
        return event.queued_contact.contact_id
    return str(event.instance_id)


def test_every_alert_fires_once_across_three_replicas_and_a_kill(
    replicas: list[ServiceProcess], kafka_bootstrap: str, redis_client: redis.Redis, tenant: str
) -> None:
    _configure(redis_client, tenant)
    watcher = clients.consumer(kafka_bootstrap, "test-watcher")
    watcher.assign(partitions(watcher, ["helpline.sla"]), Start.BEGINNING)
    producer = make_producer(kafka_bootstrap, "test-gateway")
    send(
        producer,
        to_record(new_event(_queue_configured(tenant), source="/test/router"), "helpline.queues", "q"),
    )
    producer.flush()
    # The queue's target is in before the first contact (different topics: no order between them).
    wait_until(
        lambda: SlaStore(redis_client).config(Keys(tenant).queues, "q") is not None,
        timeout=30,
        what="the queue's answer target stored",
    )
    started = time.monotonic()
    killed = False
    for n in range(max(CONTACTS, TICKETS)):
        at = datetime.now(UTC)
        if n < CONTACTS:
            send(
                producer,
                to_record(
                    new_event(_queued(tenant, n, at), source="/test/router", subject=f"c{n}"),
                    "helpline.contacts",
                ),
            )
        if n < TICKETS:
            send(
                producer,
                to_record(
                    new_event(_ticket(tenant, n, at), source="/test/tickets", subject=f"t{n}"),
                    "helpline.tickets",
                ),
            )
        if not killed and time.monotonic() - started > SPREAD_S / 2:
            producer.flush()
            replicas[0].kill()
            replicas[0].start()
            killed = True
        time.sleep(SPREAD_S / max(CONTACTS, TICKETS))
    producer.flush()
    producer.close()

    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    # When the service took each ticket up (its SlaApplied was written), and each breach's deadline
    # and firing: a replica's consumer partitions wait for its session to time out after a kill,
    # so a breach may be late by that, but never later than its lease after the service knew of it.
    applied_at: dict[str, datetime] = {}
    breaches: dict[str, tuple[datetime, datetime]] = {}

    def collect() -> bool:
        for record in watcher.poll(0.5, 500):
            envelope = from_record(record.headers, record.value, record.key)
            event = envelope.message
            if not isinstance(event, WATCHED) or event.tenant_id != tenant:
                continue
            if isinstance(event, sla_events_pb2.SlaApplied):
                applied_at.setdefault(event.instance_id, envelope.time)
                continue
            ids[(type(event).__name__, _subject(event))].add(envelope.id)
            if isinstance(event, sla_events_pb2.SlaBreached):
                breaches[event.instance_id] = (
                    from_timestamp(event.deadline),
                    from_timestamp(event.breached_at),
                )
        breached = sum(1 for kind, _ in ids if kind in ("SlaBreached", "SlaQueueBreached"))
        return breached == CONTACTS + TICKETS

    wait_until(collect, timeout=60, what="a breach for every contact and ticket")
    # A little longer: a second event id for the same alert would show up now.
    settle = time.monotonic() + 3
    while time.monotonic() < settle:
        collect()
    watcher.close()

    by_kind: dict[str, int] = defaultdict(int)
    for (kind, _subject_id), event_ids in ids.items():
        assert len(event_ids) == 1, (kind, _subject_id, event_ids)
        by_kind[kind] += 1
    assert by_kind["SlaQueueBreached"] == CONTACTS
    assert by_kind["SlaBreached"] == TICKETS
    # A breach fired first marks its warning sent, so a few warnings may be skipped, never doubled.
    assert by_kind["SlaQueueWarning"] <= CONTACTS
    assert by_kind["SlaWarning"] <= TICKETS
    for instance_id, (deadline, breached_at) in breaches.items():
        due = max(deadline, applied_at[instance_id])
        assert breached_at - due < timedelta(seconds=float(LEASE_S) + 1), (instance_id, due, breached_at)
