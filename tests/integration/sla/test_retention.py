"""Every record of the SLA service ends, on the real Redis: a closed ticket's SLA record and its
timers, a queue watch once its contact left the queue (or its answer target ran out with no word
of it), a removed queue's target. Each is driven to its end with a short retention; then nothing in
the database names it any more."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import redis
from google.protobuf.message import Message

from helpline.clock import FakeClock
from helpline.domain import timestamp
from helpline.events import new_event
from helpline.v1 import common_pb2, contact_events_pb2, queue_events_pb2, ticket_events_pb2
from helpline.vocabulary import Priority
from services.sla.config import SlaConfig
from services.sla.consumers import SlaEvents
from services.sla.domain.model import Basis, Metric
from services.sla.domain.policy import Conditions, Policy, Target
from services.sla.store import Keys, SlaStore, Subject
from services.sla.ticket_slas import TicketSlas
from services.sla.timers import TimerWorker
from services.sla.watches import QueueWatches
from tests.integration.helpers import wait_until
from tests.integration.redis_traces import traces

RETENTION = timedelta(seconds=0.5)
POLICY = Policy(
    "std",
    "Standard",
    10,
    Conditions(),
    (
        Target(Metric.FIRST_REPLY, Priority.NORMAL, timedelta(hours=1), Basis.CALENDAR),
        Target(Metric.REQUESTER_WAIT, Priority.NORMAL, timedelta(hours=8), Basis.CALENDAR),
    ),
    "",
)


class Desk:
    """The SLA service's consumer and timer worker with short retentions, fed one tenant's events."""

    def __init__(self, store: SlaStore, clock: FakeClock, tenant: str) -> None:
        self.tickets = TicketSlas(store, SlaConfig(store), RETENTION)
        self.watches = QueueWatches(store, RETENTION)
        self.events = SlaEvents(self.watches, self.tickets)
        self.worker = TimerWorker(
            store, clock, {Subject.TICKET: self.tickets.fire, Subject.CONTACT: self.watches.fire}
        )
        self.store = store
        self.clock = clock
        self.tenant = tenant
        self.versions: dict[str, int] = {}

    def deliver(self, message: Message) -> None:
        self.events.handle(new_event(message, source="/test"))

    def version(self, ticket_id: str) -> int:
        self.versions[ticket_id] = self.versions.get(ticket_id, 0) + 1
        return self.versions[ticket_id]

    def created(self, ticket_id: str) -> None:
        at = timestamp(self.clock.now())
        snapshot = ticket_events_pb2.TicketSnapshot(
            ticket_id=ticket_id,
            version=self.version(ticket_id),
            status=common_pb2.TICKET_STATUS_NEW,
            priority=common_pb2.PRIORITY_NORMAL,
            channel=common_pb2.CHANNEL_EMAIL,
            created_at=at,
            updated_at=at,
        )
        self.deliver(ticket_events_pb2.TicketCreated(tenant_id=self.tenant, ticket=snapshot))

    def replied(self, ticket_id: str) -> None:
        self.deliver(
            ticket_events_pb2.TicketCommented(
                tenant_id=self.tenant,
                ticket_id=ticket_id,
                version=self.version(ticket_id),
                public=True,
                author_type=common_pb2.AUTHOR_TYPE_AGENT,
                commented_at=timestamp(self.clock.now()),
            )
        )

    def moved(
        self, ticket_id: str, to: common_pb2.TicketStatus.ValueType, version: int | None = None
    ) -> None:
        self.deliver(
            ticket_events_pb2.TicketStatusChanged(
                tenant_id=self.tenant,
                ticket_id=ticket_id,
                version=self.version(ticket_id) if version is None else version,
                to_status=to,
                changed_at=timestamp(self.clock.now()),
            )
        )

    def configure_queue(self, queue_id: str, threshold: timedelta) -> None:
        configured = queue_events_pb2.QueueConfigured(tenant_id=self.tenant, queue_id=queue_id, version=1)
        configured.service_level_threshold.FromTimedelta(threshold)
        self.deliver(configured)

    def queued(self, contact_id: str, queue_id: str, channel: common_pb2.Channel.ValueType) -> None:
        self.deliver(
            contact_events_pb2.ContactQueued(
                tenant_id=self.tenant,
                contact_id=contact_id,
                queue_id=queue_id,
                channel=channel,
                queued_at=timestamp(self.clock.now()),
            )
        )

    def answered(self, contact_id: str, queue_id: str) -> None:
        self.deliver(
            contact_events_pb2.ContactConnected(
                tenant_id=self.tenant,
                contact_id=contact_id,
                queue_id=queue_id,
                connected_at=timestamp(self.clock.now()),
            )
        )

    def time_passes(self, span: timedelta) -> None:
        self.clock.advance(span)
        while self.worker.run_once():
            pass

    def expiry_ms(self, subject: Subject, subject_id: str) -> int:
        return int(self.store.client.pttl(Keys(self.tenant).record(subject, subject_id)))


@pytest.fixture
def desk(store: SlaStore, clock: FakeClock, tenant: str) -> Desk:
    SlaConfig(store).put_policy(tenant, POLICY)
    return Desk(store, clock, tenant)


def _gone(client: redis.Redis, needle: str) -> None:
    wait_until(lambda: not traces(client, needle), timeout=10, what=f"every trace of {needle} to expire")


def test_a_closed_tickets_record_and_timers_expire_after_the_retention(
    desk: Desk, redis_client: redis.Redis, unique: str
) -> None:
    ticket_id = f"T-{unique}"
    desk.created(ticket_id)
    desk.time_passes(timedelta(minutes=50))
    assert desk.expiry_ms(Subject.TICKET, ticket_id) == -1
    assert desk.store.timers() == 3
    desk.time_passes(timedelta(minutes=20))
    desk.replied(ticket_id)
    desk.moved(ticket_id, common_pb2.TICKET_STATUS_SOLVED)
    # Solved can still be reopened: kept for good.
    assert desk.expiry_ms(Subject.TICKET, ticket_id) == -1
    desk.time_passes(timedelta(days=4))
    desk.moved(ticket_id, common_pb2.TICKET_STATUS_CLOSED)
    assert timedelta(0) < timedelta(milliseconds=desk.expiry_ms(Subject.TICKET, ticket_id)) <= RETENTION
    assert desk.tickets.get(desk.tenant, ticket_id) is not None
    assert desk.store.timers() == 0
    _gone(redis_client, ticket_id)
    assert desk.tickets.get(desk.tenant, ticket_id) is None
    # A redelivered event of the closed ticket finds nothing to change, and leaves nothing behind.
    desk.moved(ticket_id, common_pb2.TICKET_STATUS_CLOSED, version=desk.versions[ticket_id])
    assert traces(redis_client, ticket_id) == []


def test_a_ticket_closed_with_its_timers_running_leaves_none_of_them(
    desk: Desk, redis_client: redis.Redis, unique: str
) -> None:
    ticket_id = f"T-{unique}"
    desk.created(ticket_id)
    assert desk.store.timers() == 4
    desk.time_passes(timedelta(minutes=5))
    desk.moved(ticket_id, common_pb2.TICKET_STATUS_CLOSED)
    assert desk.store.timers() == 0
    _gone(redis_client, ticket_id)


def test_an_answered_contacts_watch_expires_after_the_retention(
    desk: Desk, redis_client: redis.Redis, unique: str
) -> None:
    contact_id = f"c-{unique}"
    desk.configure_queue("q", timedelta(seconds=20))
    desk.queued(contact_id, "q", common_pb2.CHANNEL_VOICE)
    # While the caller waits, the watch lasts until its deadline (20 s) and the retention after it.
    waiting = timedelta(milliseconds=desk.expiry_ms(Subject.CONTACT, contact_id))
    assert RETENTION < waiting <= RETENTION + timedelta(seconds=20)
    desk.time_passes(timedelta(seconds=16))
    desk.answered(contact_id, "q")
    assert desk.store.timers() == 0
    assert timedelta(0) < timedelta(milliseconds=desk.expiry_ms(Subject.CONTACT, contact_id)) <= RETENTION
    _gone(redis_client, contact_id)
    # The answer delivered again does not bring the record back.
    desk.answered(contact_id, "q")
    assert traces(redis_client, contact_id) == []


def test_a_contact_never_watched_leaves_a_record_that_expires(
    desk: Desk, redis_client: redis.Redis, unique: str
) -> None:
    contact_id = f"c-{unique}"
    desk.configure_queue("q", timedelta(seconds=20))
    desk.queued(contact_id, "q", common_pb2.CHANNEL_EMAIL)
    assert timedelta(0) < timedelta(milliseconds=desk.expiry_ms(Subject.CONTACT, contact_id)) <= RETENTION
    _gone(redis_client, contact_id)


def test_a_watch_whose_end_never_comes_expires_a_retention_after_its_breach(
    desk: Desk, redis_client: redis.Redis, unique: str
) -> None:
    contact_id = f"c-{unique}"
    threshold = timedelta(seconds=1)
    desk.configure_queue("q", threshold)
    started = time.monotonic()
    desk.queued(contact_id, "q", common_pb2.CHANNEL_CHAT)
    desk.time_passes(threshold)
    assert desk.store.timers() == 0
    record = desk.watches.record(desk.tenant, contact_id)
    assert record is not None
    assert record.watch is not None
    assert record.watch.breached
    _gone(redis_client, contact_id)
    assert time.monotonic() - started >= (threshold + RETENTION).total_seconds() - 0.05


def test_a_timer_whose_record_is_gone_is_dropped_when_it_comes_due(
    desk: Desk, redis_client: redis.Redis, unique: str
) -> None:
    ticket_id, contact_id = f"T-{unique}", f"c-{unique}"
    desk.created(ticket_id)
    desk.configure_queue("q", timedelta(seconds=20))
    desk.queued(contact_id, "q", common_pb2.CHANNEL_VOICE)
    # Records never expire with timers to come; one deleted by hand must not leave them behind.
    redis_client.delete(
        Keys(desk.tenant).record(Subject.TICKET, ticket_id),
        Keys(desk.tenant).record(Subject.CONTACT, contact_id),
    )
    desk.time_passes(timedelta(hours=8))
    assert desk.store.timers() == 0
    assert traces(redis_client, ticket_id) == []
    assert traces(redis_client, contact_id) == []


def test_a_removed_queues_target_is_forgotten(desk: Desk, redis_client: redis.Redis, unique: str) -> None:
    queue_id = f"q-{unique}"
    desk.configure_queue(queue_id, timedelta(seconds=20))
    assert desk.watches.target(desk.tenant, queue_id) is not None
    desk.deliver(queue_events_pb2.QueueRemoved(tenant_id=desk.tenant, queue_id=queue_id))
    assert desk.watches.target(desk.tenant, queue_id) is None
    assert traces(redis_client, queue_id) == []
