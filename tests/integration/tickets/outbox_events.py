"""Reading back what the tickets service wrote to its outbox, for one ticket."""

from __future__ import annotations

import redis
from google.protobuf.message import Message

from services.tickets.store import OUTBOX_STREAM
from tests.integration.outbox_events import outbox


def ticket_events(client: redis.Redis, ticket_id: str) -> list[Message]:
    """The events the outbox holds for one ticket, oldest first (no relay runs in these tests)."""
    return [message for key, message in outbox(client, OUTBOX_STREAM) if key == ticket_id.encode()]


def names(events: list[Message]) -> list[str]:
    return [type(event).__name__ for event in events]
