"""kafka-python's errors, classified as the librdkafka backend's are, without a broker."""

from __future__ import annotations

import kafka.errors
import pytest

from helpline.failures import is_transient
from helpline.kafka.kafka_python import error_of
from helpline.kafka.options import SECURITY
from helpline.kafka.port import DeliveryError


@pytest.mark.parametrize(
    "failure",
    [
        kafka.errors.KafkaTimeoutError("Unable to bootstrap from 127.0.0.1:9092"),
        kafka.errors.NotEnoughReplicasError(),
        kafka.errors.NotLeaderForPartitionError(),
        kafka.errors.BrokerNotAvailableError(),
        kafka.errors.KafkaConnectionError("connection reset"),
    ],
    ids=repr,
)
def test_a_cluster_away_or_moving_is_transient(failure: Exception) -> None:
    assert is_transient(error_of(failure, DeliveryError))


@pytest.mark.parametrize(
    "failure",
    [
        kafka.errors.MessageSizeTooLargeError(),
        kafka.errors.InvalidRecordError(),
        kafka.errors.TopicAlreadyExistsError(),
    ],
    ids=repr,
)
def test_a_record_at_fault_or_an_answer_that_stands_is_permanent(failure: Exception) -> None:
    assert not is_transient(error_of(failure, DeliveryError))


def test_its_options_are_the_settings_names_as_they_are() -> None:
    # The settings name kafka-python's options; its backend passes them on untranslated.
    assert set(SECURITY) <= set(kafka.KafkaProducer.DEFAULT_CONFIG)
    assert set(SECURITY) <= set(kafka.KafkaConsumer.DEFAULT_CONFIG)
