"""The producer's configuration and its failures, without a broker."""

from __future__ import annotations

import pytest
from kafka.errors import KafkaTimeoutError

from helpline.producer import Producer, librdkafka_config


def test_records_are_acked_by_all_replicas_idempotently_and_keyed_as_java_clients_do() -> None:
    config = librdkafka_config("b:9092", "router", {"security_protocol": "SSL", "linger_ms": 0})
    assert (config["acks"], config["enable.idempotence"]) == ("all", True)
    assert config["partitioner"] == "murmur2_random"
    assert (config["security.protocol"], config["linger.ms"]) == ("SSL", 0)


def test_a_record_no_broker_acks_times_out() -> None:
    producer = Producer("127.0.0.1:1", "test")
    delivery = producer.send("t", b"v")
    with pytest.raises(KafkaTimeoutError):
        delivery.get(timeout=0.5)
    with pytest.raises(KafkaTimeoutError, match="1 records not acked"):
        producer.flush(0.5)
