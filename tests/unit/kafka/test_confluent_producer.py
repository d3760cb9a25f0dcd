"""The librdkafka producer's configuration and its failures, without a broker."""

from __future__ import annotations

import confluent_kafka
import pytest

from helpline.failures import is_transient
from helpline.kafka.confluent import MESSAGE_MAX_BYTES, error_of, producer_config
from helpline.kafka.confluent import ConfluentProducer as Producer
from helpline.kafka.port import ProduceError, ProduceTimeoutError


def test_records_are_acked_by_all_replicas_idempotently_and_keyed_as_java_clients_do() -> None:
    config = producer_config("b:9092", "router", {"security_protocol": "SSL", "linger_ms": 0})
    assert (config["acks"], config["enable.idempotence"]) == ("all", True)
    assert config["partitioner"] == "murmur2_random"
    assert (config["security.protocol"], config["linger.ms"]) == ("SSL", 0)


def test_a_record_no_broker_acks_times_out() -> None:
    producer = Producer("127.0.0.1:1", "test")
    delivery = producer.send("t", b"v")
    with pytest.raises(ProduceTimeoutError):
        delivery.get(timeout=0.5)
    with pytest.raises(ProduceTimeoutError, match=r"records not acked within 0.5 s \(\d+ still queued\)"):
        producer.flush(0.5)


def test_a_record_larger_than_the_producer_sends_is_refused_at_once_as_permanent() -> None:
    producer = Producer("127.0.0.1:1", "test")
    with pytest.raises(ProduceError) as refused:
        producer.send("t", b"x" * (MESSAGE_MAX_BYTES + 1))
    assert refused.value.permanent
    assert "MSG_SIZE_TOO_LARGE" in str(refused.value)
    assert not is_transient(refused.value)


def test_no_ack_in_time_is_transient() -> None:
    assert is_transient(ProduceTimeoutError("no ack"))


def test_a_transport_failure_is_transient_and_a_fatal_or_record_error_permanent() -> None:
    transport = confluent_kafka.KafkaError(confluent_kafka.KafkaError._TRANSPORT)
    assert is_transient(error_of(transport, "x"))
    too_large = confluent_kafka.KafkaError(confluent_kafka.KafkaError.MSG_SIZE_TOO_LARGE)
    assert not is_transient(error_of(too_large, "x"))
    fatal = confluent_kafka.KafkaError(confluent_kafka.KafkaError._FENCED, fatal=True)
    assert not is_transient(error_of(fatal, "x"))
