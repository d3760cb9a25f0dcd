"""Reading back what a service wrote to its outbox (no relay runs in these tests)."""

from __future__ import annotations

from typing import Any

import redis
from google.protobuf.message import Message

from helpline.events import from_record
from helpline.outbox import decode_headers


def outbox(client: redis.Redis, stream: str) -> list[tuple[bytes, Message]]:
    """Every (key, event) in the outbox stream, oldest first."""
    entries: Any = client.xrange(stream)
    return [
        (fields[b"k"], from_record(decode_headers(fields[b"h"]), fields[b"v"]).message)
        for _, fields in entries
    ]


def outbox_events(
    client: redis.Redis, stream: str, tenant: str, kind: type[Message] | None = None
) -> list[Any]:
    """The tenant's events in the outbox stream, oldest first."""
    return [
        message
        for _, message in outbox(client, stream)
        if getattr(message, "tenant_id", None) == tenant and (kind is None or isinstance(message, kind))
    ]
