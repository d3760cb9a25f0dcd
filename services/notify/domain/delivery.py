"""One event on its way to one subscription: its id, its lane, its body and its attempts.

A delivery's id is derived from the subscription's and the event's, so an event the consumer
reads twice (Kafka delivers at least once) makes the same delivery, which is kept once. It is also
the `webhook-id` a target receives, the same on every attempt, so a target drops a repeat.

A subscription's deliveries run in lanes: the lane of an event is its Kafka key's hash modulo the
lane count, and a lane delivers one at a time in the order it was given them. A target that keeps
failing one entity's event blocks that lane only, never the subscription, and never overtakes an
earlier event of the same key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
MAX_ERROR_CHARS = 500
DEFAULT_LANES = 16


class Status(StrEnum):
    PENDING = "pending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD = "dead"

    @property
    def final(self) -> bool:
        return self in (Status.DELIVERED, Status.DEAD)


def delivery_id(subscription_id: str, event_id: str) -> str:
    """The same for the same event to the same subscription, whichever replica derives it."""
    digest = hashlib.sha256(f"{subscription_id}\x1f{event_id}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def lane_of(key: bytes | None, lanes: int) -> int:
    """The lane of a record key: a stable hash (never Python's salted one), so every replica and
    every restart puts one key's events in one lane."""
    digest = hashlib.blake2b(key or b"", digest_size=8).digest()
    return int.from_bytes(digest, "big") % lanes


def cloudevent_body(
    *,
    event_id: str,
    source: str,
    event_type: str,
    time: datetime,
    subject: str | None,
    message: Message,
) -> bytes:
    """The CloudEvent in the HTTP binding's structured mode (`application/cloudevents+json`), its
    data the event message in protobuf's JSON form with the .proto field names (snake_case, as
    the contracts spell them). Compact and with a fixed key order, so the bytes signed are the bytes
    sent."""
    event: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": event_id,
        "source": source,
        "type": event_type,
        "time": time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
    }
    if subject:
        event["subject"] = subject
    event["data"] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def bounded_error(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


@dataclass(frozen=True)
class Delivery:
    id: str
    tenant_id: str
    subscription_id: str
    lane: int
    event_id: str
    event_type: str
    event_time: datetime
    status: Status
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    last_status_code: int = 0
    last_error: str = ""

    def delivered(self, now: datetime, status_code: int) -> Delivery:
        return replace(
            self,
            status=Status.DELIVERED,
            attempts=self.attempts + 1,
            last_attempt_at=now,
            delivered_at=now,
            next_attempt_at=None,
            last_status_code=status_code,
            last_error="",
        )

    def failed(
        self, now: datetime, status_code: int, error: str, next_attempt_at: datetime | None
    ) -> Delivery:
        """The attempt failed: retried at `next_attempt_at`, or dead when there is none."""
        return replace(
            self,
            status=Status.RETRYING if next_attempt_at is not None else Status.DEAD,
            attempts=self.attempts + 1,
            last_attempt_at=now,
            next_attempt_at=next_attempt_at,
            last_status_code=status_code,
            last_error=bounded_error(error),
        )

    def again(self, now: datetime) -> Delivery:
        """A new series of attempts of a finished delivery, asked for by an administrator."""
        return replace(
            self, status=Status.PENDING, attempts=0, next_attempt_at=now, delivered_at=None, last_error=""
        )
