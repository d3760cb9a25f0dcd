"""The end of one of the platform's topics, followed on a thread of its own for the simulated
tenant: each of its events from the moment `start` is called on, decoded and handed to `seen`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf.message import Message

from helpline.events import EventError, from_record
from helpline.kafka import clients
from helpline.kafka.port import Start, TopicPartition


class TenantTail:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        tenant: str,
        client_id: str,
        options: Mapping[str, Any],
        *,
        poll_s: float,
        seen: Callable[[Message], None],
    ) -> None:
        self.topic = topic
        self.tenant = tenant
        self.poll_s = poll_s
        self._seen = seen
        self._stop = threading.Event()
        # Assigned, not subscribed: no group to join, so nothing is committed for it.
        self._consumer = clients.consumer(bootstrap, client_id, **options)
        self._thread = threading.Thread(target=self._run, name=client_id, daemon=True)

    def start(self) -> None:
        """From the topic's end: this run's events, not earlier runs'."""
        partitions = self._consumer.partitions_of(self.topic)
        self._consumer.assign([TopicPartition(self.topic, p) for p in partitions], Start.END)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for record in self._consumer.poll(self.poll_s, 500):
                try:
                    event = from_record(record.headers, record.value, record.key).message
                except EventError:
                    continue
                if getattr(event, "tenant_id", "") == self.tenant:
                    self._seen(event)
