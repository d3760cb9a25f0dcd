"""The maximum of everything that enters Helpline, and the one validator that holds messages to them.

Every id, string, list and map a request or an ingress event carries has a maximum, so that no
single request outgrows a Kafka message, a page or a pod. The gRPC servers (helpline.grpc) and the
Kafka ingress (helpline.events) check every protobuf message they take with `validate`; the REST
schemas build their fields from the same limits (`limited`), so one table says what each API takes.
docs/operations.md#limits lists it.

A field's limit is found by its name: `STRINGS`, `LISTS` and `MAPS` name the fields that differ from
the defaults, a field called `id` or ending in `_id` is an id, and any other string is short text.
Ids start with a letter or a digit, so none can ever collide with an internal marker such as the
`-` that stands for "unassigned" in the tickets' indexes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from pydantic import Field

from helpline.domain import DomainError

# Kafka's default `max.message.bytes`, which helpline.topics sets on every topic it creates.
TOPIC_MAX_MESSAGE_BYTES = 1_048_576
# The largest event payload a service writes: the topic's limit less room for the CloudEvents
# headers, the key and the record batch's own framing.
MAX_EVENT_BYTES = TOPIC_MAX_MESSAGE_BYTES - 16_384


@dataclass(frozen=True)
class TextLimit:
    """A string's maximum length in characters, and the pattern it must match when it has one."""

    max_chars: int
    pattern: str | None = None
    what: str = "text"

    def __post_init__(self) -> None:
        if self.pattern is not None:
            object.__setattr__(self, "_compiled", re.compile(self.pattern))

    def problem(self, value: str) -> tuple[str, str] | None:
        """(rule, reason) when `value` breaks the limit; None when it keeps it. Empty always keeps it:
        whether a field is required is the domain's to say."""
        if len(value) > self.max_chars:
            return "too_long", f"is {len(value):,} characters; at most {self.max_chars:,}"
        if value and self.pattern is not None and not self._compiled.fullmatch(value):  # type: ignore[attr-defined]
            return (
                f"invalid_{self.what.replace(' ', '_')}",
                f"is not {_article(self.what)} (`{self.pattern}`)",
            )
        return None


@dataclass(frozen=True)
class MapLimit:
    max_entries: int
    key: TextLimit
    value: TextLimit


ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_:-]{0,49}$"
FIELD_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,49}$"
ATTRIBUTE_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"

ID = TextLimit(128, ID_PATTERN, "id")
# An idempotency key: whatever a client generates (a UUID, base64), printable ASCII as HTTP's
# Idempotency-Key header; it lands in Redis key names and derived ids, so it is bounded like an id.
REQUEST_ID = TextLimit(128, r"^[\x21-\x7e]+$", "request id")
TENANT = TextLimit(63, TENANT_PATTERN, "tenant id")
TEXT = TextLimit(1_000)
LONG_TEXT = TextLimit(65_536)
SUMMARY = TextLimit(16_384)
SUBJECT = TextLimit(250)
ADDRESS = TextLimit(320)
TOKEN = TextLimit(512)
TAG = TextLimit(50, TAG_PATTERN, "tag")
FIELD_KEY = TextLimit(50, FIELD_KEY_PATTERN, "field name")
ATTRIBUTE_KEY = TextLimit(64, ATTRIBUTE_KEY_PATTERN, "attribute name")
FIELD_VALUE = TextLimit(1_024)

MAX_ITEMS = 100
MAX_BYTES = 65_536

# Strings (and the items of repeated strings) by field name, where the default does not fit.
STRINGS: dict[str, TextLimit] = {
    "tenant_id": TENANT,
    "bot_transcript_summary": SUMMARY,
    "description": LONG_TEXT,
    "body": LONG_TEXT,
    "comment": LONG_TEXT,
    "subject": SUBJECT,
    "customer_address": ADDRESS,
    "callback_number": ADDRESS,
    "page_token": TOKEN,
    "request_id": REQUEST_ID,
    "tags": TAG,
}
# Items of repeated fields by name; any other holds at most MAX_ITEMS.
LISTS: dict[str, int] = {
    "tags": 50,
    "required_skills": 32,
    "contact_ids": 1_000,
}
MAPS: dict[str, MapLimit] = {
    "attributes": MapLimit(50, ATTRIBUTE_KEY, FIELD_VALUE),
    "custom_fields": MapLimit(50, FIELD_KEY, FIELD_VALUE),
}
DEFAULT_MAP = MapLimit(50, ATTRIBUTE_KEY, FIELD_VALUE)


class LimitError(DomainError):
    """A request or event over a documented maximum; `detail["field"]` names the field."""

    def __init__(self, rule: str, message: str, field: str) -> None:
        super().__init__(rule, message, field=field)
        self.field = field


class EventTooLargeError(LimitError):
    """An event larger than a Kafka message may be: refused before it reaches the outbox."""


def string_limit(field: FieldDescriptor) -> TextLimit:
    found = STRINGS.get(field.name)
    if found is not None:
        return found
    if field.name == "id" or field.name.endswith("_id"):
        return ID
    return TEXT


def validate(message: Message) -> None:
    """Raise LimitError for the first field of `message` (nested messages included) over its limit."""
    _check(message, "")


Check = Callable[[Any, str], None]


def _check(message: Message, prefix: str) -> None:
    checks = _checks(message.DESCRIPTOR)
    for field, value in message.ListFields():
        checks[field.number](value, f"{prefix}{field.name}")


@cache
def _checks(descriptor: Descriptor) -> dict[int, Check]:
    return {field.number: _field_check(field) for field in descriptor.fields}


def _field_check(field: FieldDescriptor) -> Check:
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        return _map_check(MAPS.get(field.name, DEFAULT_MAP), message_type.fields_by_name["value"])
    single = _single_check(field)
    if not field.is_repeated:
        return single
    most = LISTS.get(field.name, MAX_ITEMS)

    def items(values: Any, path: str) -> None:
        if len(values) > most:
            raise LimitError("too_many_items", f"{path} has {len(values):,} items; at most {most:,}", path)
        for i, value in enumerate(values):
            single(value, f"{path}[{i}]")

    return items


def _single_check(field: FieldDescriptor) -> Check:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return lambda value, path: _check(value, f"{path}.")
    if field.type == FieldDescriptor.TYPE_STRING:
        return _text_check(string_limit(field))
    if field.type == FieldDescriptor.TYPE_BYTES:

        def raw(value: bytes, path: str) -> None:
            if len(value) > MAX_BYTES:
                raise LimitError("too_long", f"{path} is {len(value):,} bytes; at most {MAX_BYTES:,}", path)

        return raw
    return lambda _value, _path: None


def _text_check(limit: TextLimit) -> Check:
    def text(value: str, path: str) -> None:
        problem = limit.problem(value)
        if problem is not None:
            rule, reason = problem
            raise LimitError(rule, f"{path} {reason}", path)

    return text


def _map_check(limit: MapLimit, value_field: FieldDescriptor) -> Check:
    key_check = _text_check(limit.key)
    value_check = (
        _single_check(value_field)
        if value_field.type != FieldDescriptor.TYPE_STRING
        else _text_check(limit.value)
    )

    def entries(mapping: Any, path: str) -> None:
        if len(mapping) > limit.max_entries:
            raise LimitError(
                "too_many_entries",
                f"{path} has {len(mapping):,} entries; at most {limit.max_entries:,}",
                path,
            )
        for key, value in mapping.items():
            key_check(key, f"{path} key")
            value_check(value, f"{path}[{key}]")

    return entries


def largest_field(message: Message, prefix: str = "") -> str:
    """The path of the field that makes `message` large (`context.bot_transcript_summary`), for an
    error that says what to shorten."""
    best, best_size, best_value = "", -1, None
    for field, value in message.ListFields():
        size = _size(field, value)
        if size > best_size:
            best, best_size, best_value = field.name, size, value
    if isinstance(best_value, Message):
        return largest_field(best_value, f"{prefix}{best}.")
    return f"{prefix}{best}" if best else prefix.rstrip(".")


def _size(field: FieldDescriptor, value: Any) -> int:
    if isinstance(value, Message):
        return value.ByteSize()
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes):
        return len(value)
    if field.is_repeated:
        items = value.values() if hasattr(value, "values") and callable(value.values) else value
        return sum(_size(field, item) if not isinstance(item, int | float | bool) else 8 for item in items)
    return 8


def check_event_size(message: Message, size: int) -> None:
    """Raise EventTooLargeError when an event of `size` bytes cannot be one Kafka message."""
    if size > MAX_EVENT_BYTES:
        field = largest_field(message)
        raise EventTooLargeError(
            "event_too_large",
            f"the {message.DESCRIPTOR.name} this request makes would be {size:,} bytes, over the "
            f"{MAX_EVENT_BYTES:,} an event may be; shorten {field}",
            field,
        )


def limited(limit: TextLimit, **field: Any) -> Any:
    """A REST schema string's pydantic Field with this limit, so REST and gRPC take the same:
    `Id = Annotated[str, limited(ID, min_length=1)]`."""
    return Field(max_length=limit.max_chars, pattern=limit.pattern, **field)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _article(what: str) -> str:
    return f"an {what}" if what[0] in "aeiou" else f"a {what}"
