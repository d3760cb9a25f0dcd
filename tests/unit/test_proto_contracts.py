"""The conventions of the contracts in proto/helpline/v1, checked on the generated code.

Every event message names its CloudEvents type in the `(helpline.v1.event_type)` option, starts with
`string tenant_id = 1`, and has a unique type `helpline.<domain>.<fact>.v1`; the services keep their
methods. These tests read the descriptors, so they hold for what Python actually loads.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor

import helpline.v1
from helpline.v1 import common_pb2, contact_events_pb2, options_pb2

EVENT_TYPE = re.compile(r"^helpline\.[a-z_]+\.[a-z_]+\.v1$")

# Every fact DOMAIN.md and ARCHITECTURE.md name, by type, with the message that carries it.
EXPECTED_EVENTS = {
    "helpline.contact.received.v1": "ContactReceived",
    "helpline.contact.self_served.v1": "ContactSelfServed",
    "helpline.contact.queued.v1": "ContactQueued",
    "helpline.contact.offered.v1": "ContactOffered",
    "helpline.contact.accepted.v1": "ContactAccepted",
    "helpline.contact.rejected.v1": "ContactRejected",
    "helpline.contact.offer_timed_out.v1": "ContactOfferTimedOut",
    "helpline.contact.connected.v1": "ContactConnected",
    "helpline.contact.held.v1": "ContactHeld",
    "helpline.contact.resumed.v1": "ContactResumed",
    "helpline.contact.transferred.v1": "ContactTransferred",
    "helpline.contact.handed_off.v1": "ContactHandedOff",
    "helpline.contact.callback_scheduled.v1": "ContactCallbackScheduled",
    "helpline.contact.abandoned.v1": "ContactAbandoned",
    "helpline.contact.timed_out.v1": "ContactTimedOut",
    "helpline.contact.after_hours.v1": "ContactAfterHours",
    "helpline.contact.completed.v1": "ContactCompleted",
    "helpline.agent.status_changed.v1": "AgentStatusChanged",
    "helpline.agent.state_changed.v1": "AgentStateChanged",
    "helpline.agent.configured.v1": "AgentConfigured",
    "helpline.agent.removed.v1": "AgentRemoved",
    "helpline.queue.snapshot.v1": "QueueSnapshot",
    "helpline.queue.configured.v1": "QueueConfigured",
    "helpline.queue.removed.v1": "QueueRemoved",
    "helpline.ticket.created.v1": "TicketCreated",
    "helpline.ticket.updated.v1": "TicketUpdated",
    "helpline.ticket.status_changed.v1": "TicketStatusChanged",
    "helpline.ticket.assigned.v1": "TicketAssigned",
    "helpline.ticket.commented.v1": "TicketCommented",
    "helpline.ticket.escalated.v1": "TicketEscalated",
    "helpline.ticket.handed_off.v1": "TicketHandedOff",
    "helpline.ticket.reopened.v1": "TicketReopened",
    "helpline.ticket.solved.v1": "TicketSolved",
    "helpline.ticket.closed.v1": "TicketClosed",
    "helpline.ticket.survey_requested.v1": "TicketSurveyRequested",
    "helpline.ticket.visit_scheduled.v1": "TicketVisitScheduled",
    "helpline.ticket.technician_dispatched.v1": "TicketTechnicianDispatched",
    "helpline.sla.applied.v1": "SlaApplied",
    "helpline.sla.warning.v1": "SlaWarning",
    "helpline.sla.breached.v1": "SlaBreached",
    "helpline.sla.fulfilled.v1": "SlaFulfilled",
    "helpline.sla.paused.v1": "SlaPaused",
    "helpline.sla.resumed.v1": "SlaResumed",
    "helpline.sla.retargeted.v1": "SlaRetargeted",
    "helpline.sla.queue_warning.v1": "SlaQueueWarning",
    "helpline.sla.queue_breached.v1": "SlaQueueBreached",
    "helpline.sla.notification_requested.v1": "SlaNotificationRequested",
    "helpline.feedback.survey_answered.v1": "SurveyAnswered",
    "helpline.audit.configuration_changed.v1": "ConfigurationChanged",
    "helpline.webhook.delivery_dead_lettered.v1": "WebhookDeliveryDeadLettered",
    "helpline.webhook.subscription_disabled.v1": "WebhookSubscriptionDisabled",
}

EXPECTED_SERVICES = {
    "RouterService": [
        "SubmitContact",
        "SetAgentStatus",
        "StreamOffers",
        "AcceptOffer",
        "RejectOffer",
        "HoldContact",
        "ResumeContact",
        "TransferContact",
        "CompleteTransfer",
        "CancelTransfer",
        "EndContact",
        "CompleteContact",
        "AbandonContact",
        "RequestCallback",
        "GetQueueStatus",
    ],
    "TicketService": [
        "CreateTicket",
        "GetTicket",
        "ListTickets",
        "UpdateTicket",
        "TransitionTicket",
        "AssignTicket",
        "AddComment",
        "ListComments",
        "EscalateTicket",
        "HandOffTicket",
        "LinkContact",
    ],
    "SlaService": ["GetTicketSlaStatus", "ListPolicies", "GetCalendar"],
}

EXPECTED_ENUMS = {
    "Channel": [
        "VOICE",
        "CHAT",
        "EMAIL",
        "SMS",
        "SOCIAL",
        "WEB_FORM",
        "CALLBACK",
        "TASK",
        "SELF_SERVICE",
        "BOT",
    ],
    "Priority": ["LOW", "NORMAL", "HIGH", "URGENT"],
    "Department": ["SERVICE", "SUPPORT"],
    "Tier": ["L1", "L2", "L3"],
    "TicketStatus": ["NEW", "OPEN", "PENDING", "ON_HOLD", "SOLVED", "CLOSED"],
    "TicketType": ["QUESTION", "INCIDENT", "PROBLEM", "TASK", "COMPLAINT", "FEEDBACK", "FIELD_SERVICE"],
    "AgentStatus": ["OFFLINE", "AVAILABLE", "AWAY"],
    "AgentState": ["IDLE", "OFFERED", "BUSY", "AFTER_CONTACT_WORK", "MISSED"],
    "AuthorType": ["AGENT", "CUSTOMER", "SYSTEM"],
    "SlaMetric": [
        "FIRST_REPLY",
        "NEXT_REPLY",
        "PERIODIC_UPDATE",
        "PAUSABLE_UPDATE",
        "REQUESTER_WAIT",
        "AGENT_WORK",
    ],
    "RoutingStrategy": ["LONGEST_IDLE", "LEAST_OCCUPIED", "BEST_SKILL", "ROUND_ROBIN", "PREFERRED_AGENT"],
}


def generated_modules() -> list[ModuleType]:
    return [
        importlib.import_module(f"helpline.v1.{info.name}")
        for info in pkgutil.iter_modules(helpline.v1.__path__)
        if info.name.endswith("_pb2")
    ]


def _walk(messages: list[Descriptor]) -> Iterator[Descriptor]:
    for message in messages:
        yield message
        yield from _walk(list(message.nested_types))


def all_messages() -> list[Descriptor]:
    """Every message of every generated file, nested ones included."""
    files: list[FileDescriptor] = [module.DESCRIPTOR for module in generated_modules()]
    return [message for file in files for message in _walk(list(file.message_types_by_name.values()))]


def event_type_of(message: Descriptor) -> str:
    return str(message.GetOptions().Extensions[options_pb2.event_type])


def event_messages() -> dict[str, Descriptor]:
    """Event type -> descriptor, for every message that sets the `event_type` option (duplicates are
    caught by `test_event_types_are_unique_and_well_formed`)."""
    return {event_type_of(message): message for message in all_messages() if event_type_of(message)}


def test_the_generated_package_has_every_proto_file() -> None:
    names = {module.DESCRIPTOR.name for module in generated_modules()}
    assert names == {
        f"helpline/v1/{stem}.proto"
        for stem in [
            "options",
            "common",
            "contact_events",
            "agent_events",
            "queue_events",
            "ticket_events",
            "sla_events",
            "feedback_events",
            "audit_events",
            "webhook_events",
            "router_service",
            "ticket_service",
            "sla_service",
        ]
    }
    assert {module.DESCRIPTOR.package for module in generated_modules()} == {"helpline.v1"}


def test_event_types_are_unique_and_well_formed() -> None:
    types = [event_type_of(message) for message in all_messages() if event_type_of(message)]
    assert len(types) == len(set(types)), sorted(t for t in types if types.count(t) > 1)
    malformed = [t for t in types if not EVENT_TYPE.match(t)]
    assert not malformed


@pytest.mark.parametrize(("event_type", "message_name"), sorted(EXPECTED_EVENTS.items()))
def test_each_domain_event_exists(event_type: str, message_name: str) -> None:
    events = event_messages()
    assert event_type in events, f"no message declares {event_type}"
    assert events[event_type].full_name == f"helpline.v1.{message_name}"


def test_every_event_is_expected() -> None:
    # A new event type is a contract change: list it in EXPECTED_EVENTS on purpose.
    assert set(event_messages()) == set(EXPECTED_EVENTS)


def test_every_event_starts_with_the_tenant() -> None:
    for event_type, message in event_messages().items():
        first = message.fields_by_number.get(1)
        assert first is not None, f"{event_type}: {message.full_name} has no field 1"
        assert first.name == "tenant_id", f"{event_type}: field 1 is {first.name}"
        assert first.type == FieldDescriptor.TYPE_STRING, f"{event_type}: tenant_id is not a string"
        assert not first.is_repeated


def test_events_are_top_level_and_live_in_their_domain_file() -> None:
    # helpline.events registers top-level messages only; contact facts live in contact_events.proto...
    for event_type, message in event_messages().items():
        assert message.containing_type is None, f"{message.full_name} is nested"
        domain = event_type.split(".")[1]
        assert message.file.name == f"helpline/v1/{domain}_events.proto", (event_type, message.file.name)


def test_sla_events_name_their_subject_in_a_oneof() -> None:
    for event_type, message in event_messages().items():
        if event_type.startswith("helpline.sla."):
            subject = message.oneofs_by_name.get("subject")
            assert subject is not None, f"{message.full_name} has no oneof subject"
            assert [field.name for field in subject.fields] == ["ticket_id", "queued_contact"]


def test_timestamps_and_durations_use_the_well_known_types() -> None:
    # Instants and spans are never bare integers: no *_ms, *_seconds or *_epoch fields.
    for message in all_messages():
        for field in message.fields:
            assert not re.search(r"_(ms|millis|seconds|secs|epoch|ts)$", field.name), (
                f"{message.full_name}.{field.name}: use google.protobuf.Timestamp or Duration"
            )


@pytest.mark.parametrize(("service_name", "methods"), sorted(EXPECTED_SERVICES.items()))
def test_services_have_their_methods(service_name: str, methods: list[str]) -> None:
    services = {
        service.name: service
        for module in generated_modules()
        for service in module.DESCRIPTOR.services_by_name.values()
    }
    assert service_name in services
    service = services[service_name]
    assert service.full_name == f"helpline.v1.{service_name}"
    assert [method.name for method in service.methods] == methods
    for method in service.methods:
        assert method.input_type.name == f"{method.name}Request"
        assert method.output_type.name == f"{method.name}Response"
        assert not method.client_streaming
        assert method.server_streaming == (method.full_name == "helpline.v1.RouterService.StreamOffers")

    stem = service.file.name.removesuffix(".proto").replace("/", ".")
    grpc_module = importlib.import_module(f"{stem}_pb2_grpc")
    assert hasattr(grpc_module, f"{service_name}Stub")
    assert hasattr(grpc_module, f"add_{service_name}Servicer_to_server")


@pytest.mark.parametrize(("enum_name", "values"), sorted(EXPECTED_ENUMS.items()))
def test_shared_enums_have_the_domain_values(enum_name: str, values: list[str]) -> None:
    enum = common_pb2.DESCRIPTOR.enum_types_by_name[enum_name]
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum_name).upper()
    assert [value.name for value in enum.values] == [
        f"{prefix}_UNSPECIFIED",
        *(f"{prefix}_{value}" for value in values),
    ]
    assert enum.values[0].number == 0


def test_an_event_survives_a_round_trip() -> None:
    queued_at = datetime(2025, 3, 30, 1, 59, 30, tzinfo=UTC)
    event = contact_events_pb2.ContactQueued(
        tenant_id="acme",
        contact_id="c-1",
        queue_id="billing",
        channel=common_pb2.CHANNEL_VOICE,
        department=common_pb2.DEPARTMENT_SERVICE,
        priority=common_pb2.PRIORITY_HIGH,
        reason=contact_events_pb2.QUEUE_ENTRY_REASON_TRANSFER,
        position=3,
        context=common_pb2.ContactContext(
            customer_id="cust-9",
            language="de-DE",
            vip=True,
            required_skills=[common_pb2.Skill(name="billing", proficiency=3)],
            attributes={"crm.account": "A-17", "ivr.path": "1>3"},
        ),
    )
    event.queued_at.FromDatetime(queued_at)
    event.enqueued_since.FromDatetime(queued_at - timedelta(seconds=95))
    event.estimated_wait.FromTimedelta(timedelta(seconds=42, milliseconds=500))

    decoded = contact_events_pb2.ContactQueued.FromString(event.SerializeToString(deterministic=True))

    assert decoded == event
    assert decoded.queued_at.ToDatetime(tzinfo=UTC) == queued_at
    assert decoded.estimated_wait.ToTimedelta() == timedelta(seconds=42.5)
    assert decoded.context.attributes["crm.account"] == "A-17"
    assert decoded.context.required_skills[0].proficiency == 3
    assert event_type_of(decoded.DESCRIPTOR) == "helpline.contact.queued.v1"


def test_escalation_actions_are_one_of_a_kind() -> None:
    action = common_pb2.EscalationAction(raise_priority=common_pb2.PRIORITY_URGENT)
    assert action.WhichOneof("kind") == "raise_priority"
    action.notify.targets.append("group:leads")
    assert action.WhichOneof("kind") == "notify"
    assert not action.HasField("raise_priority")
