"""What a tenant's keys in the router's Redis still say about given ids: every key whose name or
value mentions one, and every set, sorted-set or hash member or stream entry that does, with the
key's time to live."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis

from services.router.storage.store import Keys


@dataclass(frozen=True)
class Mention:
    key: str
    kind: str
    # Seconds left before Redis drops the key; -1 when it never expires.
    ttl_s: int
    # The member (stream entry id) that mentions an id; empty when the key's name or value does.
    member: str = ""


def _contents(client: redis.Redis, key: str, kind: str) -> list[tuple[str, bytes]]:
    """(member, bytes that may name an id): one ("", value) for a string; a desk entry's payload
    is a protobuf message in base64, decoded here so the ids in it show."""
    raw: Any
    if kind == "string":
        raw = client.get(key)
        return [("", raw or b"")]
    if kind == "set":
        raw = client.smembers(key)
        return [(member.decode(), member) for member in raw]
    if kind == "zset":
        raw = client.zrange(key, 0, -1)
        return [(member.decode(), member) for member in raw]
    if kind == "hash":
        raw = client.hgetall(key)
        return [(name.decode(), name + b"=" + value) for name, value in raw.items()]
    if kind == "stream":
        raw = client.xrange(key)
        return [(entry_id.decode(), base64.b64decode(fields.get(b"data", b""))) for entry_id, fields in raw]
    raise AssertionError(f"{key} is a {kind}, which the router does not write")


def mentions(client: redis.Redis, tenant: str, ids: Iterable[str]) -> list[Mention]:
    wanted = [i.encode() for i in ids if i]
    found: list[Mention] = []
    for raw_key in client.scan_iter(match=f"{Keys(tenant).base}:*", count=1000):
        kind: Any = client.type(raw_key)
        ttl: Any = client.ttl(raw_key)
        key, of = raw_key.decode(), kind.decode()
        if of == "none":
            continue  # expired since the scan found it
        if any(i in raw_key for i in wanted):
            found.append(Mention(key, of, int(ttl)))
            continue
        for member, content in _contents(client, key, of):
            if any(i in content for i in wanted):
                found.append(Mention(key, of, int(ttl), member))
    return found
