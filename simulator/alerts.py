"""The SLA alerts the platform raises for the simulated tenant, as the live view shows them: read
from the SLA service's topic, from the moment the run starts, on a thread of their own."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from google.protobuf.message import Message

from simulator.tail import TenantTail

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
        self._tail = TenantTail(
            bootstrap, TOPIC, tenant, "helpline-simulator-alerts", options, poll_s=POLL_S, seen=self._count
        )

    def start(self) -> None:
        """From the topic's end: the alerts of this run, not of earlier ones."""
        self._tail.start()

    def stop(self) -> None:
        self._tail.stop()

    def _count(self, event: Message) -> None:
        counted = COUNTED.get(type(event).__name__)
        if counted is not None:
            self.counts[counted] += 1
