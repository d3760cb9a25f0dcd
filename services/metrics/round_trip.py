"""One Redis round trip for a batch of events: commands packed by hand and written as they are
queued, scripts run by SHA1 and loaded on the trip, replies read back at the end."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import redis


class Lua:
    """A Lua script, run by its SHA1 on a `RoundTrip`."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


T = TypeVar("T")


# What a command takes: redis-py's encodings of these (a float as its repr, text as UTF-8).
Arg = str | bytes | int | float

# Commands written to Redis at a time while a batch is worked out: Redis runs them meanwhile, on
# another core, instead of after the whole batch.
WRITE_EVERY = 32


class RoundTrip:
    """The Redis work of a batch of events, on one connection: written as it is queued, and the
    replies read back by `run()`. A context manager: the connection goes back to the pool at the end,
    or is dropped when the replies were not all read.

    Redis runs the commands in the order they were queued, so each event's command sees what the
    events queued before it changed: an agent's second change in a batch sees its first, a
    threshold configured earlier in the batch is the one read. It is not a transaction (each
    script still runs whole, which is what replicas need), since every change is idempotent and a
    batch whose trip fails is handled again event by event; for that reason too a failed trip is not
    retried here.

    The commands are packed here rather than by redis-py's pipeline, whose argument encoding,
    reply callbacks and script bookkeeping cost two to three times as much Python per command, and
    the exporter sends thousands a second."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._pending: list[bytes] = []
        self._queued = 0
        self._loaded: set[str] = set()
        # redis-py leaves its connections' methods untyped.
        self._connection: Any = None
        self._read = False
        self.replies: list[Any] = []

    def __enter__(self) -> RoundTrip:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._connection is None:
            return
        if not self._read:
            self._connection.disconnect()
        self._client.connection_pool.release(self._connection)

    def call(self, *args: Arg) -> None:
        self._pending.append(_pack(args))
        self._queued += 1
        if len(self._pending) >= WRITE_EVERY:
            self._write()

    def script(self, script: Lua, keys: Sequence[str], args: Sequence[Arg] = ()) -> None:
        if script.sha not in self._loaded:
            # Loaded on each trip before its first run: idempotent and cheap, it spares a round trip
            # of its own to ask whether Redis still has the script (a restart forgets them).
            self._loaded.add(script.sha)
            self.call("SCRIPT", "LOAD", script.source)
        self.call("EVALSHA", script.sha, len(keys), *keys, *args)

    def reply(self, read: Callable[[Any], T]) -> Reply[T]:
        """The reply to the command queued last, read by `read` once the trip has run."""
        return Reply(self, self._queued - 1, read)

    def run(self) -> None:
        if self._queued:
            self._write()
            # An error reply raises here, leaving the rest unread: the connection is then dropped.
            self.replies = [self._connection.read_response() for _ in range(self._queued)]
        self._read = True

    def _write(self) -> None:
        if not self._pending:
            return
        if self._connection is None:
            self._connection = self._client.connection_pool.get_connection()
        self._connection.send_packed_command([b"".join(self._pending)])
        self._pending = []


def _pack(args: Sequence[Arg]) -> bytes:
    """A command in the Redis protocol: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(parts)


class Reply(Generic[T]):
    __slots__ = ("_index", "_read", "_trip")

    def __init__(self, trip: RoundTrip, index: int, read: Callable[[Any], T]) -> None:
        self._trip = trip
        self._index = index
        self._read = read

    def get(self) -> T:
        return self._read(self._trip.replies[self._index])
