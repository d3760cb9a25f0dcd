"""What the router consumes from Kafka: contacts from the gateways and the SLA service's alerts on
queued contacts, each applied through the router's contact use cases.

- `ContactReceived` (telephony, chat, email, web forms, social, SMS, bots) submits the contact: it
  waits in a queue, or, from a bot or self-service without a queue, stays received. A bot contact
  naming a queue is a bot escalation and carries the bot's intent and transcript summary.
- `ContactSelfServed` ends a received bot or self-service contact; one the router never saw is
  recorded as received first, so deflection counts it.
- `ContactAbandoned`: the gateway saw the customer hang up while queued.
- `SlaWarning` and `SlaBreached` about a queued contact apply the reaction its queue configures
  (`sla_warning_reaction`, `sla_breach_reaction`). Alerts about tickets are the tickets service's.

Redelivery is harmless: submit is idempotent by contact id, a second abandon or self-service is
refused by the contact's state, and a raised priority is computed from the contact's arrival
priority, so the same alert twice asks for the same level.

Failures follow the tickets consumer: an event the contract does not allow (no tenant, no contact,
an enum value or skill the domain refuses, a queue the tenant does not have) raises EventError and
is dead-lettered with the reason. A change the contact's state refuses (RoutingRefused), or one
about a contact the router does not know, is logged and skipped: a late abandon for a completed
contact is normal, and it would be refused on every retry. Anything else (Redis down, a contended
contact) is raised and retried by the consumer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from helpline.domain import NotFoundError
from helpline.events import Envelope, EventError
from helpline.logging import get_logger
from helpline.v1 import contact_events_pb2, sla_events_pb2
from services.router.composition import Router
from services.router.domain.contact import ContactContext
from services.router.domain.contact_proto import context_from_proto
from services.router.domain.convert import channel_from_proto, department_from_proto
from services.router.domain.errors import InvalidConfiguration, RoutingRefused
from services.router.domain.model import Channel, Department, Priority, Queue, SlaReaction
from services.router.usecases.intake import NewContact

log = get_logger(__name__)

GROUP = "router"
TOPICS: tuple[str, ...] = ("helpline.contacts.ingress", "helpline.sla")
# Contacts no agent takes: the only ones a self-service report may bring without a receipt first.
_WITHOUT_AGENT = frozenset({Channel.BOT, Channel.SELF_SERVICE})
_PRIORITY_LADDER = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT)

_Route = Callable[[Any, Envelope], None]


class RouterEvents:
    """The handler of every event the router consumes (`helpline.events.event_handler` adapts it
    to the bus); the other events of its topics are ignored."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._routes: dict[type[Message], _Route] = {
            contact_events_pb2.ContactReceived: self._received,
            contact_events_pb2.ContactSelfServed: self._self_served,
            contact_events_pb2.ContactAbandoned: self._abandoned,
            sla_events_pb2.SlaWarning: self._sla_alert,
            sla_events_pb2.SlaBreached: self._sla_alert,
            sla_events_pb2.SlaQueueWarning: self._sla_alert,
            sla_events_pb2.SlaQueueBreached: self._sla_alert,
        }

    def handle(self, envelope: Envelope) -> None:
        route = self._routes.get(type(envelope.message))
        if route is None:
            log.debug("event not for the router; ignored")
            return
        try:
            route(envelope.message, envelope)
        except InvalidConfiguration as exc:
            raise EventError(f"{envelope.type} {envelope.id}: {exc}") from exc
        except NotFoundError as exc:
            if exc.kind != "contact":
                raise EventError(f"{envelope.type} {envelope.id}: {exc}") from exc
            log.warning("event names a contact the router does not know; skipped", contact_id=exc.identifier)
        except RoutingRefused as refusal:
            log.warning(
                "contact refused the event's change; skipped", rule=refusal.rule, reason=refusal.message
            )

    # -- ingress ----------------------------------------------------------------------------------

    def _received(self, event: contact_events_pb2.ContactReceived, envelope: Envelope) -> None:
        tenant = _tenant(envelope)
        new = NewContact(
            channel=channel_from_proto(event.channel),
            department=department_from_proto(event.department, Department.SERVICE),
            contact_id=_contact_id(event.contact_id, envelope),
            queue_id=event.queue_id,
            context=context_from_proto(event.context),
            entry_point=event.entry_point,
            related_contact_id=event.related_contact_id,
        )
        placed = self.router.intake.submit(tenant, new)
        log.info(
            "contact received",
            contact_id=new.contact_id,
            status=placed.contact.status.value,
            queue_id=placed.contact.queue_id,
            created=placed.created,
        )

    def _self_served(self, event: contact_events_pb2.ContactSelfServed, envelope: Envelope) -> None:
        tenant = _tenant(envelope)
        contact_id = _contact_id(event.contact_id, envelope)
        if not event.resolution_code:
            # Checked before the contact may be recorded, so a refused report leaves nothing behind.
            raise EventError(f"{envelope.type} {envelope.id} names no resolution_code")
        if self.router.store.contact(tenant, contact_id) is None:
            # The event itself says no agent was involved, so an unset channel is self-service.
            channel = channel_from_proto(event.channel, Channel.SELF_SERVICE)
            if channel not in _WITHOUT_AGENT:
                # Submitting it would queue it for an agent, the opposite of what happened.
                raise EventError(
                    f"{envelope.type} {envelope.id}: {channel.value} contact {contact_id} was never "
                    "received; only a bot or self-service contact can be self-served unannounced"
                )
            self.router.intake.submit(
                tenant,
                NewContact(
                    channel=channel,
                    department=department_from_proto(event.department, Department.SERVICE),
                    contact_id=contact_id,
                    context=ContactContext(intent=event.intent),
                ),
            )
        self.router.intake.self_served(tenant, contact_id, event.resolution_code)
        log.info("contact self-served", contact_id=contact_id, resolution_code=event.resolution_code)

    def _abandoned(self, event: contact_events_pb2.ContactAbandoned, envelope: Envelope) -> None:
        tenant = _tenant(envelope)
        contact_id = _contact_id(event.contact_id, envelope)
        self.router.waiting.abandon(tenant, contact_id)
        log.info("contact abandoned", contact_id=contact_id)

    # -- SLA --------------------------------------------------------------------------------------

    def _sla_alert(
        self,
        event: sla_events_pb2.SlaWarning
        | sla_events_pb2.SlaBreached
        | sla_events_pb2.SlaQueueWarning
        | sla_events_pb2.SlaQueueBreached,
        envelope: Envelope,
    ) -> None:
        if event.WhichOneof("subject") != "queued_contact":
            log.debug("SLA alert not about a queued contact; ignored")
            return
        tenant = _tenant(envelope)
        subject = event.queued_contact
        contact_id = _contact_id(subject.contact_id, envelope)
        contact = self.router.core.require_contact(tenant, contact_id).contact
        if subject.queue_id and subject.queue_id != contact.queue_id:
            # The wait the alert measured ended when the contact moved; its new queue has its own.
            log.info(
                "SLA alert about a queue the contact has left; skipped",
                contact_id=contact_id,
                alert_queue_id=subject.queue_id,
                queue_id=contact.queue_id,
            )
            return
        queue = self.router.core.queue_of(contact)
        if queue is None:
            log.info("SLA alert about a contact outside any queue; skipped", contact_id=contact_id)
            return
        breached = isinstance(event, sla_events_pb2.SlaBreached | sla_events_pb2.SlaQueueBreached)
        reaction = queue.sla_breach_reaction if breached else queue.sla_warning_reaction
        if reaction is SlaReaction.RAISE_PRIORITY:
            level = _raised(contact.context.priority, _reactions_so_far(queue, breached, reaction))
            self.router.waiting.raise_priority(tenant, contact_id, level)
            log.info("SLA alert raised the contact's priority", contact_id=contact_id, priority=level.value)
        elif reaction is SlaReaction.OVERFLOW:
            self.router.waiting.force_overflow(
                tenant, contact_id, at_least=_reactions_so_far(queue, breached, reaction)
            )
            log.info("SLA alert forced the contact's next overflow step", contact_id=contact_id)


def _reactions_so_far(queue: Queue, breached: bool, kind: SlaReaction) -> int:
    """How many of the queue's reactions up to this alert are of `kind`: each raises one
    priority level or forces one overflow step."""
    reactions = (queue.sla_warning_reaction, queue.sla_breach_reaction)
    return sum(reaction is kind for reaction in reactions[: 2 if breached else 1])


def _raised(arrival: Priority, levels: int) -> Priority:
    """Counted from the priority the contact arrived with, not its current one, so a redelivered
    alert asks for the level it asked for the first time instead of climbing again."""
    index = min(_PRIORITY_LADDER.index(arrival) + levels, len(_PRIORITY_LADDER) - 1)
    return _PRIORITY_LADDER[index]


def _tenant(envelope: Envelope) -> str:
    if not envelope.tenant_id:
        raise EventError(f"{envelope.type} {envelope.id} names no tenant")
    return envelope.tenant_id


def _contact_id(contact_id: str, envelope: Envelope) -> str:
    """Required: without it a redelivery would create a second contact instead of finding the first."""
    if not contact_id:
        raise EventError(f"{envelope.type} {envelope.id} names no contact")
    return contact_id
