"""What the simulated gateways hear of a closed queue: the router's after-hours events for the
tenant's contacts (the closed action taking a contact that arrived while its queue was closed, or
that still waited at its closing), read from the contacts topic on a thread of their own and handed
to the run's event loop. The ingress is Kafka, so the router's `closed` answer comes this way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf.message import Message

from helpline.topics import topic_for_domain
from helpline.v1 import contact_events_pb2
from simulator.tail import TenantTail

TOPIC = topic_for_domain("contact").name
POLL_S = 0.1

Handler = Callable[[contact_events_pb2.ContactAfterHours], None]


class AfterHours:
    def __init__(self, bootstrap: str, tenant: str, options: Mapping[str, Any]) -> None:
        self.tenant = tenant
        self._handler: tuple[asyncio.AbstractEventLoop, Handler] | None = None
        self._tail = TenantTail(
            bootstrap,
            TOPIC,
            tenant,
            "helpline-simulator-after-hours",
            options,
            poll_s=POLL_S,
            seen=self._seen,
        )

    def start(self) -> None:
        """From the topic's end, before the run's first contact: this run's events, not earlier
        runs'."""
        self._tail.start()

    def deliver(self, to: tuple[asyncio.AbstractEventLoop, Handler] | None) -> None:
        """Hand each event to the handler on its loop from now on (before the run's first contact),
        or to none once the run's loop is over."""
        self._handler = to

    def stop(self) -> None:
        self._tail.stop()

    def _seen(self, event: Message) -> None:
        handling = self._handler
        if isinstance(event, contact_events_pb2.ContactAfterHours) and handling is not None:
            loop, handler = handling
            loop.call_soon_threadsafe(handler, event)
