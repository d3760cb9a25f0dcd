"""The CloudEvents codec without a broker: binary and structured modes, and clear refusals."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from google.protobuf import timestamp_pb2

from helpline.events import (
    PROTOBUF,
    Envelope,
    EventError,
    batch_handler,
    event_handler,
    from_record,
    new_event,
    new_event_id,
    registry,
    signed,
    to_record,
    to_structured_json,
)
from helpline.ingress_signing import IngressKey, check, claim
from helpline.records import Record
from helpline.v1 import common_pb2, contact_events_pb2


def received(contact_id: str = "c-1") -> contact_events_pb2.ContactReceived:
    return contact_events_pb2.ContactReceived(
        tenant_id="acme",
        contact_id=contact_id,
        channel=common_pb2.CHANNEL_CHAT,
        received_at=timestamp_pb2.Timestamp(seconds=1_790_000_000),
    )


def test_type_comes_from_the_message_option() -> None:
    envelope = new_event(received(), source="/gateway/chat", subject="c-1")
    assert envelope.type == "helpline.contact.received.v1"
    assert envelope.domain == "contact"
    assert envelope.tenant_id == "acme"
    assert registry().message_class("helpline.contact.received.v1") is contact_events_pb2.ContactReceived


def test_binary_mode_headers_and_round_trip() -> None:
    envelope = Envelope(
        type="helpline.contact.received.v1",
        source="/gateway/chat",
        message=received(),
        id="evt-1",
        time=datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
        subject="c-1",
    )
    record = to_record(envelope, "helpline.contacts")
    headers = dict(record.headers)
    assert headers["ce_id"] == b"evt-1"
    assert headers["ce_type"] == b"helpline.contact.received.v1"
    assert headers["ce_source"] == b"/gateway/chat"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_subject"] == b"c-1"
    assert headers["ce_time"] == b"2026-11-25T09:30:00Z"
    assert headers["content-type"] == PROTOBUF.encode()
    assert record.key == b"c-1"
    assert record.value == received().SerializeToString(deterministic=True)

    back = from_record(record.headers, record.value, record.key)
    assert back == envelope
    # Decoding builds envelopes around the dataclass's __init__: every field is there, and frozen.
    assert vars(back) == vars(envelope)
    with pytest.raises(dataclasses.FrozenInstanceError):
        back.subject = "c-2"  # type: ignore[misc]


def test_header_names_are_read_whatever_their_case() -> None:
    record = to_record(new_event(received(), source="/gateway/chat", subject="c-1"), "helpline.contacts")
    shouted = [(name.upper(), raw) for name, raw in record.headers]
    assert from_record(shouted, record.value) == from_record(record.headers, record.value)


def test_event_ids_are_random_uuids() -> None:
    ids = [new_event_id() for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_a_protobuf_payload_that_is_valid_utf8_stays_bytes() -> None:
    # "c" * n encodes to bytes that are also valid UTF-8; the SDK alone would hand back a str.
    message = contact_events_pb2.ContactReceived(tenant_id="t", contact_id="c" * 20)
    record = to_record(new_event(message, source="/s"), "helpline.contacts")
    assert from_record(record.headers, record.value).message == message


def test_binary_mode_with_json_data_is_accepted() -> None:
    headers = [
        ("ce_type", b"helpline.contact.received.v1"),
        ("ce_id", b"j-1"),
        ("ce_source", b"/gw"),
        ("ce_specversion", b"1.0"),
        ("ce_time", b"2026-11-25T10:00:00Z"),
        ("content-type", b"application/json"),
    ]
    envelope = from_record(headers, b'{"tenantId": "acme", "contactId": "c-5"}')
    assert envelope.message == contact_events_pb2.ContactReceived(tenant_id="acme", contact_id="c-5")
    assert envelope.time == datetime(2026, 11, 25, 10, tzinfo=UTC)


def test_structured_json_round_trip() -> None:
    envelope = new_event(received("c-9"), source="/gateway/web", subject="c-9")
    raw = to_structured_json(envelope)
    body = json.loads(raw)
    assert body["specversion"] == "1.0"
    assert body["data"]["contactId"] == "c-9"
    assert body["data"]["channel"] == "CHANNEL_CHAT"
    back = from_record([("content-type", b"application/cloudevents+json")], raw)
    assert back.message == envelope.message
    assert (back.id, back.type, back.subject) == (envelope.id, envelope.type, "c-9")


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        ([], b"\x08\x01", "not a CloudEvent"),
        (
            [
                ("ce_type", b"helpline.nothing.v1"),
                ("ce_id", b"1"),
                ("ce_source", b"/s"),
                ("ce_specversion", b"1.0"),
                ("content-type", PROTOBUF.encode()),
            ],
            b"",
            "unknown event type",
        ),
        (
            [
                ("ce_type", b"helpline.contact.received.v1"),
                ("ce_id", b"1"),
                ("ce_source", b"/s"),
                ("ce_specversion", b"1.0"),
                ("content-type", PROTOBUF.encode()),
            ],
            b"\xff\xff\xff",
            "does not match",
        ),
        (
            [("ce_type", b"helpline.contact.received.v1"), ("ce_source", b"/s"), ("ce_specversion", b"1.0")],
            b"",
            r"missing required attributes \['id'\]",
        ),
        (
            [
                ("ce_type", b"helpline.contact.received.v1"),
                ("ce_id", b"1"),
                ("ce_source", b"/s"),
                ("ce_specversion", b"0.3"),
            ],
            b"",
            "specversion",
        ),
        (
            [
                ("ce_type", b"helpline.contact.received.v1"),
                ("ce_id", b"1"),
                ("ce_source", b"/s"),
                ("ce_specversion", b"1.0"),
                ("ce_time", b"yesterday"),
            ],
            b"",
            "not RFC 3339",
        ),
        (
            [
                ("ce_type", b"helpline.contact.received.v1"),
                ("ce_id", b"1"),
                ("ce_source", b"/s"),
                ("ce_specversion", b"1.0"),
                ("content-type", b"text/csv"),
            ],
            b"a,b",
            "neither protobuf nor JSON",
        ),
        ([("content-type", b"application/cloudevents+json")], b"{not json", "malformed CloudEvent"),
        (
            [("content-type", b"application/cloudevents+json")],
            b'{"specversion":"1.0","id":"1","source":"/s","type":"helpline.contact.received.v1",'
            b'"data":{"contactId": 5, "noSuchField": true}}',
            "does not match",
        ),
    ],
)
def test_bad_records_are_refused_with_a_reason(headers: list, value: bytes, reason: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(EventError, match=reason):
        from_record(headers, value)


def _consumed(topic: str, key: IngressKey | None = None) -> Record:
    envelope = new_event(received(), source="/gateway", subject="c-1")
    record = to_record(envelope, topic)
    if key is not None:
        record = signed(record, envelope, key)
    return Record(record.topic, 0, 0, record.key, record.value, record.headers)


def test_a_consumer_given_no_proof_refuses_events_from_outside() -> None:
    handled: list[Envelope] = []
    handle = event_handler(handled.append)
    handle(_consumed("helpline.contacts"))
    with pytest.raises(EventError, match=r"no tenant proof for helpline\.contacts\.ingress"):
        handle(_consumed("helpline.contacts.ingress"))
    assert len(handled) == 1


def test_signed_records_carry_a_proof_of_their_envelope() -> None:
    key = IngressKey("acme", "isk_1", "hlis_s")
    record = _consumed("helpline.feedback", key)
    envelope = from_record(record.headers, record.value)
    check(
        claim(record.headers),
        key.secret,
        topic="helpline.feedback",
        body_tenant="acme",
        event_id=envelope.id,
        event_type=envelope.type,
        value=record.value or b"",
    )


def test_a_batch_stops_before_an_unproven_event_from_outside() -> None:
    """The record handler then dead-letters it, with the proof's reason."""

    def proof(record: Record, envelope: Envelope) -> None:
        if not record.headers or record.headers[-1][0] != "helpline-signature":
            raise EventError("unsigned")

    key = IngressKey("acme", "isk_1", "hlis_s")
    records = [
        _consumed("helpline.contacts"),
        _consumed("helpline.feedback", key),
        _consumed("helpline.feedback"),
    ]
    batches: list[int] = []

    def handle(envelopes: Sequence[Envelope]) -> int:
        batches.append(len(envelopes))
        return len(envelopes)

    assert batch_handler(handle, proof)(records) == 2
    assert batches == [2]
