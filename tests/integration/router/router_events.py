"""Reading back what the router wrote to its outbox, for one tenant."""

from __future__ import annotations

from typing import Any

import redis
from google.protobuf.message import Message

from services.router.storage.store import OUTBOX_STREAM
from tests.integration.outbox_events import outbox_events


def router_events(client: redis.Redis, tenant: str, kind: type[Message] | None = None) -> list[Any]:
    """The tenant's events in the router's outbox, oldest first (no relay runs in these tests)."""
    return outbox_events(client, OUTBOX_STREAM, tenant, kind)
