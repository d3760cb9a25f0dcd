"""What every service's pure domain shares: refusals that carry a stable rule, the record that is
not there, new ids, and the mapping between domain enums, protobuf enums and timestamps. No I/O
here, so service domains may import it under the import-linter rules."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Generic, Protocol, TypeVar

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from ulid import ULID

E = TypeVar("E")
D = TypeVar("D", bound=Enum)
V = TypeVar("V", bound=int)
V_co = TypeVar("V_co", bound=int, covariant=True)


class ProtoEnum(Protocol[V_co]):
    """A generated protobuf enum (common_pb2.Channel...), as far as mapping by name needs it."""

    def Value(self, name: str) -> V_co: ...  # noqa: N802 (protobuf's name)


class DomainError(Exception):
    """A refused command. `rule` is a short identifier that stays stable across releases, so API
    clients and tests can branch on it; `message` is for people; `detail` holds extra facts a
    problem+json body or a DLQ header can carry, as plain strings."""

    def __init__(self, rule: str, message: str, **detail: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.detail: Mapping[str, str] = dict(detail)

    def __str__(self) -> str:
        return f"{self.message} ({self.rule})"


class NotFoundError(LookupError):
    """No record of this kind with this id for the tenant: the APIs answer 404 / NOT_FOUND with the
    rule `<kind>_not_found`."""

    def __init__(self, kind: str, identifier: str) -> None:
        super().__init__(f"no {kind} {identifier}")
        self.kind = kind
        self.identifier = identifier


def new_id() -> str:
    """ULIDs: unique without coordination and sortable by creation time."""
    return str(ULID())


def enum_map(
    domain: type[D], proto: ProtoEnum[V], prefix: str, unnamed: Mapping[D, V] | None = None
) -> Mapping[D, V]:
    """Each member of a domain enum to the proto value of the same name: Channel.WEB_FORM to
    CHANNEL_WEB_FORM with `prefix` "CHANNEL_". `unnamed` gives the members the contract has no
    name for. A member missing from the contract fails here, at import, not on its first message."""
    table = dict(unnamed or {})
    for member in domain:
        if member not in table:
            table[member] = proto.Value(prefix + member.name)
    return table


class EnumReader(Generic[D]):
    """Reads a proto enum value back as its domain member, through a table enum_map built. Called
    with a `default`, that stands in for UNSPECIFIED (0); anything else unknown is refused as
    `invalid`, the service's own error class."""

    def __init__(self, table: Mapping[D, int], enum_name: str, invalid: type[DomainError]) -> None:
        self._members = {value: member for member, value in table.items()}
        self._enum_name = enum_name
        self._invalid = invalid

    def __call__(self, value: int, default: D | None = None) -> D:
        found = self._members.get(value)
        if found is not None:
            return found
        if value == 0 and default is not None:
            return default
        rule = "unspecified_enum" if value == 0 else "unknown_enum"
        message = f"{self._enum_name} value {value} is not one Helpline knows"
        raise self._invalid(rule, message, enum=self._enum_name)


def timestamp(moment: datetime) -> Timestamp:
    if moment.tzinfo is None:
        # A naive datetime would be read as local time by protobuf: refuse rather than guess.
        raise ValueError(f"naive datetime {moment.isoformat()}: the domain works in timezone-aware UTC")
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def duration(value: timedelta) -> Duration:
    message = Duration()
    message.FromTimedelta(value)
    return message


def from_timestamp(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)
