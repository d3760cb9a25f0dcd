"""Topics created from the catalog on a real broker, with the layout the settings give: the
replication factor and `min.insync.replicas` reach the broker, and a layout the cluster cannot hold
fails with Kafka's reason, which the topics Job (or a service creating a missing topic) stops on."""

from __future__ import annotations

import pytest

from helpline.failures import is_transient
from helpline.kafka import clients
from helpline.kafka.port import KafkaError
from helpline.settings import load_settings
from helpline.topic_admin import ensure_topics
from helpline.topics import DLQ_MAX_MESSAGE_BYTES, TopicSpec

SPEC = TopicSpec("test.layout", key="id", partitions=2, domains=("test",))


def _configs(bootstrap: str, topic: str) -> dict[str, str]:
    admin = clients.admin(bootstrap, "test-topics", timeout_s=10)
    try:
        return admin.configs(topic)
    finally:
        admin.close()


def test_the_settings_layout_reaches_every_topic_and_its_dlq(kafka_bootstrap: str, unique: str) -> None:
    layout = load_settings(topic_replication_factor=1, topic_min_insync_replicas=1).topic_layout()
    prefix = f"{unique}."
    created = ensure_topics(kafka_bootstrap, [SPEC], prefix=prefix, **layout)
    assert created == [f"{prefix}{SPEC.name}", f"{prefix}{SPEC.dlq}"]
    topic, dlq = _configs(kafka_bootstrap, created[0]), _configs(kafka_bootstrap, created[1])
    assert topic["min.insync.replicas"] == dlq["min.insync.replicas"] == "1"
    assert dlq["max.message.bytes"] == str(DLQ_MAX_MESSAGE_BYTES)
    # Present already: left as they are.
    assert ensure_topics(kafka_bootstrap, [SPEC], prefix=prefix, **layout) == []


def test_more_replicas_than_brokers_is_refused_with_kafkas_reason(kafka_bootstrap: str, unique: str) -> None:
    with pytest.raises(KafkaError, match=f"creating topic {unique}.test.layout.* failed") as refused:
        ensure_topics(
            kafka_bootstrap, [SPEC], prefix=f"{unique}.", replication_factor=3, min_insync_replicas=2
        )
    # Not retried: no wait makes brokers appear.
    assert not is_transient(refused.value)
