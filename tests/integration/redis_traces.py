"""What a Redis database still holds of one contact, ticket, agent or queue: for the retention tests,
which drive a record to its end and then expect nothing of it left."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import redis

from tests.integration.helpers import text


def traces(client: redis.Redis, needle: str, skip: Collection[str] = ()) -> list[str]:
    """Every key that names `needle` or holds it (a hash field or value, a set or sorted set member,
    a list item, a string value), as "key" or "key: where"; streams are outboxes, which their relay
    empties, and are left out with the keys in `skip`. Expired keys are not seen: SCAN skips them."""
    wanted = needle.encode()
    found = []
    for key in client.scan_iter(count=1000):
        name = key.decode(errors="replace")
        if name in skip:
            continue
        if wanted in key:
            found.append(name)
            continue
        kind = text(client.type(key))
        where = _inside(client, key, kind, wanted)
        if where:
            found.append(f"{name}: {where}")
    return found


def _inside(client: redis.Redis, key: bytes, kind: str, wanted: bytes) -> str:
    # redis-py types each reply as bytes or str; this client's are bytes.
    parts: Iterable[Any]
    if kind == "hash":
        parts = (part for pair in client.hscan_iter(key, count=1000) for part in pair)
    elif kind == "set":
        parts = client.sscan_iter(key, count=1000)
    elif kind == "zset":
        parts = (member for member, _ in client.zscan_iter(key, count=1000))
    elif kind == "list":
        parts = client.lrange(key, 0, -1)
    elif kind == "string":
        value = client.get(key)
        parts = () if value is None else (value,)
    else:
        return ""
    return next((f"{kind} holds {part!r}" for part in parts if wanted in part), "")
