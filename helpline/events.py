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
import json
import os
import pkgutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

import cloudevents.core.bindings.kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

import helpline.v1
from helpline.ingress_signing import IngressKey
from helpline.limits import LimitError, check_event_size, validate
from helpline.logging import handled, handling
from helpline.records import Header, OutgoingRecord, PermanentError, Record
from helpline.topics import VALIDATED_TOPICS
from helpline.v1 import options_pb2

PROTOBUF = "application/protobuf"
STRUCTURED_JSON = "application/cloudevents+json"
SPECVERSION = "1.0"
# The `type` label of a record whose CloudEvents type is missing, unreadable or not a Helpline event.
UNKNOWN_EVENT_TYPE = "unknown"


class EventError(PermanentError):
    """A record that is not a valid Helpline event: it can never be handled, so it is dead-lettered."""


# The version and variant bits of a random (version 4) UUID, RFC 9562 section 5.4.
_UUID4_BITS = (0x4000 << 64) | (0x8000 << 48)
_UUID4_MASK = ~((0xF000 << 64) | (0xC000 << 48))


def new_event_id() -> str:
    """A random UUID as text, what str(uuid.uuid4()) gives at half its cost: every event produced
    pays for one, and the UUID object built only to be formatted was most of it."""
    digits = "%032x" % (int.from_bytes(os.urandom(16)) & _UUID4_MASK | _UUID4_BITS)
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


@dataclass(frozen=True)
class Envelope:
    """One event: the CloudEvents attributes and the decoded message."""

    type: str
    source: str
    message: Message
    id: str = field(default_factory=new_event_id)
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

    def knows(self, event_type: str) -> bool:
        return event_type in self._by_type


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
    return _built(registry().type_of(message), source, message, new_event_id(), datetime.now(UTC), subject)


def event_type_label(record: Record) -> str:
    """The record's CloudEvents type for a metric's `type` label (helpline.bus.BusMetrics), read
    where `from_record` reads it: the structured JSON when the content type says so, else the
    `ce_type` header. `unknown` unless the registry knows it, so a producer cannot mint label values."""
    try:
        found = _read_type(record)
    # Whatever the record holds, labelling it must not fail it: the handler decides its fate.
    except Exception:
        return UNKNOWN_EVENT_TYPE
    return found if isinstance(found, str) and registry().knows(found) else UNKNOWN_EVENT_TYPE


_STRUCTURED = STRUCTURED_JSON.encode()


def _read_type(record: Record) -> object:
    # The last header of a name counts, as in `from_record`; read from the end without building a
    # map of them, since every record pays for this.
    content_type = event_type = None
    for name, raw in reversed(record.headers or ()):
        lowered = name.lower()
        if lowered == "ce_type" and event_type is None:
            event_type = raw
        elif lowered == "content-type" and content_type is None:
            content_type = raw
        if content_type is not None and event_type is not None:
            break
    if content_type is not None and content_type.startswith(_STRUCTURED):
        # A second parse of the value (the handler parses it too), paid only by structured
        # ingress events; Helpline's own binary events need just the header.
        return json.loads(record.value).get("type") if record.value is not None else None
    return (event_type or b"").decode()


_JSON_FORMAT = JSONFormat()
_REQUIRED = ("id", "source", "type", "specversion")


_SPECVERSION_HEADER = ("ce_specversion", SPECVERSION.encode())
_CONTENT_TYPE_HEADER = ("content-type", PROTOBUF.encode())


# Binary mode is Helpline's hot path (every event of every service), and there the SDK costs more
# than the rest of the consumer: building a validated CloudEvent, then dateutil's parser, came to
# about 130 us an event against 15 us for this direct mapping of the same headers. The SDK stays
# for structured mode, where its JSON format handles data_base64 and the other encodings.
def to_record(envelope: Envelope, topic: str, key: str | bytes | None = None) -> OutgoingRecord:
    """Binary mode; the key defaults to the subject (the entity id), which gives per-entity order.
    An event too large for one Kafka message raises EventTooLargeError (helpline.limits), so the
    request that would make it is refused before anything is written."""
    headers: list[Header] = [
        ("ce_id", envelope.id.encode()),
        ("ce_source", envelope.source.encode()),
        ("ce_type", envelope.type.encode()),
        _SPECVERSION_HEADER,
        ("ce_time", _format_time(envelope.time).encode()),
    ]
    if envelope.subject:
        headers.append(("ce_subject", envelope.subject.encode()))
    headers.append(_CONTENT_TYPE_HEADER)
    key = envelope.subject if key is None else key
    key_bytes = key.encode() if isinstance(key, str) else key
    value = envelope.message.SerializeToString(deterministic=True)
    check_event_size(envelope.message, len(value))
    return OutgoingRecord(topic, value, key_bytes, headers)


def signed(record: OutgoingRecord, envelope: Envelope, key: IngressKey) -> OutgoingRecord:
    """The record with the headers that prove its tenant (helpline.ingress_signing), as another
    system writes it to the contact ingress or the feedback topic."""
    proof = key.headers(record.topic, envelope.id, envelope.type, record.value)
    return replace(record, headers=[*record.headers, *proof])


def _format_time(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def to_structured_json(envelope: Envelope) -> bytes:
    """Structured mode, the message in its proto3 JSON form: what a gateway without protobuf sends."""
    attributes: dict[str, Any] = {
        "id": envelope.id,
        "source": envelope.source,
        "type": envelope.type,
        "specversion": SPECVERSION,
        "time": envelope.time,
        "datacontenttype": "application/json",
    }
    if envelope.subject:
        attributes["subject"] = envelope.subject
    data = json_format.MessageToDict(envelope.message)
    return _JSON_FORMAT.write(CloudEvent(attributes=attributes, data=data))


# The header names Helpline itself writes, each to its attribute: a dict lookup in place of lowering
# and slicing every name, which was a quarter of decoding. Any other spelling takes the general path.
_OWN_HEADERS = {f"ce_{name}": name for name in ("id", "source", "type", "specversion", "time", "subject")}


def from_record(headers: list[Header] | None, value: bytes | None, key: bytes | None = None) -> Envelope:
    """Decode either content mode; anything malformed raises EventError naming what is wrong."""
    # One pass over the headers for both modes (every consumed record pays for it); header names
    # are case-insensitive, and the last of a name counts.
    content_type = b""
    found: dict[str, bytes] = {}
    for name, raw in headers or ():
        attribute = _OWN_HEADERS.get(name)
        if attribute is None:
            lowered = name.lower()
            if lowered == "content-type":
                content_type = raw
                continue
            if lowered[:3] != "ce_":
                continue
            attribute = lowered[3:]
        found[attribute] = raw
    if content_type == _CONTENT_TYPE_HEADER[1] and "type" in found:
        return _from_binary(found, value or b"", PROTOBUF)
    text = content_type.decode(errors="replace")
    if text.startswith(STRUCTURED_JSON):
        header_map = {name.lower(): raw for name, raw in headers or []}
        return _from_structured(header_map, value or b"", key)
    if "type" in found:
        return _from_binary(found, value or b"", text)
    raise EventError(
        f"not a CloudEvent: no ce_type header and content-type {text or '(none)'!r} is not {STRUCTURED_JSON}"
    )


def _from_binary(found: dict[str, bytes], value: bytes, content_type: str) -> Envelope:
    try:
        attrs = {name: raw.decode() for name, raw in found.items()}
    except UnicodeDecodeError as exc:
        raise EventError(f"malformed CloudEvent: a ce_ header is not UTF-8: {exc}") from exc
    get = attrs.get
    if not (get("id") and get("source") and get("type") and get("specversion")):
        missing = [name for name in _REQUIRED if not get(name)]
        raise EventError(f"malformed CloudEvent: missing required attributes {missing}")
    if attrs["specversion"] != SPECVERSION:
        raise EventError(f"malformed CloudEvent: specversion {attrs['specversion']!r}, expected 1.0")
    data: Any = value
    if content_type and content_type != PROTOBUF:
        if "json" not in content_type:
            raise EventError(f"{attrs['type']}: content-type {content_type!r} is neither protobuf nor JSON")
        try:
            data = json.loads(value) if value else None
        except ValueError as exc:
            raise EventError(f"{attrs['type']}: data is not valid JSON: {exc}") from exc
    return _envelope(attrs["type"], attrs["source"], attrs["id"], get("time"), get("subject"), data)


def _from_structured(header_map: dict[str, bytes], value: bytes, key: bytes | None) -> Envelope:
    message = ce_kafka.KafkaMessage(headers=header_map, key=key, value=value)
    try:
        event = ce_kafka.from_structured(message, _JSON_FORMAT)
    except Exception as exc:  # the SDK raises several types for missing or malformed attributes
        raise EventError(f"malformed CloudEvent: {exc}") from exc
    moment = event.get_time()
    return _envelope(
        event.get_type(),
        event.get_source(),
        event.get_id(),
        moment.isoformat() if moment else None,
        event.get_subject(),
        event.get_data(),
    )


def _envelope(
    event_type: str, source: str, event_id: str, time: str | None, subject: str | None, data: Any
) -> Envelope:
    cls = registry().message_class(event_type)
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
    try:
        moment = datetime.fromisoformat(time) if time else datetime.now(UTC)
    except ValueError as exc:
        raise EventError(f"malformed CloudEvent: time {time!r} is not RFC 3339") from exc
    return _built(event_type, source, message, event_id, moment, subject)


def _built(
    event_type: str, source: str, message: Message, event_id: str, moment: datetime, subject: str | None
) -> Envelope:
    # Filled in directly rather than through the frozen dataclass's __init__, which sets each field
    # through object.__setattr__ and cost a fifth of decoding an event: the same instance, as
    # immutable to its users as ever. tests/unit/test_events.py compares it to one built normally.
    envelope = _new_instance(Envelope)
    envelope.__dict__.update(
        type=event_type, source=source, message=message, id=event_id, time=moment, subject=subject
    )
    return envelope


_new_instance = object.__new__


# Checks an event another system wrote (a validated topic's) proves its tenant, raising EventError
# when not: helpline.tenant_proof.TenantProof.
Proof = Callable[[Any, Envelope], None]


def no_outside_events(record: Any, envelope: Envelope) -> None:
    """The proof of a consumer given none: it takes no event from another system."""
    raise EventError(f"{envelope.type} {envelope.id}: this consumer has no tenant proof for {record.topic}")


def event_handler(
    handle: Callable[[Envelope], None], proof: Proof = no_outside_events
) -> Callable[[Any], None]:
    """Adapt a function of envelopes to a bus handler: decode, bind the event id, type and tenant
    to every log line of the handling, and call it. Undecodable records go to the DLQ, and so do
    events from outside Helpline over a limit (helpline.limits) or that `proof` refuses."""

    def handler(record: Any) -> None:
        envelope = read_event(record, proof)
        token = handling(envelope)
        try:
            handle(envelope)
        finally:
            handled(token)

    return handler


def read_event(record: Any, proof: Proof = no_outside_events) -> Envelope:
    """A consumed record's event, decoded and, when another system wrote it, held to the limits and
    `proof`: EventError (for the DLQ) otherwise."""
    envelope = from_record(record.headers, record.value, record.key)
    if record.topic in VALIDATED_TOPICS:
        from_outside(record, envelope, proof)
    return envelope


def from_outside(record: Any, envelope: Envelope, proof: Proof) -> None:
    """Refuse, as EventError, an event another system wrote that is over a limit or unproven."""
    within_limits(envelope)
    proof(record, envelope)


def within_limits(envelope: Envelope) -> None:
    """Refuse, as EventError, an event whose message breaks a limit of helpline.limits."""
    try:
        validate(envelope.message)
    except LimitError as exc:
        raise EventError(f"{envelope.type}: {exc.message} ({exc.rule})") from exc


def batch_handler(
    handle: Callable[[Sequence[Envelope]], int], proof: Proof = no_outside_events
) -> Callable[[Sequence[Any]], int]:
    """Adapt a function of a batch of envelopes, which returns how many it handled, to a bus batch
    handler. The records are decoded (and those another system wrote checked, as `event_handler`
    does) in order up to the first that fails, and the envelopes before it handed over; the bus
    then dead-letters that record through its record handler. No event is bound to the log context:
    a log line about one event of a batch names what it is about."""

    def handler(records: Sequence[Any]) -> int:
        envelopes = []
        for record in records:
            try:
                envelopes.append(read_event(record, proof))
            except EventError:
                break
        return handle(envelopes) if envelopes else 0

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
