"""The two kinds of failure, told apart in one place, and the backoff every loop rides an outage with.

A **transient** failure is a dependency down, slow or contended: Redis refusing connections, timing
out, loading its data, busy with a script, out of memory or without its replicas; a connection pool
with no free connection; Kafka without a leader or its in-sync replicas, or not acking in time; an
optimistic write that lost every race. The same call will pass later, so it is retried for as long
as it lasts and never dead-lettered. Everything else is **permanent** for the record or request in
hand (undecodable, refused by the domain, too large) and is answered or dead-lettered at once.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import redis

from helpline.kafka.port import KafkaError
from helpline.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")

# Redis error replies (their first word) that say "not now" rather than "never": a script running
# too long (BUSY), memory full under `noeviction` (OOM), the dataset loading after a restart
# (LOADING), a replica promoted or lost (READONLY, MASTERDOWN, NOREPLICAS), a cluster resharding.
TRANSIENT_REDIS_CODES = frozenset(
    {"BUSY", "OOM", "LOADING", "READONLY", "MASTERDOWN", "NOREPLICAS", "TRYAGAIN", "CLUSTERDOWN"}
)


_TRANSIENT_REDIS_REPLIES = (
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
)


class TransientError(Exception):
    """Raised by Helpline code for a failure that passes by itself (e.g. an optimistic write that
    lost every race): retried, never dead-lettered; the APIs answer 503 / UNAVAILABLE."""


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same call later can succeed; follows the chain of causes, so a
    transient error wrapped by a library or a use case still counts."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if _transient_itself(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _transient_itself(exc: BaseException) -> bool:
    if isinstance(exc, TransientError):
        return True
    # Connection refused or reset, a socket timeout, a full pool (ConnectionError too), a wrong
    # password (an operator fixes it; nothing in the record is at fault).
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return True
    if isinstance(exc, _TRANSIENT_REDIS_REPLIES):
        return True
    if isinstance(exc, redis.ResponseError):
        # redis-py keeps the reply's first word for the codes it knows, and Redis 7 keeps it for
        # errors raised inside a script too; the others (BUSY, NOREPLICAS) start the message.
        code = getattr(exc, "status_code", None) or str(exc).split(" ", 1)[0]
        return code in TRANSIENT_REDIS_CODES
    if isinstance(exc, KafkaError):
        # Whichever client: its backend (helpline.kafka) marked what a retry cannot mend.
        return not exc.permanent
    return isinstance(exc, ConnectionError | TimeoutError)


@dataclass(frozen=True)
class Backoff:
    """Capped exponential delays with jitter, so replicas that failed together do not retry in step."""

    initial_s: float = 0.1
    cap_s: float = 5.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        """The wait before retry number `attempt` (1-based)."""
        base = min(self.cap_s, self.initial_s * 2.0 ** min(max(attempt - 1, 0), 32))
        # Spreading retries needs no cryptographic randomness.
        return float(base * (1 + self.jitter * (2 * random.random() - 1)))  # noqa: S311


class OutageLog:
    """Logs an outage once when it starts, every `every` failures while it lasts, and once when it
    ends: a minute of Redis away is a handful of lines, not one per retry."""

    def __init__(self, what: str, every: int = 20) -> None:
        self.what = what
        self.every = every
        self.failures = 0

    def failed(self, exc: BaseException, **fields: object) -> None:
        self.failures += 1
        if self.failures == 1 or self.failures % self.every == 0:
            log.warning(
                f"{self.what}: dependency unavailable, retrying",
                attempts=self.failures,
                error=repr(exc),
                **fields,
            )

    def recovered(self, **fields: object) -> None:
        if self.failures:
            log.info(f"{self.what}: recovered", attempts=self.failures, **fields)
        self.failures = 0


class StoppedError(Exception):
    """A wait for a dependency was cut short because the process is stopping."""


def until_available(
    call: Callable[[], T],
    what: str,
    stop: threading.Event,
    backoff: Backoff | None = None,
) -> T:
    """`call()`'s result, retried through transient failures until it succeeds; raises StoppedError when
    `stop` is set meanwhile, and a permanent failure at once."""
    backoff = backoff or Backoff(initial_s=0.2, cap_s=5.0)
    outage = OutageLog(what, every=10)
    while True:
        try:
            result = call()
        except Exception as exc:
            if not is_transient(exc):
                raise
            outage.failed(exc)
            if stop.wait(backoff.delay(outage.failures)):
                raise StoppedError(what) from exc
            continue
        outage.recovered()
        return result
