"""CloudEvents through the real broker: binary and structured mode, a gateway's JSON event sent
with kcat, and an undecodable event dead-lettered while the next one is handled."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Sequence

import pytest

from helpline.bus import ConsumerLoop, make_producer, publish
from helpline.events import (
    Envelope,
    batch_handler,
    event_handler,
    new_event,
    to_record,
    to_structured_json,
)
from helpline.records import OutgoingRecord
from helpline.v1 import common_pb2, contact_events_pb2
from tests.integration.helpers import make_topic, read_all, wait_until


def contact(contact_id: str) -> contact_events_pb2.ContactReceived:
    return contact_events_pb2.ContactReceived(
        tenant_id="acme", contact_id=contact_id, channel=common_pb2.CHANNEL_EMAIL
    )


def consume_envelopes(bootstrap: str, topic: str, group: str, expected: int) -> list[Envelope]:
    seen: list[Envelope] = []
    producer = make_producer(bootstrap, "dlq")
    loop = ConsumerLoop(
        bootstrap=bootstrap,
        group_id=group,
        topics=[topic],
        handler=event_handler(seen.append),
        dlq_producer=producer,
    )
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        wait_until(lambda: len(seen) >= expected, what=f"{expected} events")
    finally:
        loop.stop()
        thread.join(30)
        producer.close()
    return seen


def test_binary_and_structured_events_round_trip(kafka_bootstrap: str, unique: str) -> None:
    topic = make_topic(kafka_bootstrap, f"test.events.{unique}")
    producer = make_producer(kafka_bootstrap, "test")
    binary = new_event(contact("c-1"), source="/test", subject="c-1")
    structured = new_event(contact("c-2"), source="/test", subject="c-2")
    publish(producer, to_record(binary, topic))
    publish(
        producer,
        OutgoingRecord(
            topic, to_structured_json(structured), b"c-2", [("content-type", b"application/cloudevents+json")]
        ),
    )
    producer.close()

    got = {e.id: e for e in consume_envelopes(kafka_bootstrap, topic, f"g-{unique}", 2)}
    assert got[binary.id] == binary
    assert got[structured.id].message == structured.message
    assert got[structured.id].type == "helpline.contact.received.v1"


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is installed by `make deps`")
def test_json_cloudevent_published_with_kcat_is_decoded(kafka_bootstrap: str, unique: str) -> None:
    topic = make_topic(kafka_bootstrap, f"test.kcat.{unique}")
    event = {
        "specversion": "1.0",
        "id": f"kcat-{unique}",
        "source": "/gateway/sms",
        "type": "helpline.contact.received.v1",
        "subject": "c-77",
        "time": "2026-11-25T10:00:00Z",
        "datacontenttype": "application/json",
        "data": {
            "tenantId": "acme",
            "contactId": "c-77",
            "channel": "CHANNEL_SMS",
            "context": {"customerId": "cust-1", "intent": "billing"},
        },
    }
    subprocess.run(
        [
            "kcat",
            "-P",
            "-b",
            kafka_bootstrap,
            "-t",
            topic,
            "-k",
            "c-77",
            "-H",
            "content-type=application/cloudevents+json",
        ],
        input=json.dumps(event).encode(),
        check=True,
        timeout=30,
    )
    (envelope,) = consume_envelopes(kafka_bootstrap, topic, f"g-{unique}", 1)
    assert envelope.id == f"kcat-{unique}"
    assert envelope.source == "/gateway/sms"
    assert envelope.subject == "c-77"
    message = envelope.message
    assert isinstance(message, contact_events_pb2.ContactReceived)
    assert message.channel == common_pb2.CHANNEL_SMS
    assert message.context.customer_id == "cust-1"
    assert message.context.intent == "billing"


def test_undecodable_event_goes_to_dlq_and_the_next_is_handled(kafka_bootstrap: str, unique: str) -> None:
    topic = make_topic(kafka_bootstrap, f"test.badevent.{unique}", partitions=1)
    producer = make_producer(kafka_bootstrap, "test")
    publish(
        producer,
        OutgoingRecord(
            topic,
            b'{"specversion": "1.0", "id": "x"',
            b"k",
            [("content-type", b"application/cloudevents+json")],
        ),
    )
    good = new_event(contact("c-3"), source="/test", subject="c-3")
    publish(producer, to_record(good, topic))
    producer.close()

    (handled,) = consume_envelopes(kafka_bootstrap, topic, f"g-{unique}", 1)
    assert handled.id == good.id
    (dead,) = read_all(kafka_bootstrap, f"{topic}.dlq", expected=1)
    headers = dict(dead.headers)
    assert b"EventError" in headers["dlq_error"]
    assert b"malformed CloudEvent" in headers["dlq_error"]
    assert headers["dlq_attempts"] == b"1"


def test_a_batch_of_events_with_an_undecodable_one_dead_letters_it_alone(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = make_topic(kafka_bootstrap, f"test.eventbatch.{unique}", partitions=1)
    producer = make_producer(kafka_bootstrap, "test")
    first = new_event(contact("c-5"), source="/test", subject="c-5")
    second = new_event(contact("c-6"), source="/test", subject="c-6")
    publish(producer, to_record(first, topic))
    publish(producer, OutgoingRecord(topic, b"{", b"k", [("content-type", b"application/cloudevents+json")]))
    publish(producer, to_record(second, topic))
    in_batches: list[Envelope] = []
    one_by_one: list[Envelope] = []

    def handle_batch(envelopes: Sequence[Envelope]) -> int:
        in_batches.extend(envelopes)
        return len(envelopes)

    loop = ConsumerLoop(
        bootstrap=kafka_bootstrap,
        group_id=f"g-{unique}",
        topics=[topic],
        handler=event_handler(one_by_one.append),
        batch_handler=batch_handler(handle_batch),
        dlq_producer=producer,
    )
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        wait_until(lambda: len(in_batches) + len(one_by_one) == 2, what="the two good events")
        (dead,) = read_all(kafka_bootstrap, f"{topic}.dlq", expected=1)
    finally:
        loop.stop()
        thread.join(30)
        producer.close()
    # The first event came in a batch cut short by the undecodable one, the second in the next.
    assert [e.id for e in in_batches] == [first.id, second.id]
    assert one_by_one == []
    assert dead.value == b"{"
    assert b"EventError" in dict(dead.headers)["dlq_error"]
