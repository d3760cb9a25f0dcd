"""What the bus carries, whichever Kafka client carries it: a consumed record, a record to send, and
the failure that sends a record to its dead-letter topic. A leaf: the transport (helpline.bus,
helpline.kafka) and the envelope (helpline.events) both build on it without knowing each other."""

from __future__ import annotations

from dataclasses import dataclass, field

Header = tuple[str, bytes]


@dataclass(frozen=True, slots=True)
class Record:
    """A consumed record, as handlers get it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[Header]


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    value: bytes
    key: bytes | None = None
    headers: list[Header] = field(default_factory=list)


class PermanentError(Exception):
    """A record that can never succeed (undecodable, invalid): skip the retries, go to the DLQ.
    A `reason` (a short code, e.g. `unsigned`) goes with it as the `dlq_reason` header."""

    reason = ""
