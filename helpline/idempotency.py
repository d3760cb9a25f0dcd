"""Apply an event's effect at most once: the duplicate check and the effect run in one Lua script.

Delivery is at least once, so a handler sees some events twice (a consumer killed before its
commit, an outbox relay killed before its ack). A separate "seen?" check followed by the write
would lose the effect if the process died between them; one script cannot.
"""

from __future__ import annotations

from typing import Any

import redis

# The body is an ordinary Redis script over KEYS and ARGV; the wrapper takes the first key and
# argument for itself and hides them, so the body is written as if it stood alone.
_WRAPPER = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then
  return {0}
end
local body = function(KEYS, ARGV)
__BODY__
end
return {1, body({unpack(KEYS, 2)}, {unpack(ARGV, 2)})}
"""

DEFAULT_TTL_S = 7 * 24 * 3600


class Duplicate:
    """The event was applied before; nothing changed."""

    def __repr__(self) -> str:
        return "DUPLICATE"


DUPLICATE = Duplicate()


class ApplyOnce:
    """A Lua body run at most once per event id, atomically with the record that it ran.

    The dedup key lives `ttl_s` (default 7 days, longer than any topic's redelivery window)."""

    def __init__(self, client: redis.Redis, body: str, namespace: str, ttl_s: int = DEFAULT_TTL_S) -> None:
        self._script = client.register_script(_WRAPPER.replace("__BODY__", body))
        self._namespace = namespace
        self._ttl_s = ttl_s

    def dedup_key(self, event_id: str) -> str:
        return f"{self._namespace}:seen:{event_id}"

    def __call__(self, event_id: str, keys: list[str] | None = None, args: list[Any] | None = None) -> Any:
        """The body's result, or DUPLICATE if this event id was applied before."""
        result = self._script(
            keys=[self.dedup_key(event_id), *(keys or [])], args=[self._ttl_s, *(args or [])]
        )
        if result[0] == 0:
            return DUPLICATE
        return result[1] if len(result) > 1 else None
