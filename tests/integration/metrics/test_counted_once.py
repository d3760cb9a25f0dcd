"""Each event counted once, however often it is delivered, on the real Redis: an event handed over
again (a relay publishing again what Redis never acknowledged, a group handing over again what
Kafka never committed) to the same replica or to another, and an event whose round trip failed
after Redis ran it (Redis frozen past the socket timeout) when the bus hands it back, and an event
handed to a replica started again after a SIGKILL."""

from __future__ import annotations

import pytest
import redis
from google.protobuf.message import Message

from helpline.events import Envelope, new_event
from helpline.redis_client import connect
from helpline.settings import Settings
from helpline.v1 import common_pb2, contact_events_pb2, feedback_events_pb2, sla_events_pb2
from tests.integration.metrics.test_exporter import Replica
from tests.integration.private_stack import PrivateStack

c = contact_events_pb2


def _events(tenant: str) -> list[Envelope]:
    """One event of each kind of count: a queued, answered, abandoned and completed contact, a
    survey answer, an SLA breach."""
    voice = common_pb2.CHANNEL_VOICE
    messages: list[Message] = [
        c.ContactQueued(
            tenant_id=tenant, contact_id="c1", queue_id="q1", channel=voice, reason=c.QUEUE_ENTRY_REASON_NEW
        ),
        c.ContactConnected(tenant_id=tenant, contact_id="c1", queue_id="q1", channel=voice),
        c.ContactAbandoned(tenant_id=tenant, contact_id="c2", queue_id="q1", channel=voice),
        c.ContactCompleted(tenant_id=tenant, contact_id="c1", queue_id="q1", channel=voice),
        feedback_events_pb2.SurveyAnswered(
            tenant_id=tenant, survey_id="s1", kind=common_pb2.SURVEY_KIND_CSAT, score=5, scale_max=5
        ),
        sla_events_pb2.SlaBreached(
            tenant_id=tenant, ticket_id="t1", metric=common_pb2.SLA_METRIC_FIRST_REPLY
        ),
    ]
    return [new_event(message, source="/test") for message in messages]


def _counts(replica: Replica, tenant: str) -> list[float | None]:
    contact = {"tenant": tenant, "queue": "q1", "channel": "voice"}
    return [
        replica.value("helpline_contacts_queued_total", **contact),
        replica.value("helpline_contacts_answered_total", **contact),
        replica.value("helpline_contacts_abandoned_total", **contact),
        replica.value("helpline_contacts_completed_total", **contact),
        replica.value("helpline_csat_responses_total", tenant=tenant, satisfied="true"),
        replica.value("helpline_sla_breached_total", tenant=tenant, metric="first_reply"),
    ]


ONCE = [1.0] * 6


def test_an_event_delivered_again_is_counted_once_by_whichever_replica_gets_it(
    redis_client: redis.Redis, unique: str
) -> None:
    tenant = f"t{unique}"
    first, second = Replica(redis_client), Replica(redis_client)
    events = _events(tenant)
    first.events.handle_batch(events)
    assert _counts(first, tenant) == ONCE
    for envelope in events:
        first.events.handle(envelope)
    first.events.handle_batch([*events, *events])
    assert _counts(first, tenant) == ONCE
    # A rebalance hands the uncommitted records to another replica: the sum over replicas stays.
    second.events.handle_batch(events)
    assert not any(_counts(second, tenant))
    # The same facts in new events (a second survey answer, another contact's abandon) count.
    again = _events(tenant)
    first.events.handle_batch([again[2], again[4]])
    assert _counts(first, tenant) == [1.0, 1.0, 2.0, 1.0, 2.0, 1.0]


def test_an_event_whose_trip_failed_after_redis_ran_it_is_counted_when_handed_back(
    private_stack: PrivateStack, unique: str
) -> None:
    private_stack.start("redis")
    client = connect(private_stack.redis_url, Settings(redis_socket_timeout_seconds=2))
    tenant = f"t{unique}"
    replica = Replica(client)
    events = _events(tenant)
    replica.events.handle_batch(events[:1])
    private_stack.freeze("redis")
    try:
        with pytest.raises(redis.TimeoutError):
            replica.events.handle_batch(events)
    finally:
        private_stack.thaw("redis")
    # Redis ran the trip when it thawed: the marks are made, and the counts with them.
    marks = [key for key in client.scan_iter(match="metrics:delivered:*")]
    assert len(marks) == 5
    assert client.exists(f"metrics:answered:{tenant}\x1fc1")
    assert _counts(replica, tenant) == ONCE
    for envelope in events:
        replica.events.handle(envelope)
    assert _counts(replica, tenant) == ONCE
    replica.events.handle_batch(events)
    assert _counts(replica, tenant) == ONCE
    client.close()


def test_a_replica_started_again_under_its_name_carries_on_from_its_counts(
    redis_client: redis.Redis, unique: str
) -> None:
    tenant = f"t{unique}"
    before = Replica(redis_client, name=f"metrics-{unique}")
    events = _events(tenant)
    before.events.handle_batch(events[:3])
    # A SIGKILL takes the process with everything in its memory; the group hands the uncommitted
    # events to the replica started again, whose name, and so whose counts, are the same.
    after = Replica(redis_client, name=before.name)
    assert _counts(after, tenant) == [1.0, 1.0, 1.0, None, None, None]
    after.events.handle_batch(events)
    assert _counts(after, tenant) == ONCE
    # Another replica exports nothing of them: the sum over replicas is the whole.
    assert not any(_counts(Replica(redis_client), tenant))
