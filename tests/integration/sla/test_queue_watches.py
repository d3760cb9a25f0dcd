"""Queue answer targets on the real Redis: the router's queue configuration and contact events in,
warning and breach events out through the outbox, each once, whatever the number of workers."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import redis
from google.protobuf.message import Message

from helpline.clock import FakeClock
from helpline.domain import timestamp
from helpline.events import new_event
from helpline.v1 import common_pb2, contact_events_pb2, queue_events_pb2, sla_events_pb2
from services.sla.config import SlaConfig
from services.sla.consumers import SlaEvents
from services.sla.store import OUTBOX_STREAM, TIMERS, SlaStore, Subject
from services.sla.ticket_slas import TicketSlas
from services.sla.timers import TimerWorker
from services.sla.watches import QueueWatches
from tests.integration.outbox_events import outbox_events

THRESHOLD = timedelta(seconds=20)


def _deliver(events: SlaEvents, message: Message) -> None:
    events.handle(new_event(message, source="/test", subject=getattr(message, "contact_id", None)))


def _configure(events: SlaEvents, tenant: str, version: int = 1, threshold: timedelta = THRESHOLD) -> None:
    configured = queue_events_pb2.QueueConfigured(tenant_id=tenant, queue_id="q", version=version)
    configured.service_level_threshold.FromTimedelta(threshold)
    _deliver(events, configured)


def _queue(
    events: SlaEvents, tenant: str, contact_id: str, at: datetime, since: datetime | None = None
) -> None:
    queued = contact_events_pb2.ContactQueued(
        tenant_id=tenant,
        contact_id=contact_id,
        queue_id="q",
        channel=common_pb2.CHANNEL_VOICE,
        queued_at=timestamp(at),
    )
    if since is not None:
        queued.enqueued_since.CopyFrom(timestamp(since))
    _deliver(events, queued)


def _worker(store: SlaStore, clock: FakeClock, watches: QueueWatches) -> TimerWorker:
    return TimerWorker(store, clock, {Subject.CONTACT: watches.fire})


def _alerts(client: redis.Redis, tenant: str) -> list[Message]:
    return [
        event
        for event in outbox_events(client, OUTBOX_STREAM, tenant)
        if isinstance(event, sla_events_pb2.SlaQueueWarning | sla_events_pb2.SlaQueueBreached)
    ]


def test_a_waiting_call_warns_at_three_quarters_and_breaches_at_the_threshold(
    store: SlaStore, clock: FakeClock, tenant: str, redis_client: redis.Redis
) -> None:
    watches = QueueWatches(store)
    events = SlaEvents(watches, TicketSlas(store, SlaConfig(store)))
    worker = _worker(store, clock, watches)
    _configure(events, tenant)
    start = clock.now()
    _queue(events, tenant, "c", start)
    clock.advance(timedelta(seconds=14))
    assert worker.run_once() == 0
    clock.advance(timedelta(seconds=1))
    assert worker.run_once() == 1
    clock.advance(timedelta(seconds=5))
    assert worker.run_once() == 1
    warning, breach = _alerts(redis_client, tenant)
    assert isinstance(warning, sla_events_pb2.SlaQueueWarning)
    assert warning.queued_contact.contact_id == "c"
    assert warning.queued_contact.queue_id == "q"
    assert warning.channel == common_pb2.CHANNEL_VOICE
    assert warning.service_level_threshold.ToTimedelta() == THRESHOLD
    assert warning.wait_duration.ToTimedelta() == timedelta(seconds=15)
    assert isinstance(breach, sla_events_pb2.SlaQueueBreached)
    assert breach.wait_duration.ToTimedelta() == THRESHOLD
    assert store.timers() == 0


def test_an_answer_before_the_threshold_cancels_the_breach(
    store: SlaStore, clock: FakeClock, tenant: str, redis_client: redis.Redis
) -> None:
    watches = QueueWatches(store)
    events = SlaEvents(watches, TicketSlas(store, SlaConfig(store)))
    _configure(events, tenant)
    _queue(events, tenant, "c", clock.now())
    connected = contact_events_pb2.ContactConnected(
        tenant_id=tenant,
        contact_id="c",
        queue_id="q",
        connected_at=timestamp(clock.now() + timedelta(seconds=5)),
    )
    _deliver(events, connected)
    assert store.timers() == 0
    clock.advance(timedelta(minutes=1))
    assert _worker(store, clock, watches).run_once() == 0
    # The same queued event delivered again after the answer does not start a new watch.
    _queue(events, tenant, "c", clock.now() - timedelta(minutes=1))
    assert store.timers() == 0
    assert _alerts(redis_client, tenant) == []


def test_the_wait_before_a_transfer_counts_and_an_older_queue_configuration_loses(
    store: SlaStore, clock: FakeClock, tenant: str, redis_client: redis.Redis
) -> None:
    watches = QueueWatches(store)
    events = SlaEvents(watches, TicketSlas(store, SlaConfig(store)))
    _configure(events, tenant, version=2)
    _configure(events, tenant, version=1, threshold=timedelta(hours=1))
    target = watches.target(tenant, "q")
    assert target is not None
    assert target.threshold == THRESHOLD
    _queue(events, tenant, "c", clock.now(), since=clock.now() - timedelta(seconds=25))
    assert _worker(store, clock, watches).run_once() == 2
    assert [type(alert).__name__ for alert in _alerts(redis_client, tenant)] == [
        "SlaQueueWarning",
        "SlaQueueBreached",
    ]


def test_workers_racing_for_the_same_timers_emit_each_alert_once(
    store: SlaStore, clock: FakeClock, tenant: str, redis_client: redis.Redis
) -> None:
    watches = QueueWatches(store)
    events = SlaEvents(watches, TicketSlas(store, SlaConfig(store)))
    _configure(events, tenant)
    for i in range(100):
        _queue(events, tenant, f"c{i}", clock.now())
    clock.advance(THRESHOLD)
    workers = [_worker(SlaStore(redis_client), clock, QueueWatches(SlaStore(redis_client))) for _ in range(4)]
    barrier = threading.Barrier(len(workers))

    def drain(worker: TimerWorker) -> None:
        barrier.wait()
        while worker.run_once():
            pass

    threads = [threading.Thread(target=drain, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    alerts = _alerts(redis_client, tenant)
    # A breach fired first marks the warning sent: each contact gets at most one of each, and a breach.
    breached = [a.queued_contact.contact_id for a in alerts if isinstance(a, sla_events_pb2.SlaQueueBreached)]
    warned = [a.queued_contact.contact_id for a in alerts if isinstance(a, sla_events_pb2.SlaQueueWarning)]
    assert sorted(breached) == sorted(f"c{i}" for i in range(100))
    assert len(set(warned)) == len(warned)
    assert store.timers() == 0


def test_email_is_never_watched(store: SlaStore, clock: FakeClock, tenant: str) -> None:
    watches = QueueWatches(store)
    events = SlaEvents(watches, TicketSlas(store, SlaConfig(store)))
    _configure(events, tenant)
    email = contact_events_pb2.ContactQueued(
        tenant_id=tenant,
        contact_id="e",
        queue_id="q",
        channel=common_pb2.CHANNEL_EMAIL,
        queued_at=timestamp(clock.now()),
    )
    _deliver(events, email)
    assert store.timers() == 0


def test_a_member_that_is_no_timer_is_dropped_and_the_rest_fire(
    store: SlaStore, clock: FakeClock, tenant: str, redis_client: redis.Redis
) -> None:
    watches = QueueWatches(store)
    events = SlaEvents(watches, TicketSlas(store, SlaConfig(store)))
    _configure(events, tenant)
    _queue(events, tenant, "c", clock.now())
    redis_client.zadd(TIMERS, {"not a timer": 0})
    clock.advance(THRESHOLD)
    assert _worker(store, clock, watches).run_once() == 2
    assert len(_alerts(redis_client, tenant)) == 2
    assert store.timers() == 0


def test_a_timer_is_claimed_within_a_millisecond_after_its_due_instant_never_before(
    store: SlaStore, clock: FakeClock, tenant: str, redis_client: redis.Redis
) -> None:
    watches = QueueWatches(store)
    events = SlaEvents(watches, TicketSlas(store, SlaConfig(store)))
    _configure(events, tenant)
    # Due instants a fraction of a millisecond past a whole one.
    _queue(events, tenant, "c", clock.now() + timedelta(microseconds=400))
    clock.advance(THRESHOLD * 3 / 4)
    assert store.claim(clock.now(), 10, 1000) == []
    clock.advance(timedelta(microseconds=400))
    assert store.claim(clock.now(), 10, 1000) == []
    clock.advance(timedelta(microseconds=600))
    assert len(store.claim(clock.now(), 10, 1000)) == 1
