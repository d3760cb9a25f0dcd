"""Claims on a sorted set of due members (scored by their due instant, epoch ms) that several
replicas poll: each claim takes the members due by now and pushes them a lease ahead, in one script,
so no other replica takes them until the lease runs out; a replica that dies holding one leaves it
to come due again. The SLA service's timers are kept this way (the notify service's lanes are
claimed the same way, inside scripts of its own that also read what an attempt needs)."""

from __future__ import annotations

from typing import Any

import redis

# KEYS: the set. ARGV: now (epoch ms), how many at most, the lease (ms). Returns member, due
# (epoch ms) pairs, flat.
_CLAIM = """
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]),
                       'WITHSCORES')
local until_ms = tonumber(ARGV[1]) + tonumber(ARGV[3])
for i = 1, #due, 2 do redis.call('ZADD', KEYS[1], 'XX', until_ms, due[i]) end
return due
"""


class DueClaims:
    def __init__(self, client: redis.Redis) -> None:
        self._script = client.register_script(_CLAIM)

    def __call__(self, key: str, now_ms: int, limit: int, lease_ms: int) -> list[tuple[Any, float]]:
        """The members of `key` due by `now_ms` (at most `limit`), each with its due epoch ms,
        now leased for `lease_ms`."""
        flat = self._script(keys=[key], args=[now_ms, limit, lease_ms])
        return [(member, float(due)) for member, due in zip(flat[::2], flat[1::2], strict=True)]
