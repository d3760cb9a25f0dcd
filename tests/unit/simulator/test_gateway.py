"""The gateway's records, without a broker: binary CloudEvents keyed by contact, on the ingress,
signed by the tenant's ingress secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from helpline.events import from_record
from helpline.ingress_signing import IngressKey, check, claim
from helpline.v1 import common_pb2, contact_events_pb2
from simulator.gateway import INGRESS, Gateway
from simulator.plan import plan_contacts
from simulator.scenario import Scenario

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
