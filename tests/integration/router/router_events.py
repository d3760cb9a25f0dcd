"""Reading back what the router wrote to its outbox, for one tenant."""

from __future__ import annotations

from typing import Any

import redis
from google.protobuf.message import Message

from helpline.events import from_record
from helpline.outbox import decode_headers
from services.router.store import OUTBOX_STREAM


def router_events(client: redis.Redis, tenant: str, kind: type[Message] | None = None) -> list[Any]:
    """The tenant's events in the outbox, oldest first (no relay runs in these tests)."""
    entries: Any = client.xrange(OUTBOX_STREAM)
    found = []
    for _, fields in entries:
        message = from_record(decode_headers(fields[b"h"]), fields[b"v"]).message
        if getattr(message, "tenant_id", None) == tenant and (kind is None or isinstance(message, kind)):
            found.append(message)
    return found
