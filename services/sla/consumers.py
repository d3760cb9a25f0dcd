"""The handler of every event the SLA service consumes: queue configurations and removals and
contacts (queue answer targets) and tickets (the ticket metrics). Other events of those topics are
ignored.

An event the contracts allow but the SLA service cannot read (an enum value it does not know) goes
to the DLQ at once; any other failure (Redis away, a business-time policy whose calendar is not
there yet) is retried, then dead-lettered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from helpline.domain import from_timestamp
from helpline.events import Envelope, EventError
from helpline.logging import get_logger
from helpline.v1 import contact_events_pb2, queue_events_pb2
from services.sla.domain.convert import ENUM_RULES, TICKET_FACTS, channel_word, ticket_id_of
from services.sla.domain.model import SlaError
from services.sla.domain.queue_watch import QueueTarget
from services.sla.ticket_slas import TicketSlas
from services.sla.watches import QueueWatches

log = get_logger(__name__)

GROUP = "sla"
TOPICS = ("helpline.queues", "helpline.contacts", "helpline.tickets")

_Route = Callable[[Any, str], None]

# The events after which a contact no longer waits in a queue, with the field saying when.
_LEFT_QUEUE: dict[type[Message], str] = {
    contact_events_pb2.ContactConnected: "connected_at",
    contact_events_pb2.ContactAbandoned: "abandoned_at",
    contact_events_pb2.ContactTimedOut: "timed_out_at",
    contact_events_pb2.ContactCompleted: "completed_at",
    contact_events_pb2.ContactSelfServed: "self_served_at",
    # The caller keeps the place, but as a callback: no longer a call waiting on the line.
    contact_events_pb2.ContactCallbackScheduled: "scheduled_at",
}


class SlaEvents:
    def __init__(self, watches: QueueWatches, tickets: TicketSlas) -> None:
        self.watches = watches
        self.tickets = tickets
        self._routes: dict[type[Message], _Route] = {
            queue_events_pb2.QueueConfigured: self._queue_configured,
            queue_events_pb2.QueueRemoved: self._queue_removed,
            contact_events_pb2.ContactQueued: self._queued,
            **{kind: self._left for kind in _LEFT_QUEUE},
            **{kind: self._ticket for kind in TICKET_FACTS},
        }

    def handle(self, envelope: Envelope) -> None:
        route = self._routes.get(type(envelope.message))
        if route is None:
            log.debug("event not for the sla service; ignored")
            return
        tenant_id = envelope.tenant_id
        if not tenant_id:
            raise EventError(f"{envelope.type} {envelope.id} names no tenant")
        try:
            route(envelope.message, tenant_id)
        except SlaError as exc:
            if exc.rule not in ENUM_RULES:
                raise
            raise EventError(f"{envelope.type} {envelope.id}: {exc}") from exc

    def _queue_configured(self, event: queue_events_pb2.QueueConfigured, tenant_id: str) -> None:
        target = QueueTarget(event.queue_id, event.service_level_threshold.ToTimedelta(), event.version)
        if not self.watches.configure_queue(tenant_id, target):
            log.info("older queue configuration; kept the stored one", queue_id=event.queue_id)

    def _queue_removed(self, event: queue_events_pb2.QueueRemoved, tenant_id: str) -> None:
        self.watches.remove_queue(tenant_id, event.queue_id)

    def _queued(self, event: contact_events_pb2.ContactQueued, tenant_id: str) -> None:
        at = from_timestamp(event.queued_at)
        since = from_timestamp(event.enqueued_since) if event.HasField("enqueued_since") else at
        self.watches.contact_queued(
            tenant_id,
            event.contact_id,
            event.queue_id,
            channel_word(event.channel),
            since,
            at,
        )

    def _left(self, event: Any, tenant_id: str) -> None:
        at = from_timestamp(getattr(event, _LEFT_QUEUE[type(event)]))
        self.watches.contact_left(tenant_id, event.contact_id, at)

    def _ticket(self, event: Any, tenant_id: str) -> None:
        to_fact = TICKET_FACTS[type(event)]
        self.tickets.apply(tenant_id, ticket_id_of(event), lambda sla: to_fact(event, sla))
