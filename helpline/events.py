"""CloudEvents 1.0 on Kafka, to and from the protobuf messages of `proto/helpline/v1`.

Binary mode is what Helpline writes: `ce_*` headers and `content-type: application/protobuf`, the
value a serialized message. Ingress topics also accept structured mode
(`content-type: application/cloudevents+json`) with the message in its proto3 JSON form under
`data`, so a gateway in any language can publish with a plain Kafka client.

Each event message names its CloudEvents type in the `(helpline.v1.event_type)` message option, so
the `.proto` files are the one source of the type-to-message mapping.
"""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import structlog
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

import helpline.v1
from helpline.bus import Header, OutgoingRecord, PermanentError
from helpline.v1 import options_pb2

PROTOBUF = "application/protobuf"
STRUCTURED_JSON = "application/cloudevents+json"
SPECVERSION = "1.0"


class EventError(PermanentError):
    """A record that is not a valid Helpline event: it can never be handled, so it is dead-lettered."""


@dataclass(frozen=True)
class Envelope:
    """One event: the CloudEvents attributes and the decoded message."""

    type: str
    source: str
    message: Message
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None

    @property
    def tenant_id(self) -> str:
        return str(getattr(self.message, "tenant_id", ""))

    @property
    def domain(self) -> str:
        return self.type.split(".")[1]


class EventRegistry:
    """Maps CloudEvents types to message classes, read from the generated descriptors."""

    def __init__(self, by_type: dict[str, type[Message]]) -> None:
        self._by_type = by_type
        self._by_name = {cls.DESCRIPTOR.full_name: t for t, cls in by_type.items()}

    def message_class(self, event_type: str) -> type[Message]:
        try:
            return self._by_type[event_type]
        except KeyError:
            raise EventError(f"unknown event type {event_type!r}") from None

    def type_of(self, message: Message) -> str:
        try:
            return self._by_name[message.DESCRIPTOR.full_name]
        except KeyError:
            raise ValueError(f"{message.DESCRIPTOR.full_name} is not an event message") from None

    def types(self) -> list[str]:
        return sorted(self._by_type)


def _generated_modules() -> Iterator[Any]:
    for info in pkgutil.iter_modules(helpline.v1.__path__):
        if info.name.endswith("_pb2"):
            yield importlib.import_module(f"helpline.v1.{info.name}")


@cache
def registry() -> EventRegistry:
    by_type: dict[str, type[Message]] = {}
    for module in _generated_modules():
        for name in module.DESCRIPTOR.message_types_by_name:
            cls = getattr(module, name)
            event_type = cls.DESCRIPTOR.GetOptions().Extensions[options_pb2.event_type]
            if event_type:
                if event_type in by_type:
                    raise RuntimeError(f"event type {event_type} is declared twice")
                by_type[event_type] = cls
    return EventRegistry(by_type)


def new_event(message: Message, *, source: str, subject: str | None = None) -> Envelope:
    """An envelope for a message, its type read from the message's `event_type` option."""
    return Envelope(type=registry().type_of(message), source=source, message=message, subject=subject)


class _ProtobufData(JSONFormat):
    # The SDK's JSON format decodes any UTF-8-valid body to str; a protobuf payload must stay bytes.
    def read_data(self, body: bytes, datacontenttype: str | None) -> dict[str, Any] | str | bytes | None:
        if datacontenttype == PROTOBUF:
            return body
        return super().read_data(body, datacontenttype)


_BINARY_FORMAT = _ProtobufData()
_JSON_FORMAT = JSONFormat()


def _cloud_event(envelope: Envelope, data: Any, content_type: str) -> CloudEvent:
    attributes: dict[str, Any] = {
        "id": envelope.id,
        "source": envelope.source,
        "type": envelope.type,
        "specversion": SPECVERSION,
        "time": envelope.time,
        "datacontenttype": content_type,
    }
    if envelope.subject:
        attributes["subject"] = envelope.subject
    return CloudEvent(attributes=attributes, data=data)


def to_record(envelope: Envelope, topic: str, key: str | bytes | None = None) -> OutgoingRecord:
    """Binary mode; the key defaults to the subject (the entity id), which gives per-entity order."""
    message = ce_kafka.to_binary(
        _cloud_event(envelope, envelope.message.SerializeToString(deterministic=True), PROTOBUF),
        _BINARY_FORMAT,
        key_mapper=lambda _event: None,
    )
    key = envelope.subject if key is None else key
    key_bytes = key.encode() if isinstance(key, str) else key
    return OutgoingRecord(topic, message.value, key_bytes, list(message.headers.items()))


def to_structured_json(envelope: Envelope) -> bytes:
    """Structured mode, the message in its proto3 JSON form: what a gateway without protobuf sends."""
    data = json_format.MessageToDict(envelope.message, preserving_proto_field_name=False)
    return _JSON_FORMAT.write(_cloud_event(envelope, data, "application/json"))


def from_record(headers: list[Header] | None, value: bytes | None, key: bytes | None = None) -> Envelope:
    """Decode either content mode; anything malformed raises EventError naming what is wrong."""
    header_map = {name.lower(): raw for name, raw in (headers or [])}
    content_type = header_map.get("content-type", b"").decode(errors="replace")
    message = ce_kafka.KafkaMessage(headers=header_map, key=key, value=value or b"")
    try:
        if content_type.startswith(STRUCTURED_JSON):
            event = ce_kafka.from_structured(message, _JSON_FORMAT)
        elif "ce_type" in header_map:
            event = ce_kafka.from_binary(message, _BINARY_FORMAT)
        else:
            raise EventError(
                f"not a CloudEvent: no ce_type header and content-type {content_type or '(none)'!r} "
                f"is not {STRUCTURED_JSON}"
            )
    except EventError:
        raise
    except Exception as exc:  # the SDK raises several types for missing or malformed attributes
        raise EventError(f"malformed CloudEvent: {exc}") from exc
    return _envelope(event)


def _envelope(event: Any) -> Envelope:
    event_type = event.get_type()
    cls = registry().message_class(event_type)
    data = event.get_data()
    try:
        if isinstance(data, bytes | bytearray):
            message = cls.FromString(bytes(data))
        elif isinstance(data, dict):
            message = json_format.ParseDict(data, cls())
        elif data is None:
            message = cls()
        else:
            raise EventError(f"{event_type}: data must be a protobuf payload or a JSON object")
    except (DecodeError, json_format.ParseError) as exc:
        raise EventError(f"{event_type}: data does not match {cls.DESCRIPTOR.full_name}: {exc}") from exc
    time = event.get_time() or datetime.now(UTC)
    return Envelope(
        type=event_type,
        source=event.get_source(),
        message=message,
        id=event.get_id(),
        time=time,
        subject=event.get_subject(),
    )


def event_handler(handle: Callable[[Envelope], None]) -> Callable[[Any], None]:
    """Adapt a function of envelopes to a bus handler: decode, bind the event id, type and tenant
    to every log line of the handling, and call it. Undecodable records go to the DLQ."""

    def handler(record: Any) -> None:
        envelope = from_record(record.headers, record.value, record.key)
        with structlog.contextvars.bound_contextvars(
            event_id=envelope.id, event_type=envelope.type, tenant=envelope.tenant_id
        ):
            handle(envelope)

    return handler


def to_display(envelope: Envelope) -> dict[str, Any]:
    """A JSON-ready view for people (`helpline tail`)."""
    return {
        "id": envelope.id,
        "type": envelope.type,
        "source": envelope.source,
        "time": envelope.time.isoformat(),
        "subject": envelope.subject,
        "data": json_format.MessageToDict(envelope.message),
    }
