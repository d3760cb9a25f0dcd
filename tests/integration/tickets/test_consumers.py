"""The tickets service's consumer on the real Kafka and Redis: real CloudEvents published to topics
of this module, handled by a running ServiceRuntime, asserted on the tickets in Redis and the
events on the outbox. Every test has a tenant of its own; events are delivered twice where
redelivery matters."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.message import Message

from helpline.bus import make_producer, publish
from helpline.clock import FakeClock
from helpline.events import event_handler, new_event, to_record
from helpline.kafka.port import Producer, TopicPartition
from helpline.service import ServiceRuntime
from helpline.settings import load_settings
from helpline.v1 import common_pb2, contact_events_pb2, feedback_events_pb2, sla_events_pb2, ticket_events_pb2
from services.tickets.consumers import TicketEvents
from services.tickets.domain import commands
from services.tickets.domain.commands.creation import NewTicket
from services.tickets.domain.model import (
    Actor,
    AuthorType,
    Channel,
    Department,
    Priority,
    Status,
    SurveyKind,
    Ticket,
)
from services.tickets.store import ListFilter, TicketStore
from services.tickets.usecases import Tickets
from tests.integration.helpers import make_topic, read_all, wait_committed
from tests.integration.tickets.outbox_events import names, ticket_events
from tests.stack_provider import Endpoints

T0 = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)
CLOSE_AFTER = timedelta(days=4)
AGENT = Actor(AuthorType.AGENT, "agent-1")


@dataclass
class Service:
    """The running consumer, its topics, and the use cases on the same Redis."""

    tickets: Tickets
    producer: Producer
    bootstrap: str
    group: str
    contacts: str
    sla: str
    feedback: str

    def send(self, topic: str, message: Message, subject: str, times: int = 1) -> None:
        """Publish one event `times` times: the same CloudEvent, as a redelivery would bring it."""
        record = to_record(new_event(message, source="/test", subject=subject), topic)
        for _ in range(times):
            publish(self.producer, record)

    def wait_handled(self) -> None:
        """Until the group has committed everything published so far, i.e. handled it."""
        partitions = [TopicPartition(topic, 0) for topic in (self.contacts, self.sla, self.feedback)]
        wait_committed(self.bootstrap, self.group, partitions)

    def new_ticket(self, tenant: str, **draft: Any) -> Ticket:
        return self.tickets.create(
            lambda ticket_id, now: commands.create(
                NewTicket(tenant, "Printer on fire", **draft), AGENT, now, ticket_id=ticket_id
            )
        ).ticket

    def closed_ticket(self, tenant: str) -> Ticket:
        ticket = self.new_ticket(tenant)
        for status in (Status.SOLVED, Status.CLOSED):
            ticket = self.tickets.change(tenant, ticket.ticket_id, _transition(status)).ticket
        return ticket


def _transition(to: Status) -> Callable[[Ticket, datetime], commands.Outcome]:
    return lambda ticket, now: commands.transition(ticket, to, AGENT, now)


@pytest.fixture(scope="module")
def service(stack: Endpoints) -> Iterator[Service]:
    suffix = uuid.uuid4().hex[:10]
    bootstrap = stack.kafka_bootstrap
    contacts, sla, feedback = (
        make_topic(bootstrap, f"test.{name}.{suffix}", partitions=1)
        for name in ("contacts", "sla", "feedback")
    )
    settings = load_settings(
        service_name=f"tickets-{suffix}",
        kafka_bootstrap=bootstrap,
        redis_url=stack.redis_url,
        auth_redis_url=stack.redis_url,
        http_port=0,
        log_format="console",
        consumer_max_retries=1,
        consumer_retry_backoff_ms=10,
    )
    runtime = ServiceRuntime(settings)
    store = TicketStore(runtime.redis, close_after_ms=int(CLOSE_AFTER.total_seconds() * 1000))
    tickets = Tickets(store, FakeClock(T0), CLOSE_AFTER)
    group = f"tickets-{suffix}"
    runtime.add_consumer(group, [contacts, sla, feedback], event_handler(TicketEvents(tickets).handle))
    thread = threading.Thread(target=runtime.run, kwargs={"install_signals": False})
    thread.start()
    producer = make_producer(bootstrap, "test")
    try:
        yield Service(tickets, producer, bootstrap, group, contacts, sla, feedback)
    finally:
        producer.close()
        runtime.stop()
        thread.join(60)


@pytest.fixture
def tenant(unique: str) -> str:
    return f"tenant-{unique}"


def all_tickets(service: Service, tenant: str) -> list[Ticket]:
    return service.tickets.list_tickets(
        tenant, ListFilter(), page_size=100, cursor="", descending=True
    ).tickets


def test_an_email_contact_creates_one_ticket_even_delivered_twice(service: Service, tenant: str) -> None:
    received = contact_events_pb2.ContactReceived(
        tenant_id=tenant,
        contact_id="k-mail",
        channel=common_pb2.CHANNEL_EMAIL,
        department=common_pb2.DEPARTMENT_SUPPORT,
        context=common_pb2.ContactContext(
            customer_id="cust-1",
            priority=common_pb2.PRIORITY_HIGH,
            attributes={"subject": "Invoice is wrong"},
        ),
    )
    service.send(service.contacts, received, "k-mail", times=2)
    # A voice contact is no ticket on arrival: it waits for its completion.
    voice = contact_events_pb2.ContactReceived(
        tenant_id=tenant, contact_id="k-call", channel=common_pb2.CHANNEL_VOICE
    )
    service.send(service.contacts, voice, "k-call")
    service.wait_handled()

    (ticket,) = all_tickets(service, tenant)
    assert ticket.contact_ids == ("k-mail",)
    assert (ticket.subject, ticket.channel, ticket.requester_id) == (
        "Invoice is wrong",
        Channel.EMAIL,
        "cust-1",
    )
    assert (ticket.department, ticket.priority, ticket.status) == (
        Department.SUPPORT,
        Priority.HIGH,
        Status.NEW,
    )
    (created,) = ticket_events(service.tickets.store.client, ticket.ticket_id)
    assert isinstance(created, ticket_events_pb2.TicketCreated)
    assert created.contact_id == "k-mail"


def test_a_contact_naming_its_ticket_is_linked_to_it_instead(service: Service, tenant: str) -> None:
    ticket = service.new_ticket(tenant)
    reply = contact_events_pb2.ContactReceived(
        tenant_id=tenant,
        contact_id="k-reply",
        channel=common_pb2.CHANNEL_EMAIL,
        context=common_pb2.ContactContext(ticket_id=ticket.ticket_id),
    )
    service.send(service.contacts, reply, "k-reply", times=2)
    service.wait_handled()

    (only,) = all_tickets(service, tenant)
    assert only.ticket_id == ticket.ticket_id
    assert only.contact_ids == ("k-reply",)
    assert only.version == ticket.version + 1


def test_a_completed_voice_contact_with_a_disposition_links_to_its_ticket(
    service: Service, tenant: str
) -> None:
    ticket = service.new_ticket(tenant)
    completed = contact_events_pb2.ContactCompleted(
        tenant_id=tenant,
        contact_id="k-call",
        channel=common_pb2.CHANNEL_VOICE,
        agent_id="agent-7",
        disposition_code="refund_issued",
        ticket_id=ticket.ticket_id,
    )
    service.send(service.contacts, completed, "k-call", times=2)
    service.wait_handled()

    after = service.tickets.get(tenant, ticket.ticket_id)
    assert after.contact_ids == ("k-call",)
    assert after.tags == ("disposition:refund_issued",)
    (note,) = service.tickets.comments(tenant, ticket.ticket_id, page_size=10).comments
    assert not note.public
    assert note.author == Actor(AuthorType.SYSTEM, "router")
    assert "refund_issued" in note.body
    assert "agent-7" in note.body
    assert names(ticket_events(service.tickets.store.client, ticket.ticket_id)) == [
        "TicketCreated",
        "TicketUpdated",
        "TicketUpdated",
        "TicketCommented",
    ]


def test_a_completed_chat_with_a_disposition_and_no_ticket_gets_one(service: Service, tenant: str) -> None:
    completed = contact_events_pb2.ContactCompleted(
        tenant_id=tenant,
        contact_id="k-chat",
        channel=common_pb2.CHANNEL_CHAT,
        agent_id="agent-7",
        customer_id="cust-2",
        disposition_code="order_status",
    )
    service.send(service.contacts, completed, "k-chat", times=2)
    service.wait_handled()

    (ticket,) = all_tickets(service, tenant)
    assert (ticket.channel, ticket.requester_id, ticket.assignee_id) == (Channel.CHAT, "cust-2", "agent-7")
    assert ticket.contact_ids == ("k-chat",)
    assert ticket.tags == ("disposition:order_status",)
    assert len(service.tickets.comments(tenant, ticket.ticket_id, page_size=10).comments) == 1


def _timed_out(
    tenant: str, contact_id: str, action: common_pb2.TimeoutAction.ValueType, **context: Any
) -> contact_events_pb2.ContactTimedOut:
    event = contact_events_pb2.ContactTimedOut(
        tenant_id=tenant,
        contact_id=contact_id,
        queue_id="q-sales",
        channel=common_pb2.CHANNEL_VOICE,
        department=common_pb2.DEPARTMENT_SERVICE,
        action=action,
        context=common_pb2.ContactContext(**context),
    )
    event.wait_duration.FromTimedelta(timedelta(minutes=15))
    return event


def test_a_timed_out_contact_becomes_exactly_one_ticket(service: Service, tenant: str) -> None:
    voicemail = _timed_out(
        tenant,
        "k-vm",
        common_pb2.TIMEOUT_ACTION_VOICEMAIL,
        customer_id="cust-9",
        customer_address="+441234567890",
        intent="billing.refund",
        priority=common_pb2.PRIORITY_HIGH,
        attributes={"voicemail_recording": "https://pbx.example/rec/77"},
    )
    service.send(service.contacts, voicemail, "k-vm", times=3)
    ticketed = _timed_out(tenant, "k-t", common_pb2.TIMEOUT_ACTION_TICKET, customer_address="+447700900123")
    service.send(service.contacts, ticketed, "k-t", times=2)
    # A callback is the router's own work: the callback contact it scheduled.
    service.send(service.contacts, _timed_out(tenant, "k-cb", common_pb2.TIMEOUT_ACTION_CALLBACK), "k-cb")
    service.wait_handled()

    by_contact = {ticket.contact_ids: ticket for ticket in all_tickets(service, tenant)}
    assert sorted(by_contact) == [("k-t",), ("k-vm",)]
    vm = by_contact[("k-vm",)]
    assert (vm.subject, vm.channel, vm.requester_id, vm.priority) == (
        "Voicemail: billing.refund",
        Channel.VOICE,
        "cust-9",
        Priority.HIGH,
    )
    assert vm.tags == ("timed_out", "voicemail")
    assert "15 min" in vm.description
    assert "https://pbx.example/rec/77" in vm.description
    plain = by_contact[("k-t",)]
    assert (plain.subject, plain.tags) == ("Missed contact from +447700900123", ("timed_out",))
    (created,) = ticket_events(service.tickets.store.client, vm.ticket_id)
    assert isinstance(created, ticket_events_pb2.TicketCreated)
    assert created.contact_id == "k-vm"


def test_a_timed_out_contact_about_a_ticket_is_linked_to_it_with_one_note(
    service: Service, tenant: str
) -> None:
    ticket = service.new_ticket(tenant)
    event = _timed_out(tenant, "k-again", common_pb2.TIMEOUT_ACTION_TICKET, ticket_id=ticket.ticket_id)
    service.send(service.contacts, event, "k-again", times=2)
    service.wait_handled()

    (only,) = all_tickets(service, tenant)
    assert only.ticket_id == ticket.ticket_id
    assert (only.contact_ids, only.tags) == (("k-again",), ("timed_out",))
    (note,) = service.tickets.comments(tenant, ticket.ticket_id, page_size=10).comments
    assert not note.public
    assert "k-again" in note.body
    assert "q-sales" in note.body


def test_a_hand_off_moves_the_tickets_department(service: Service, tenant: str) -> None:
    ticket = service.new_ticket(tenant, group_id="billing", assignee_id="agent-1")
    handed = contact_events_pb2.ContactHandedOff(
        tenant_id=tenant,
        contact_id="k-call",
        from_department=common_pb2.DEPARTMENT_SERVICE,
        to_department=common_pb2.DEPARTMENT_SUPPORT,
        from_agent_id="agent-1",
        reason="router is broken",
        context=common_pb2.ContactContext(ticket_id=ticket.ticket_id),
    )
    service.send(service.contacts, handed, "k-call", times=2)
    service.wait_handled()

    after = service.tickets.get(tenant, ticket.ticket_id)
    assert after.department is Department.SUPPORT
    assert (after.group_id, after.assignee_id) == ("", "")
    assert after.contact_ids == ("k-call",)
    events = ticket_events(service.tickets.store.client, ticket.ticket_id)
    (handed_off,) = [e for e in events if isinstance(e, ticket_events_pb2.TicketHandedOff)]
    assert handed_off.to_department == common_pb2.DEPARTMENT_SUPPORT
    assert handed_off.reason == "router is broken"


def test_an_sla_breach_raises_the_priority_and_emits_on_the_outbox(service: Service, tenant: str) -> None:
    ticket = service.new_ticket(tenant)
    breached = sla_events_pb2.SlaBreached(
        tenant_id=tenant,
        ticket_id=ticket.ticket_id,
        metric=common_pb2.SLA_METRIC_FIRST_REPLY,
        policy_id="gold",
        instance_id="i-1",
        actions=[
            common_pb2.EscalationAction(raise_priority=common_pb2.PRIORITY_URGENT),
            common_pb2.EscalationAction(notify=common_pb2.EscalationAction.Notify(targets=["lead-1"])),
        ],
    )
    service.send(service.sla, breached, ticket.ticket_id, times=2)
    service.wait_handled()

    after = service.tickets.get(tenant, ticket.ticket_id)
    assert after.priority is Priority.URGENT
    events = ticket_events(service.tickets.store.client, ticket.ticket_id)
    assert names(events) == ["TicketCreated", "TicketUpdated", "TicketCommented"]
    updated, noted = events[1:]
    assert isinstance(updated, ticket_events_pb2.TicketUpdated)
    assert list(updated.changed_fields) == ["priority"]
    assert updated.updated_by == common_pb2.Actor(type=common_pb2.AUTHOR_TYPE_SYSTEM, id="sla")
    assert isinstance(noted, ticket_events_pb2.TicketCommented)
    assert not noted.public
    assert noted.body == "SLA first_reply breached (policy gold): priority raised to urgent."


def test_a_survey_answer_is_attached_once_even_to_a_closed_ticket(service: Service, tenant: str) -> None:
    ticket = service.closed_ticket(tenant)
    answered = feedback_events_pb2.SurveyAnswered(
        tenant_id=tenant,
        survey_id="s-1",
        kind=common_pb2.SURVEY_KIND_CSAT,
        score=4,
        scale_max=5,
        ticket_id=ticket.ticket_id,
        agent_id="agent-1",
        customer_id="cust-1",
        comment="quick and kind",
    )
    service.send(service.feedback, answered, ticket.ticket_id, times=2)
    service.wait_handled()

    after = service.tickets.get(tenant, ticket.ticket_id)
    assert after.status is Status.CLOSED
    (answer,) = after.surveys
    assert (answer.survey_id, answer.kind, answer.score, answer.comment) == (
        "s-1",
        SurveyKind.CSAT,
        4,
        "quick and kind",
    )
    surveyed = [
        e
        for e in ticket_events(service.tickets.store.client, ticket.ticket_id)
        if isinstance(e, ticket_events_pb2.TicketUpdated) and list(e.changed_fields) == ["surveys"]
    ]
    assert len(surveyed) == 1


def test_an_event_reaches_only_its_own_tenants_tickets(service: Service, tenant: str) -> None:
    ticket = service.new_ticket(tenant)
    intruder = sla_events_pb2.SlaBreached(
        tenant_id=f"other-{tenant}",
        ticket_id=ticket.ticket_id,
        metric=common_pb2.SLA_METRIC_FIRST_REPLY,
        actions=[common_pb2.EscalationAction(raise_priority=common_pb2.PRIORITY_URGENT)],
    )
    service.send(service.sla, intruder, ticket.ticket_id)
    service.wait_handled()

    assert service.tickets.get(tenant, ticket.ticket_id) == ticket
    assert service.tickets.store.get(f"other-{tenant}", ticket.ticket_id) is None


def test_a_refused_change_is_skipped_and_a_malformed_event_is_dead_lettered(
    service: Service, tenant: str
) -> None:
    closed = service.closed_ticket(tenant)
    late_breach = sla_events_pb2.SlaBreached(
        tenant_id=tenant,
        ticket_id=closed.ticket_id,
        metric=common_pb2.SLA_METRIC_AGENT_WORK,
        actions=[common_pb2.EscalationAction(move_to_group="leads")],
    )
    service.send(service.sla, late_breach, closed.ticket_id)
    impossible = feedback_events_pb2.SurveyAnswered(
        tenant_id=tenant,
        survey_id="s-1",
        kind=common_pb2.SURVEY_KIND_CSAT,
        score=42,
        ticket_id=closed.ticket_id,
    )
    service.send(service.feedback, impossible, closed.ticket_id)
    service.wait_handled()

    assert service.tickets.get(tenant, closed.ticket_id) == closed
    (dead,) = [
        r
        for r in read_all(service.bootstrap, f"{service.feedback}.dlq", expected=1)
        if dict(r.headers).get("ce_subject") == closed.ticket_id.encode()
    ]
    assert dict(dead.headers)["dlq_error_type"] == b"EventError"
    assert read_all(service.bootstrap, f"{service.sla}.dlq", expected=1, timeout=3) == []


def test_an_after_hours_contact_becomes_exactly_one_ticket(service: Service, tenant: str) -> None:
    opens = datetime(2031, 3, 5, 8, 0, tzinfo=UTC)
    voicemail = contact_events_pb2.ContactAfterHours(
        tenant_id=tenant,
        contact_id="k-night",
        queue_id="q-sales",
        channel=common_pb2.CHANNEL_VOICE,
        department=common_pb2.DEPARTMENT_SERVICE,
        action=common_pb2.TIMEOUT_ACTION_VOICEMAIL,
        context=common_pb2.ContactContext(
            customer_id="cust-3", intent="billing", attributes={"voicemail_recording": "rec-3"}
        ),
    )
    voicemail.next_opening.FromDatetime(opens)
    service.send(service.contacts, voicemail, "k-night", times=3)
    callback = contact_events_pb2.ContactAfterHours(
        tenant_id=tenant,
        contact_id="k-cb",
        action=common_pb2.TIMEOUT_ACTION_CALLBACK,
        callback_contact_id="cb",
    )
    service.send(service.contacts, callback, "k-cb")
    service.wait_handled()

    (only,) = all_tickets(service, tenant)
    assert only.contact_ids == ("k-night",)
    assert (only.subject, only.requester_id, only.tags) == (
        "Voicemail: billing",
        "cust-3",
        ("after_hours", "voicemail"),
    )
    assert "came in while queue q-sales was closed" in only.description
    assert "2031-03-05T08:00:00+00:00" in only.description
    assert "rec-3" in only.description
