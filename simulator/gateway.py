"""What the simulated gateways publish on the router's ingress topic, as a telephony, chat or bot
platform would: a contact arriving, a bot's outcome, a customer hanging up while queued; and what
the simulated survey tool publishes on the feedback topic: a customer's answers to a survey."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from google.protobuf.message import Message

from helpline.domain import duration, timestamp
from helpline.events import new_event, signed, to_record
from helpline.ingress_signing import IngressKey
from helpline.records import OutgoingRecord
from helpline.topics import topic_for_domain
from helpline.v1 import common_pb2, contact_events_pb2, feedback_events_pb2, ticket_events_pb2
from simulator.plan import PlannedContact
from simulator.scenario import Scenario
from simulator.truth import SURVEY_SCALES

INGRESS = "helpline.contacts.ingress"
FEEDBACK = topic_for_domain("feedback").name
SOURCE = "/helpline/simulator"

CHANNELS = {
    "voice": common_pb2.CHANNEL_VOICE,
    "chat": common_pb2.CHANNEL_CHAT,
    "email": common_pb2.CHANNEL_EMAIL,
    "sms": common_pb2.CHANNEL_SMS,
    "social": common_pb2.CHANNEL_SOCIAL,
    "web_form": common_pb2.CHANNEL_WEB_FORM,
    "bot": common_pb2.CHANNEL_BOT,
    "callback": common_pb2.CHANNEL_CALLBACK,
}
SURVEY_KINDS = {
    "csat": common_pb2.SURVEY_KIND_CSAT,
    "nps": common_pb2.SURVEY_KIND_NPS,
    "ces": common_pb2.SURVEY_KIND_CES,
}
DEPARTMENTS = {"service": common_pb2.DEPARTMENT_SERVICE, "support": common_pb2.DEPARTMENT_SUPPORT}


class Gateway:
    """Builds a scenario's ingress and survey records, signed by the tenant's ingress secret `key`;
    sending them is the runner's."""

    def __init__(self, scenario: Scenario, key: IngressKey) -> None:
        self.scenario = scenario
        self.tenant = scenario.tenant
        self.key = key

    def department(self, queue_id: str) -> common_pb2.Department.ValueType:
        if not queue_id:
            return common_pb2.DEPARTMENT_UNSPECIFIED
        return DEPARTMENTS[self.scenario.queue_spec(queue_id).department]

    def arrival(self, contact: PlannedContact, at: datetime, ticket_id: str = "") -> OutgoingRecord:
        """The contact reaching its entry point; a bot conversation names no queue yet. A contact
        the gateway opened a ticket for names it, so the platform links it rather than opening
        another (as it does for a written contact without one)."""
        queue_id = "" if contact.bot != "none" else contact.queue_id
        return self._received(contact, queue_id, at, ticket_id=ticket_id)

    def bot_outcome(self, contact: PlannedContact, talked: timedelta, at: datetime) -> OutgoingRecord:
        """The end of a bot conversation: resolved there, or handed to its queue with what the bot
        learnt (the router continues it as a chat)."""
        if contact.bot == "contained":
            return self._record(
                contact,
                contact_events_pb2.ContactSelfServed(
                    tenant_id=self.tenant,
                    contact_id=contact.contact_id,
                    channel=common_pb2.CHANNEL_BOT,
                    intent=contact.intent,
                    resolution_code=contact.intent,
                    handle_duration=duration(talked),
                    self_served_at=timestamp(at),
                ),
            )
        if contact.bot != "escalated":
            raise ValueError(f"contact {contact.contact_id} was not a bot conversation")
        return self._received(
            contact, contact.queue_id, at, summary=f"asked about {contact.intent}; wants a person"
        )

    def abandoned(self, contact: PlannedContact, waited: timedelta, at: datetime) -> OutgoingRecord:
        """The customer hung up (or closed the chat) while still waiting."""
        return self._record(
            contact,
            contact_events_pb2.ContactAbandoned(
                tenant_id=self.tenant,
                contact_id=contact.contact_id,
                queue_id=contact.queue_id,
                channel=CHANNELS["chat" if contact.channel == "bot" else contact.channel],
                department=self.department(contact.queue_id),
                wait_duration=duration(waited),
                abandoned_at=timestamp(at),
            ),
        )

    def survey(
        self,
        request: ticket_events_pb2.TicketSurveyRequested,
        answers: Mapping[str, int],
        queue_id: str,
        at: datetime,
    ) -> list[OutgoingRecord]:
        """The customer's answers to a survey the platform sent them (the survey tool's events): one
        for each question answered, with the request's survey id, credited to its agent, about its
        ticket and contact; `queue_id` is where the customer's contact was handled."""
        records = []
        for kind, score in answers.items():
            message = feedback_events_pb2.SurveyAnswered(
                tenant_id=self.tenant,
                survey_id=request.survey_id,
                kind=SURVEY_KINDS[kind],
                score=score,
                scale_max=SURVEY_SCALES[kind],
                ticket_id=request.ticket_id,
                contact_id=request.contact_id,
                agent_id=request.agent_id,
                customer_id=request.requester_id,
                channel=request.channel,
                department=self.department(queue_id),
                answered_at=timestamp(at),
            )
            # The feedback topic is keyed by ticket, as the tickets service attaches answers to it.
            envelope = new_event(message, source=SOURCE, subject=request.ticket_id)
            records.append(signed(to_record(envelope, FEEDBACK), envelope, self.key))
        return records

    def _received(
        self, contact: PlannedContact, queue_id: str, at: datetime, summary: str = "", ticket_id: str = ""
    ) -> OutgoingRecord:
        return self._record(
            contact,
            contact_events_pb2.ContactReceived(
                tenant_id=self.tenant,
                contact_id=contact.contact_id,
                channel=CHANNELS[contact.channel],
                department=self.department(queue_id),
                queue_id=queue_id,
                context=common_pb2.ContactContext(
                    customer_id=f"cust-{contact.contact_id}",
                    intent=contact.intent,
                    bot_transcript_summary=summary,
                    ticket_id=ticket_id,
                ),
                received_at=timestamp(at),
                entry_point=f"simulator:{contact.channel}",
            ),
        )

    def _record(self, contact: PlannedContact, message: Message) -> OutgoingRecord:
        envelope = new_event(message, source=SOURCE, subject=contact.contact_id)
        return signed(to_record(envelope, INGRESS), envelope, self.key)
