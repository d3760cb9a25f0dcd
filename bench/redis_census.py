"""What a Redis holds, by kind of key: how many keys of each kind and the bytes Redis's `MEMORY
USAGE` gives them, found with SCAN (never KEYS) and measured a pipelined batch at a time, so the
services using the Redis meanwhile wait at most a batch.

A key's kind is its name up to the part that names one record: `rt:{acme}:contact:c-1` is
`rt:{t}:contact`, `metrics:answered:acme<US>c-1` is `metrics:answered`, `sla:timers` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis

_BATCH = 1000


@dataclass(frozen=True)
class Kind:
    keys: int
    bytes: int

    @property
    def each(self) -> float:
        return self.bytes / self.keys if self.keys else 0.0


def key_kind(key: bytes | str) -> str:
    name = key.decode(errors="replace") if isinstance(key, bytes) else key
    parts = name.split(":", 3)
    if len(parts) < 3:
        return name
    # A tenant's keys carry it as a hash tag (`{acme}`); the next part names the record kind.
    if parts[1].startswith("{") and parts[1].endswith("}"):
        return f"{parts[0]}:{{t}}:{parts[2]}"
    return f"{parts[0]}:{parts[1]}"


def used_memory(client: redis.Redis) -> int:
    """What the allocator holds for the whole server (INFO memory's `used_memory`)."""
    return int(client.info("memory")["used_memory"])


def census(client: redis.Redis) -> dict[str, Kind]:
    """Every key of the database, by kind."""
    keys: dict[str, int] = {}
    sizes: dict[str, int] = {}
    batch: list[bytes] = []

    def measure() -> None:
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.memory_usage(key)
        for key, size in zip(batch, pipe.execute(), strict=True):
            # A key that expired between the SCAN and its measurement is no longer held.
            if size is None:
                continue
            kind = key_kind(key)
            keys[kind] = keys.get(kind, 0) + 1
            sizes[kind] = sizes.get(kind, 0) + int(size)
        batch.clear()

    for key in client.scan_iter(count=_BATCH):
        batch.append(key)
        if len(batch) == _BATCH:
            measure()
    if batch:
        measure()
    return {kind: Kind(keys[kind], sizes[kind]) for kind in sorted(keys)}


def keys_of(found: Mapping[str, Kind], kind: str) -> int:
    held = found.get(kind)
    return held.keys if held else 0
