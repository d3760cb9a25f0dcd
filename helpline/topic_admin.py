"""Creating the catalog's topics (helpline.topics) on the cluster, through the Kafka port."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from helpline.kafka import clients
from helpline.kafka.port import NewTopic
from helpline.logging import get_logger
from helpline.topics import CATALOG, DAY_MS, DLQ_MAX_MESSAGE_BYTES, TopicSpec

log = get_logger(__name__)

# A broker away fails a metadata request within this, so a service waiting for Kafka says so early.
ADMIN_TIMEOUT_S = 5.0


def ensure_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec] = CATALOG,
    *,
    partitions: int = 0,
    replication_factor: int = -1,
    min_insync_replicas: int = 0,
    prefix: str = "",
    kafka_options: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create every missing topic and its DLQ; returns the names created. Safe to run concurrently:
    a topic another replica created first counts as present. `partitions` > 0 overrides the catalog
    (a small local stack); `replication_factor` -1 and `min_insync_replicas` 0 take the broker's
    defaults; `prefix` isolates tests; `kafka_options` are the connection settings
    (Settings.kafka_options()). Settings.topic_layout() gives the layout arguments."""
    durability = {"min.insync.replicas": str(min_insync_replicas)} if min_insync_replicas else {}
    wanted: list[NewTopic] = []
    for s in specs:
        count = partitions or s.partitions
        wanted.append(NewTopic(prefix + s.name, count, replication_factor, s.configs() | durability))
        # Room for the headers a dead-lettered record gains (the error, where it came from).
        dlq_configs = {"retention.ms": str(30 * DAY_MS), "max.message.bytes": str(DLQ_MAX_MESSAGE_BYTES)}
        wanted.append(NewTopic(prefix + s.dlq, count, replication_factor, dlq_configs | durability))
    admin = clients.admin(bootstrap, "helpline-topics", ADMIN_TIMEOUT_S, **(kafka_options or {}))
    try:
        existing = admin.topics()
        missing = [topic for topic in wanted if topic.name not in existing]
        if not missing:
            return []
        created = sorted(admin.create_topics(missing))
        log.info("topics created", topics=created)
        return created
    finally:
        admin.close()
