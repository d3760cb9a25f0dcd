"""The exporter's batch path on the real Redis and Kafka: a batch moves the series exactly as the same
events handled one by one, a redelivered batch changes no state figure, a bad event in a batch is
dead-lettered alone while the rest are counted once, a failed round trip moves nothing, a batch
loads the scripts Redis forgot, and the thresholds a replica keeps catch up with changes made
through another."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
import redis
from google.protobuf.message import Message
from prometheus_client import CollectorRegistry

from helpline.bus import BusMetrics, ConsumerLoop, make_producer, publish
from helpline.events import Envelope, batch_handler, event_handler, event_type_label, new_event, to_record
from helpline.v1 import common_pb2, contact_events_pb2, feedback_events_pb2, queue_events_pb2
from tests.integration.helpers import make_topic, read_all, wait_until
from tests.integration.metrics.test_exporter import (
    EXPECTED_STATE,
    Replica,
    _agent_events,
    _completed,
    _configure_queue,
    _connected,
    _contact,
    _duration,
    _entered,
    _state_figures,
    _ticket_events,
)

c, q = contact_events_pb2, queue_events_pb2


class Collector(Replica):
    """A replica that keeps the events it is given, to hand them over as batches later."""

    def deliver(self, message: Message) -> None:
        self.delivered.append(new_event(message, source="/test"))

    def handle_in_batches(self, size: int) -> None:
        for start in range(0, len(self.delivered), size):
            self.events.handle_batch(self.delivered[start : start + size])


def _day(replica: Replica, tenant: str) -> None:
    """Every kind of Redis work, with the orders a batch must keep: the queue configured just before
    its first answers, an agent's changes one after another, a contact answered twice."""
    _configure_queue(replica, tenant, 20)
    for n, wait in enumerate([5, 30, 12, 25]):
        _contact(replica, tenant, f"c{n}")
        _connected(replica, tenant, f"c{n}", wait)
    _connected(replica, tenant, "c0", 50)
    abandoned = c.ContactAbandoned(
        tenant_id=tenant, contact_id="c9", queue_id="q1", channel=common_pb2.CHANNEL_VOICE
    )
    _duration(3, abandoned, "wait_duration")
    replica.deliver(abandoned)
    for n in range(6):
        _entered(replica, tenant, f"s{n}", n * 30, c.QUEUE_ENTRY_REASON_NEW)
        _completed(replica, tenant, f"s{n}", n * 30 + 5)
    _agent_events(replica, tenant)
    _ticket_events(replica, tenant)
    for kind, score, scale_max in (
        (common_pb2.SURVEY_KIND_CSAT, 5, 5),
        (common_pb2.SURVEY_KIND_NPS, 3, 10),
        (common_pb2.SURVEY_KIND_CES, 3, 5),
    ):
        replica.deliver(
            feedback_events_pb2.SurveyAnswered(tenant_id=tenant, kind=kind, score=score, scale_max=scale_max)
        )
    snapshot = q.QueueSnapshot(tenant_id=tenant, queue_id="q2", channel=common_pb2.CHANNEL_CHAT, depth=3)
    _duration(45, snapshot, "service_level_threshold")
    replica.deliver(snapshot)
    _connected(replica, tenant, "c-chat", 40, queue_id="q2")


def _samples(registry: CollectorRegistry, tenant: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the tenant's, by name and its other labels, but when each series was created."""
    return {
        (sample.name, frozenset((k, v) for k, v in sample.labels.items() if k != "tenant")): sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.labels.get("tenant") == tenant and not sample.name.endswith("_created")
    }


@pytest.mark.parametrize("size", [1000, 7])
def test_a_batch_moves_the_series_as_its_events_one_by_one(
    redis_client: redis.Redis, unique: str, size: int
) -> None:
    one_by_one, batched = Replica(redis_client), Collector(redis_client)
    _day(one_by_one, f"t{unique}a")
    _day(batched, f"t{unique}b")
    batched.handle_in_batches(size)
    got = _samples(batched.registry, f"t{unique}b")
    # The queue's threshold, configured in the same batch as its answers, was read after it was set.
    within = (
        "helpline_contacts_answered_in_threshold_total",
        frozenset({("queue", "q1"), ("channel", "voice")}),
    )
    assert got[within] == 2
    assert got == _samples(one_by_one.registry, f"t{unique}a")


def test_a_redelivered_batch_changes_no_state_figure(redis_client: redis.Redis, unique: str) -> None:
    replica = Collector(redis_client)
    tenant = f"t{unique}"
    _agent_events(replica, tenant)
    _ticket_events(replica, tenant)
    replica.handle_in_batches(1000)
    assert _state_figures(replica, tenant) == EXPECTED_STATE
    replica.handle_in_batches(1000)
    replica.handle_in_batches(5)
    assert _state_figures(replica, tenant) == EXPECTED_STATE


def test_a_bad_event_in_a_batch_is_dead_lettered_alone(
    kafka_bootstrap: str, redis_client: redis.Redis, unique: str
) -> None:
    topic = make_topic(kafka_bootstrap, f"test.metricsbatch.{unique}", partitions=1)
    tenant = f"t{unique}"
    replica = Replica(redis_client)
    received = [
        new_event(
            c.ContactReceived(tenant_id=tenant, contact_id=f"c{n}", channel=common_pb2.CHANNEL_CHAT),
            source="/test",
        )
        for n in range(40)
    ]
    off_scale = new_event(
        feedback_events_pb2.SurveyAnswered(
            tenant_id=tenant, kind=common_pb2.SURVEY_KIND_CSAT, score=6, scale_max=5
        ),
        source="/test",
    )
    events: list[Envelope] = [*received[:20], off_scale, *received[20:]]
    producer = make_producer(kafka_bootstrap, "test")
    for event in events:
        publish(producer, to_record(event, topic, key=b"k"))
    in_batches: list[str] = []
    one_by_one: list[str] = []

    def handle_batch(envelopes: Sequence[Envelope]) -> int:
        done = replica.events.handle_batch(envelopes)
        in_batches.extend(e.id for e in envelopes[:done])
        return done

    def handle(envelope: Envelope) -> None:
        one_by_one.append(envelope.id)
        replica.events.handle(envelope)

    bus = CollectorRegistry()
    loop = ConsumerLoop(
        bootstrap=kafka_bootstrap,
        group_id=f"g-{unique}",
        topics=[topic],
        handler=event_handler(handle),
        batch_handler=batch_handler(handle_batch),
        dlq_producer=producer,
        metrics=BusMetrics(bus, event_type_label),
    )

    def handled(outcome: str) -> float:
        return sum(
            bus.get_sample_value(
                "helpline_events_handled_total", {"topic": topic, "type": t, "outcome": outcome}
            )
            or 0.0
            for t in (received[0].type, off_scale.type)
        )

    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        wait_until(lambda: handled("ok") + handled("dlq") == len(events), what="every event")
        (dead,) = read_all(kafka_bootstrap, f"{topic}.dlq", expected=1)
    finally:
        loop.stop()
        thread.join(30)
        producer.close()
    # The bad event alone left the batches, to be dead-lettered on its own.
    assert in_batches == [e.id for e in received]
    assert one_by_one == [off_scale.id]
    assert dict(dead.headers)["ce_id"] == off_scale.id.encode()
    assert b"score_out_of_range" in dict(dead.headers)["dlq_error"]
    assert handled("dlq") == 1
    counted = replica.value("helpline_contacts_received_total", tenant=tenant, channel="chat", department="")
    assert counted == len(received)
    assert replica.value("helpline_csat_responses_total", tenant=tenant, satisfied="false") is None


def test_a_failed_round_trip_counts_what_redis_ran_once_and_the_next_one_goes_through(
    redis_client: redis.Redis, unique: str
) -> None:
    tenant = f"t{unique}"
    replica = Collector(redis_client)
    # A key of the wrong type makes the agent's script fail in the middle of the trip.
    redis_client.set(f"metrics:agent:{tenant}\x1fa1", "not a hash")
    _contact(replica, tenant, "c1")
    _agent_events(replica, tenant)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        replica.handle_in_batches(1000)
    # Redis ran the rest of the trip: the contact's counts were made with their marks.
    labels = {"tenant": tenant, "channel": "voice", "department": "support"}
    assert replica.value("helpline_contacts_received_total", **labels) == 1

    # The connection whose replies were left unread was dropped, not handed to the next trip.
    redis_client.delete(f"metrics:agent:{tenant}\x1fa1")
    replica.handle_in_batches(1000)
    assert replica.value("helpline_contacts_received_total", **labels) == 1
    assert replica.value("helpline_agents", tenant=tenant, status="available") == 1


def test_a_threshold_changed_through_another_replica_is_used_at_once(
    redis_client: redis.Redis, unique: str
) -> None:
    tenant = f"t{unique}"
    configuring, answering = Replica(redis_client), Replica(redis_client)
    labels = {"tenant": tenant, "queue": "q1", "channel": "voice"}

    def answered_within(contact_id: str, wait: float) -> float | None:
        _contact(answering, tenant, contact_id)
        _connected(answering, tenant, contact_id, wait)
        return answering.value("helpline_contacts_answered_in_threshold_total", **labels)

    _configure_queue(configuring, tenant, 20)
    assert answered_within("c1", 15) == 1
    _configure_queue(configuring, tenant, 10)
    assert answered_within("c2", 15) == 1
    assert answered_within("c3", 10) == 2


def test_a_batch_loads_the_scripts_redis_has_forgotten(redis_client: redis.Redis, unique: str) -> None:
    tenant = f"t{unique}"
    replica = Collector(redis_client)
    _agent_events(replica, tenant)
    # What a restart of Redis does to its scripts, in the middle of the service's life.
    redis_client.script_flush()
    replica.handle_in_batches(1000)
    assert replica.value("helpline_agents", tenant=tenant, status="away") == 1
