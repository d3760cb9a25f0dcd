"""The SLA alerts the platform raises for the simulated tenant, as the live view shows them: read
from the SLA service's topic, from the moment the run starts, on a thread of their own."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

import confluent_kafka

from helpline.bus import record_of
from helpline.events import EventError, from_record
from helpline.kafka_options import translate

TOPIC = "helpline.sla"
# What each SLA event counts as in the view: breaches of ticket targets and of queue answer targets.
COUNTED = {
    "SlaWarning": "ticket warnings",
    "SlaBreached": "ticket breaches",
    "SlaQueueWarning": "queue warnings",
    "SlaQueueBreached": "queue breaches",
}
POLL_S = 0.5


class SlaAlerts:
    def __init__(self, bootstrap: str, tenant: str, options: Mapping[str, Any]) -> None:
        self.tenant = tenant
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "client.id": "helpline-simulator-alerts",
            # Assigned, not subscribed: no group to join, so nothing is committed for it.
            "group.id": f"helpline-simulator-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "logger": logging.getLogger("helpline.simulation.librdkafka"),
        }
        self._consumer = confluent_kafka.Consumer(config | translate(options))
        self._thread = threading.Thread(target=self._run, name="sla-alerts", daemon=True)

    def start(self) -> None:
        """From the topic's end: the alerts of this run, not of earlier ones."""
        metadata = self._consumer.list_topics(TOPIC, timeout=10)
        partitions = metadata.topics[TOPIC].partitions
        self._consumer.assign(
            [confluent_kafka.TopicPartition(TOPIC, p, confluent_kafka.OFFSET_END) for p in sorted(partitions)]
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in self._consumer.consume(500, POLL_S):
                if message.error() is None:
                    self._count(message)

    def _count(self, message: confluent_kafka.Message) -> None:
        try:
            record = record_of(message)
            event = from_record(record.headers, record.value, record.key).message
        except EventError:
            return
        counted = COUNTED.get(type(event).__name__)
        if counted is not None and getattr(event, "tenant_id", "") == self.tenant:
            self.counts[counted] += 1
