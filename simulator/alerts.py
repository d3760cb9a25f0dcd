"""The SLA alerts the platform raises for the simulated tenant, as the live view shows them: read
from the SLA service's topic, from the moment the run starts, on a thread of their own."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from helpline.events import EventError, from_record
from helpline.kafka import clients
from helpline.kafka.port import Start, TopicPartition
from helpline.records import Record

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
        # Assigned, not subscribed: no group to join, so nothing is committed for it.
        self._consumer = clients.consumer(bootstrap, "helpline-simulator-alerts", **options)
        self._thread = threading.Thread(target=self._run, name="sla-alerts", daemon=True)

    def start(self) -> None:
        """From the topic's end: the alerts of this run, not of earlier ones."""
        partitions = self._consumer.partitions_of(TOPIC)
        self._consumer.assign([TopicPartition(TOPIC, p) for p in partitions], Start.END)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for record in self._consumer.poll(POLL_S, 500):
                self._count(record)

    def _count(self, record: Record) -> None:
        try:
            event = from_record(record.headers, record.value, record.key).message
        except EventError:
            return
        counted = COUNTED.get(type(event).__name__)
        if counted is not None and getattr(event, "tenant_id", "") == self.tenant:
            self.counts[counted] += 1
