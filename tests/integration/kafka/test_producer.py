"""The librdkafka producer on the real broker: acks, where keyed records land, headers kept."""

from __future__ import annotations

from kafka import KafkaProducer

from helpline.bus import make_producer, publish
from helpline.records import OutgoingRecord
from tests.integration.helpers import make_topic, read_all


def test_publish_returns_where_the_record_landed_with_its_headers(kafka_bootstrap: str, unique: str) -> None:
    topic = make_topic(kafka_bootstrap, f"producer-{unique}")
    producer = make_producer(kafka_bootstrap, "test")
    try:
        delivered = publish(producer, OutgoingRecord(topic, b"v", b"k", [("ce_id", b"e1"), ("raw", b"\xff")]))
    finally:
        producer.close()

    [record] = read_all(kafka_bootstrap, topic, expected=1)
    assert (delivered.topic, delivered.partition) == (topic, record.partition)
    assert delivered.offset == record.offset
    assert (record.key, record.value, record.headers) == (b"k", b"v", [("ce_id", b"e1"), ("raw", b"\xff")])


def test_a_key_lands_on_the_partition_kafka_python_and_java_clients_choose(
    kafka_bootstrap: str, unique: str
) -> None:
    # Gateways write with other clients; a contact's events must share its partition whoever wrote.
    topic = make_topic(kafka_bootstrap, f"partitions-{unique}", partitions=6)
    keys = [f"contact-{i}".encode() for i in range(40)]
    ours = make_producer(kafka_bootstrap, "test")
    theirs = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        mine = {key: ours.send(topic, b"ours", key) for key in keys}
        ours.flush()
        other = {key: theirs.send(topic, b"theirs", key) for key in keys}
        theirs.flush()
        assert {key: d.get().partition for key, d in mine.items()} == {
            key: f.get(timeout=10).partition for key, f in other.items()
        }
    finally:
        ours.close()
        theirs.close()
