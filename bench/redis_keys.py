"""Deleting a benchmark's keys from a Redis others may share: by pattern, in batches, never KEYS."""

from __future__ import annotations

from typing import Any

import redis

_BATCH = 500


def unlink_matching(client: redis.Redis, pattern: str) -> None:
    """UNLINK every key matching `pattern`, found with SCAN so Redis is never blocked."""
    batch: list[Any] = []
    for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) == _BATCH:
            client.unlink(*batch)
            batch.clear()
    if batch:
        client.unlink(*batch)
