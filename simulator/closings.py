"""What the simulated gateways hear of a closed queue: the router's after-hours events for the
tenant's contacts (the closed action taking a contact that arrived while its queue was closed, or
that still waited at its closing), read from the contacts topic on a thread of their own and handed
to the run's event loop. The ingress is Kafka, so the router's `closed` answer comes this way."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from typing import Any

from helpline.events import EventError, from_record
from helpline.kafka import clients
from helpline.kafka.port import Start, TopicPartition
from helpline.topics import topic_for_domain
from helpline.v1 import contact_events_pb2

TOPIC = topic_for_domain("contact").name
POLL_S = 0.1

Handler = Callable[[contact_events_pb2.ContactAfterHours], None]


class AfterHours:
    def __init__(self, bootstrap: str, tenant: str, options: Mapping[str, Any]) -> None:
        self.tenant = tenant
        self._stop = threading.Event()
        self._handler: tuple[asyncio.AbstractEventLoop, Handler] | None = None
        # Assigned, not subscribed: no group to join, so nothing is committed for it.
        self._consumer = clients.consumer(bootstrap, "helpline-simulator-after-hours", **options)
        self._thread = threading.Thread(target=self._run, name="after-hours", daemon=True)

    def start(self) -> None:
        """From the topic's end, before the run's first contact: this run's events, not earlier
        runs'."""
        partitions = self._consumer.partitions_of(TOPIC)
        self._consumer.assign([TopicPartition(TOPIC, p) for p in partitions], Start.END)
        self._thread.start()

    def deliver(self, to: tuple[asyncio.AbstractEventLoop, Handler] | None) -> None:
        """Hand each event to the handler on its loop from now on (before the run's first contact),
        or to none once the run's loop is over."""
        self._handler = to

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for record in self._consumer.poll(POLL_S, 500):
                try:
                    event = from_record(record.headers, record.value, record.key).message
                except EventError:
                    continue
                handling = self._handler
                if (
                    isinstance(event, contact_events_pb2.ContactAfterHours)
                    and event.tenant_id == self.tenant
                    and handling is not None
                ):
                    loop, handler = handling
                    loop.call_soon_threadsafe(handler, event)
