"""The producer, consumers and topic admin every Helpline process and tool uses, built on the backend
`client` names (HELPLINE_KAFKA_CLIENT through Settings.kafka_options): librdkafka ("confluent", the
default) or kafka-python. Options take kafka-python's names (helpline.kafka.options)."""

from __future__ import annotations

from typing import Any

from helpline.kafka.confluent import ConfluentAdmin, ConfluentConsumer, ConfluentProducer
from helpline.kafka.kafka_python import KafkaPythonAdmin, KafkaPythonConsumer, KafkaPythonProducer
from helpline.kafka.options import BACKENDS
from helpline.kafka.port import Admin, Consumer, Producer

DEFAULT = "confluent"


def _kafka_python(client: str) -> bool:
    if client not in BACKENDS:
        raise ValueError(f"unknown Kafka client {client!r}; known: {list(BACKENDS)}")
    return client == "kafka-python"


def producer(bootstrap: str, client_id: str, *, client: str = DEFAULT, **options: Any) -> Producer:
    """Idempotent, acked by every in-sync replica."""
    if _kafka_python(client):
        return KafkaPythonProducer(bootstrap, client_id, **options)
    return ConfluentProducer(bootstrap, client_id, **options)


def consumer(
    bootstrap: str, client_id: str, group_id: str | None = None, *, client: str = DEFAULT, **options: Any
) -> Consumer:
    """Commits only when told, reads committed records only, and starts a partition nothing was
    committed for at its beginning; without `group_id` it is only assigned partitions."""
    if _kafka_python(client):
        return KafkaPythonConsumer(bootstrap, client_id, group_id, **options)
    return ConfluentConsumer(bootstrap, client_id, group_id, **options)


def admin(
    bootstrap: str, client_id: str, timeout_s: float = 5.0, *, client: str = DEFAULT, **options: Any
) -> Admin:
    """Each call fails within `timeout_s` when the cluster does not answer, so a service waiting for
    Kafka says so early."""
    if _kafka_python(client):
        return KafkaPythonAdmin(bootstrap, client_id, timeout_s, **options)
    return ConfluentAdmin(bootstrap, client_id, timeout_s, **options)
