"""What the tickets service consumes from Kafka: the router's contacts, SLA escalation actions and
survey answers, each decoded and applied through the use cases as a domain command.

- `ContactReceived` on a written channel (email, web form, social) without a ticket creates one:
  such a contact is a ticket from the moment it arrives, and this is the one event it gets before
  its queue (ContactQueued repeats on every transfer and overflow). With a ticket, it is linked.
- `ContactCompleted` links the contact to its ticket and records the agent's disposition (a tag
  and an internal note); a completed contact with a disposition and no ticket gets one.
- `ContactHandedOff` carries the contact's ticket to the new department.
- `ContactTimedOut` with the queue's `ticket` or `voicemail` action makes the contact a ticket, from
  its context (customer, intent, priority, the voicemail's recording when the gateway gave one);
  a contact about a ticket already has one, and is linked to it with a note instead.
  `ContactAfterHours` (the queue was closed) does the same, tagged `after_hours` instead of
  `timed_out`, and the ticket says when the queue opens.
- `SlaWarning` and `SlaBreached` on a ticket apply their escalation actions.
- `SurveyAnswered` attaches the answer to its ticket (closed tickets included, see domain.surveys).

A contact's ticket is created with the idempotency key `contact:<id>`, whichever event creates it,
so a redelivery, or a completion after the receipt that created it, finds the same ticket. The
key lives HELPLINE_IDEMPOTENCY_KEY_RETENTION_SECONDS (a day): an event later than that must name
the ticket, which the router can learn from the ticket's TicketCreated (it carries the contact id).

Every lookup is by the event's own tenant, so an event can only reach its tenant's tickets.

Failures: an event that is not a valid event of the contract (no tenant, an enum value the domain
does not know, an impossible score) raises EventError, so the consumer dead-letters it for someone
to look at. An event naming a ticket its tenant does not have, and an event whose change the
ticket refuses (a DomainError: it is closed, already at the top tier...), are logged and skipped:
the ticket has moved on, the event would be refused again on every retry or replay, and the DLQ
would fill with facts that need nobody. Anything else (Redis down, a contended ticket) is raised
and retried by the consumer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from google.protobuf.message import Message

from helpline.domain import NotFoundError, from_timestamp, new_id
from helpline.events import Envelope, EventError
from helpline.logging import get_logger
from helpline.topics import topic_for_domain
from helpline.v1 import common_pb2, contact_events_pb2, feedback_events_pb2, sla_events_pb2
from services.tickets.domain import commands, reactions, surveys
from services.tickets.domain.commands.creation import NewTicket
from services.tickets.domain.commands.validation import SUBJECT_MAX, TEXT_MAX
from services.tickets.domain.convert import (
    channel_from_proto,
    department_from_proto,
    priority_from_proto,
)
from services.tickets.domain.errors import DomainError
from services.tickets.domain.model import SYSTEM, Actor, AuthorType, Channel, Department, Priority, Ticket
from services.tickets.usecases import Tickets

log = get_logger(__name__)

GROUP = "tickets"
TOPICS: tuple[str, ...] = tuple(topic_for_domain(domain).name for domain in ("contact", "sla", "feedback"))
# Written channels: the customer's message waits for an answer, so it is a ticket on arrival.
TICKETED_ON_RECEIPT = frozenset({Channel.EMAIL, Channel.WEB_FORM, Channel.SOCIAL})
ROUTER = Actor(AuthorType.SYSTEM, "router")
SLA = Actor(AuthorType.SYSTEM, "sla")
# The queue actions that leave a timed-out contact to a ticket.
MADE_TICKETS_OF = frozenset({common_pb2.TIMEOUT_ACTION_TICKET, common_pb2.TIMEOUT_ACTION_VOICEMAIL})
# The contact attribute a gateway names the caller's recorded message by (proto ContactTimedOut).
VOICEMAIL_RECORDING = "voicemail_recording"
# Every event that may create a contact's ticket asks for the same thing: "the ticket of contact X".
CONTACT_TICKET = "contact-ticket"

_Route = Callable[[Any, Envelope], None]


def contact_key(contact_id: str) -> str:
    return f"contact:{contact_id}"


@contextmanager
def _decoding(envelope: Envelope) -> Iterator[None]:
    """Values the domain refuses while reading an event are the producer's error, not the ticket's."""
    try:
        yield
    except DomainError as exc:
        raise EventError(f"{envelope.type} {envelope.id}: {exc}") from exc


class TicketEvents:
    """The handler of every event the service consumes (`helpline.events.event_handler` adapts it
    to the bus); events of the topics that are not about tickets are ignored."""

    def __init__(self, tickets: Tickets) -> None:
        self.tickets = tickets
        self._routes: dict[type[Message], _Route] = {
            contact_events_pb2.ContactReceived: self._received,
            contact_events_pb2.ContactCompleted: self._completed,
            contact_events_pb2.ContactHandedOff: self._handed_off,
            contact_events_pb2.ContactTimedOut: self._timed_out,
            contact_events_pb2.ContactAfterHours: self._after_hours,
            sla_events_pb2.SlaWarning: self._sla_alert,
            sla_events_pb2.SlaBreached: self._sla_alert,
            feedback_events_pb2.SurveyAnswered: self._survey_answered,
        }

    def handle(self, envelope: Envelope) -> None:
        route = self._routes.get(type(envelope.message))
        if route is None:
            return
        if not envelope.tenant_id:
            raise EventError(f"{envelope.type} {envelope.id} names no tenant")
        try:
            route(envelope.message, envelope)
        except NotFoundError as exc:
            log.warning("event names no ticket of its tenant; skipped", ticket_id=exc.identifier)
        except DomainError as refusal:
            log.warning(
                "ticket refused the event's change; skipped", rule=refusal.rule, reason=refusal.message
            )

    # -- contacts ---------------------------------------------------------------------------------

    def _received(self, event: contact_events_pb2.ContactReceived, envelope: Envelope) -> None:
        contact_id = _contact_id(event, envelope)
        with _decoding(envelope):
            channel = channel_from_proto(event.channel)
            department = department_from_proto(event.department, Department.SERVICE)
            priority = priority_from_proto(event.context.priority, Priority.NORMAL)
        context = event.context
        if context.ticket_id:
            self.tickets.change(
                event.tenant_id,
                context.ticket_id,
                lambda ticket, now: commands.link_contact(ticket, contact_id, ROUTER, now),
            )
            return
        if channel not in TICKETED_ON_RECEIPT:
            return
        who = context.customer_address or context.customer_id
        draft = NewTicket(
            tenant_id=event.tenant_id,
            subject=_subject(
                context.attributes.get("subject", ""),
                context.intent,
                f"{_channel_name(channel)} from {who}" if who else f"{_channel_name(channel)} {contact_id}",
            ),
            description=context.bot_transcript_summary[:TEXT_MAX],
            requester_id=context.customer_id,
            channel=channel,
            priority=priority,
            department=department,
            contact_id=contact_id,
        )
        self._ticket_of_contact(draft, _customer(context))

    def _completed(self, event: contact_events_pb2.ContactCompleted, envelope: Envelope) -> None:
        contact_id = _contact_id(event, envelope)
        with _decoding(envelope):
            channel = channel_from_proto(event.channel)
            department = department_from_proto(event.department, Department.SERVICE)
        ticket_id = event.ticket_id
        if not ticket_id:
            if not event.disposition_code:
                return
            draft = NewTicket(
                tenant_id=event.tenant_id,
                subject=_subject(f"{_channel_name(channel)}: {event.disposition_code}"),
                requester_id=event.customer_id,
                channel=channel,
                department=department,
                assignee_id=event.agent_id,
                contact_id=contact_id,
            )
            agent = Actor(AuthorType.AGENT, event.agent_id) if event.agent_id else ROUTER
            ticket_id = self._ticket_of_contact(draft, agent).ticket_id
        contact = reactions.CompletedContact(contact_id, channel, event.agent_id, event.disposition_code)
        note_id = new_id()
        self.tickets.change(
            event.tenant_id,
            ticket_id,
            lambda ticket, now: reactions.record_completed_contact(
                ticket, contact, ROUTER, now, comment_id=note_id
            ),
        )

    def _handed_off(self, event: contact_events_pb2.ContactHandedOff, envelope: Envelope) -> None:
        contact_id = _contact_id(event, envelope)
        with _decoding(envelope):
            to = department_from_proto(event.to_department)
        if not event.context.ticket_id:
            return
        by = Actor(AuthorType.AGENT, event.from_agent_id) if event.from_agent_id else ROUTER
        self.tickets.change(
            event.tenant_id,
            event.context.ticket_id,
            lambda ticket, now: reactions.hand_off_with_contact(
                ticket, contact_id, to, by, now, reason=event.reason
            ),
        )

    def _timed_out(self, event: contact_events_pb2.ContactTimedOut, envelope: Envelope) -> None:
        self._missed(event, envelope, None)

    def _after_hours(self, event: contact_events_pb2.ContactAfterHours, envelope: Envelope) -> None:
        # The queue's next opening tells the customer's ticket when someone will be there.
        opening = from_timestamp(event.next_opening) if event.HasField("next_opening") else envelope.time
        self._missed(event, envelope, opening)

    def _missed(
        self,
        event: contact_events_pb2.ContactTimedOut | contact_events_pb2.ContactAfterHours,
        envelope: Envelope,
        next_opening: datetime | None,
    ) -> None:
        """A contact no agent took (timed out, or after hours when `next_opening` is set) whose
        queue's action leaves it to a ticket."""
        # A callback is the router's own work item, the callback contact it scheduled.
        if event.action not in MADE_TICKETS_OF:
            return
        contact_id = _contact_id(event, envelope)
        context = event.context
        with _decoding(envelope):
            channel = channel_from_proto(event.channel)
            department = department_from_proto(event.department, Department.SERVICE)
            priority = priority_from_proto(context.priority, Priority.NORMAL)
        contact = reactions.MissedContact(
            contact_id,
            channel,
            event.queue_id,
            event.wait_duration.ToTimedelta(),
            voicemail=event.action == common_pb2.TIMEOUT_ACTION_VOICEMAIL,
            recording=context.attributes.get(VOICEMAIL_RECORDING, "")[:SUBJECT_MAX],
            next_opening=next_opening,
        )
        ticket_id = event.ticket_id or context.ticket_id
        if ticket_id:
            note_id = new_id()
            self.tickets.change(
                event.tenant_id,
                ticket_id,
                lambda ticket, now: reactions.record_missed_contact(
                    ticket, contact, ROUTER, now, comment_id=note_id
                ),
            )
            return
        who = context.customer_address or context.customer_id
        missed = (
            "Voicemail"
            if contact.voicemail
            else "After-hours contact"
            if contact.after_hours
            else "Missed contact"
        )
        draft = NewTicket(
            tenant_id=event.tenant_id,
            subject=_subject(
                context.attributes.get("subject", ""),
                f"{missed}: {context.intent}" if context.intent else "",
                f"{missed} from {who}" if who else f"{missed} {contact_id}",
            ),
            description="\n\n".join(
                text for text in (contact.story(), context.bot_transcript_summary) if text
            )[:TEXT_MAX],
            requester_id=context.customer_id,
            channel=channel,
            priority=priority,
            department=department,
            tags=contact.tags,
            contact_id=contact_id,
        )
        self._ticket_of_contact(draft, _customer(context))

    def _ticket_of_contact(self, draft: NewTicket, actor: Actor) -> Ticket:
        result = self.tickets.create(
            lambda ticket_id, now: commands.create(draft, actor, now, ticket_id=ticket_id),
            idempotency_key=contact_key(draft.contact_id),
            fingerprint=CONTACT_TICKET,
        )
        if result.created:
            log.info(
                "ticket created for contact", ticket_id=result.ticket.ticket_id, contact_id=draft.contact_id
            )
        return result.ticket

    # -- SLA --------------------------------------------------------------------------------------

    def _sla_alert(
        self, event: sla_events_pb2.SlaWarning | sla_events_pb2.SlaBreached, envelope: Envelope
    ) -> None:
        # Queued contacts' alerts are the router's; an alert without actions asks nothing of us.
        if event.WhichOneof("subject") != "ticket_id" or not event.actions:
            return
        with _decoding(envelope):
            reactions.check_actions(event.actions)
        alert = reactions.SlaAlert(
            metric=_metric_name(event.metric),
            breached=isinstance(event, sla_events_pb2.SlaBreached),
            policy_id=event.policy_id,
            actions=tuple(event.actions),
        )
        note_id = new_id()
        self.tickets.change(
            event.tenant_id,
            event.ticket_id,
            lambda ticket, now: reactions.escalate_for_sla(ticket, alert, SLA, now, comment_id=note_id),
        )

    # -- feedback ---------------------------------------------------------------------------------

    def _survey_answered(self, event: feedback_events_pb2.SurveyAnswered, envelope: Envelope) -> None:
        # A survey about a contact without a ticket counts in the KPIs, but no ticket holds it.
        if not event.ticket_id:
            return
        with _decoding(envelope):
            answer = surveys.new_answer(
                event.survey_id,
                surveys.survey_kind_from_proto(event.kind),
                event.score,
                from_timestamp(event.answered_at) if event.HasField("answered_at") else envelope.time,
                scale_max=event.scale_max,
                comment=event.comment[: surveys.COMMENT_MAX],
                agent_id=event.agent_id,
                contact_id=event.contact_id,
            )
        customer = Actor(AuthorType.CUSTOMER, event.customer_id) if event.customer_id else SYSTEM
        self.tickets.change(
            event.tenant_id,
            event.ticket_id,
            lambda ticket, now: surveys.attach_survey(ticket, answer, customer, now),
        )


def _subject(*candidates: str) -> str:
    """The first candidate with text in it, cut to fit: an event's text must not refuse its ticket."""
    return next((text.strip() for text in candidates if text.strip()), "")[:SUBJECT_MAX]


def _customer(context: common_pb2.ContactContext) -> Actor:
    """Who a contact's ticket is created by: its customer, when the gateway knows them."""
    return Actor(AuthorType.CUSTOMER, context.customer_id) if context.customer_id else ROUTER


def _channel_name(channel: Channel) -> str:
    return channel.value.replace("_", " ").capitalize()


def _metric_name(metric: common_pb2.SlaMetric.ValueType) -> str:
    try:
        name = common_pb2.SlaMetric.Name(metric)
    except ValueError:
        return str(metric)  # a metric newer than this build: still worth naming in the note
    return name.removeprefix("SLA_METRIC_").lower()


def _contact_id(event: Any, envelope: Envelope) -> str:
    """Contact events key everything on the contact id (even the ticket a contact creates)."""
    contact_id = str(event.contact_id)
    if not contact_id:
        raise EventError(f"{envelope.type} {envelope.id} names no contact")
    return contact_id
