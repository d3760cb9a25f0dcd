"""Reading back what the tickets service wrote to its outbox, for one ticket."""

from __future__ import annotations

from typing import Any

import redis
from google.protobuf.message import Message

from helpline.events import from_record
from helpline.outbox import decode_headers
from services.tickets.store import OUTBOX_STREAM


def ticket_events(client: redis.Redis, ticket_id: str) -> list[Message]:
    """The events the outbox holds for one ticket, oldest first (no relay runs in these tests)."""
    entries: Any = client.xrange(OUTBOX_STREAM)
    return [
        from_record(decode_headers(fields[b"h"]), fields[b"v"]).message
        for _, fields in entries
        if fields[b"k"] == ticket_id.encode()
    ]


def names(events: list[Message]) -> list[str]:
    return [type(event).__name__ for event in events]
