"""The gateway's records, without a broker: binary CloudEvents keyed by contact, on the ingress,
signed by the tenant's ingress secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from helpline.events import from_record
from helpline.ingress_signing import IngressKey, check, claim
from helpline.v1 import common_pb2, contact_events_pb2, feedback_events_pb2, ticket_events_pb2
from simulator.gateway import FEEDBACK, INGRESS, Gateway
from simulator.plan import SurveyAnswers, plan_contacts
from simulator.scenario import Scenario
from simulator.truth import survey_answers

KEY = IngressKey("sim", "isk_1", "hlis_simulated")


def test_an_arrival_is_a_received_event_keyed_by_its_contact() -> None:
    scenario = Scenario.default()
    call = next(c for c in plan_contacts(scenario) if c.channel == "voice")
    record = Gateway(scenario, KEY).arrival(call, datetime(2026, 12, 1, 9, tzinfo=UTC))
    assert (record.topic, record.key) == (INGRESS, call.contact_id.encode())
    envelope = from_record(record.headers, record.value)
    received = envelope.message
    assert isinstance(received, contact_events_pb2.ContactReceived)
    assert (received.tenant_id, received.queue_id) == ("sim", "service-voice")
    assert received.channel == common_pb2.CHANNEL_VOICE
    assert received.department == common_pb2.DEPARTMENT_SERVICE
    check(
        claim(record.headers),
        KEY.secret,
        topic=INGRESS,
        body_tenant="sim",
        event_id=envelope.id,
        event_type=envelope.type,
        value=record.value,
    )


def test_only_a_bot_conversation_has_a_bot_outcome() -> None:
    scenario = Scenario.default()
    call = next(c for c in plan_contacts(scenario) if c.channel == "voice")
    with pytest.raises(ValueError, match="not a bot conversation"):
        Gateway(scenario, KEY).bot_outcome(call, timedelta(seconds=1), datetime.now(UTC))


def test_a_survey_request_is_answered_with_its_survey_id_for_the_kinds_it_asks() -> None:
    scenario = Scenario.default()
    email = next(c for c in plan_contacts(scenario) if c.channel == "email")
    request = ticket_events_pb2.TicketSurveyRequested(
        tenant_id="sim",
        ticket_id="t-1",
        survey_id="s-1",
        kinds=[common_pb2.SURVEY_KIND_NPS, common_pb2.SURVEY_KIND_CES],
        requester_id=f"cust-{email.contact_id}",
        agent_id="support-02",
        contact_id=f"{email.contact_id}-r1",
        channel=common_pb2.CHANNEL_EMAIL,
    )
    answers = survey_answers(("nps", "ces"), SurveyAnswers(csat=2, nps=9, ces=3))
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)

    records = Gateway(scenario, KEY).survey(request, answers, email.queue_id, at)

    assert [(r.topic, r.key) for r in records] == [(FEEDBACK, b"t-1")] * 2
    found = []
    for record in records:
        envelope = from_record(record.headers, record.value)
        message = envelope.message
        assert isinstance(message, feedback_events_pb2.SurveyAnswered)
        assert (message.survey_id, message.ticket_id, message.contact_id) == (
            "s-1",
            "t-1",
            request.contact_id,
        )
        assert (message.agent_id, message.customer_id) == ("support-02", request.requester_id)
        assert (message.channel, message.department) == (
            common_pb2.CHANNEL_EMAIL,
            common_pb2.DEPARTMENT_SUPPORT,
        )
        check(
            claim(record.headers),
            KEY.secret,
            topic=FEEDBACK,
            body_tenant="sim",
            event_id=envelope.id,
            event_type=envelope.type,
            value=record.value,
        )
        found.append((message.kind, message.score, message.scale_max))
    assert found == [(common_pb2.SURVEY_KIND_NPS, 9, 10), (common_pb2.SURVEY_KIND_CES, 3, 7)]
