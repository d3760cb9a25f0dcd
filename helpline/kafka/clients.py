"""The producer, consumers and topic admin every Helpline process and tool uses, built on a backend.
Options take kafka-python's names (helpline.kafka.options), as the settings give them."""

from __future__ import annotations

from typing import Any

from helpline.kafka.confluent import ConfluentAdmin, ConfluentConsumer, ConfluentProducer
from helpline.kafka.port import Admin, Consumer, Producer


def producer(bootstrap: str, client_id: str, **options: Any) -> Producer:
    """Idempotent, acked by every in-sync replica."""
    return ConfluentProducer(bootstrap, client_id, **options)


def consumer(bootstrap: str, client_id: str, group_id: str | None = None, **options: Any) -> Consumer:
    """Commits only when told, reads committed records only, and starts a partition nothing was
    committed for at its beginning; without `group_id` it is only assigned partitions."""
    return ConfluentConsumer(bootstrap, client_id, group_id, **options)


def admin(bootstrap: str, client_id: str, timeout_s: float = 5.0, **options: Any) -> Admin:
    """Each call fails within `timeout_s` when the cluster does not answer, so a service waiting for
    Kafka says so early."""
    return ConfluentAdmin(bootstrap, client_id, timeout_s, **options)
