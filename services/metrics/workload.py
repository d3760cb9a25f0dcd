"""The workload each queue saw over the recent window, for Erlang C staffing, in the Redis every
replica shares: contacts entering the queue and the handle time of those completed, in one-minute
buckets by the instant the event states.

A replica sees only its partitions' events, so the counts cannot live in its memory: each bucket is
one hash per minute (`metrics:workload:<minute>`, field `tenant<SEP>queue<SEP>channel<SEP>kind`),
incremented by every replica and expiring once the window has passed it. A batch of events is
summed first, per bucket and field, and each bucket gets its sums in one script call: one command
per minute a batch touches, not one per event. Reading the window costs one HGETALL per minute of
it, at scrape time. Counts are at least once, like the counters: a redelivered event counts again,
which a rate over a window of tens of minutes barely shows.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis

from helpline.clock import Clock
from services.metrics.round_trip import Arg, Lua, RoundTrip

PREFIX = "metrics:workload:"
SEP = "\x1f"
ARRIVALS, HANDLED, HANDLE_MS = "a", "n", "h"
BUCKET = timedelta(minutes=1)
_BUCKET_S = int(BUCKET.total_seconds())

QueueKey = tuple[str, str, str]

# KEYS: a bucket. ARGV: the instant it expires (epoch s), then pairs of a field and its increment.
_INCREMENT = Lua("""
for i = 2, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIREAT', KEYS[1], ARGV[1])
""")


@dataclass(frozen=True)
class Workload:
    """What one queue on one channel saw over `covered` (the window up to now)."""

    arrivals: int
    handled: int
    handle_seconds: float
    covered: timedelta

    @property
    def average_handle_time(self) -> timedelta | None:
        if self.handled == 0:
            return None
        return timedelta(seconds=self.handle_seconds / self.handled)


class QueueWorkload:
    def __init__(self, client: redis.Redis, clock: Clock, window: timedelta) -> None:
        if window < BUCKET:
            raise ValueError(f"a workload window of {window} is shorter than its one-minute buckets")
        self.client = client
        self.clock = clock
        self.window = window

    def tally(self) -> WorkloadTally:
        """An empty tally for a batch of events."""
        return WorkloadTally(self.clock, self.window)

    def read(self) -> dict[QueueKey, Workload]:
        """Every queue's workload over the window ending now: the whole minutes of the window before
        the current one, and the current one up to now."""
        now = self.clock.now().timestamp()
        first = _first_minute(now, self.window)
        covered = timedelta(seconds=now - first * _BUCKET_S)
        pipe = self.client.pipeline(transaction=False)
        for minute in range(first, int(now // _BUCKET_S) + 1):
            pipe.hgetall(_bucket(minute))
        totals: dict[QueueKey, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for bucket in pipe.execute():
            _add_bucket(totals, bucket)
        return {
            key: Workload(
                arrivals=sums[ARRIVALS],
                handled=sums[HANDLED],
                handle_seconds=sums[HANDLE_MS] / 1000,
                covered=covered,
            )
            for key, sums in totals.items()
        }


class WorkloadTally:
    """A batch's arrivals and handle times, summed per bucket and field until `send`."""

    def __init__(self, clock: Clock, window: timedelta) -> None:
        self._window = window
        # A batch is handled within moments: one "now" places all its events.
        self._now = clock.now().timestamp()
        self._first = _first_minute(self._now, window)
        self._sums: dict[int, Counter[str]] = defaultdict(Counter)

    def arrived(self, key: QueueKey, at: datetime | None) -> None:
        self._add(key, at, ((ARRIVALS, 1),))

    def handled(self, key: QueueKey, handle: timedelta, at: datetime | None) -> None:
        self._add(key, at, ((HANDLED, 1), (HANDLE_MS, round(handle.total_seconds() * 1000))))

    def send(self, trip: RoundTrip) -> None:
        for minute, sums in self._sums.items():
            # A bucket is read until the window has passed its end; it lives a minute longer,
            # counted from now for events stamped ahead of this clock.
            ends = max((minute + 1) * _BUCKET_S, math.ceil(self._now))
            args: list[Arg] = [ends + int(self._window.total_seconds()) + _BUCKET_S]
            for field, amount in sums.items():
                args += [field, amount]
            trip.script(_INCREMENT, [_bucket(minute)], args)

    def _add(self, key: QueueKey, at: datetime | None, amounts: tuple[tuple[str, int], ...]) -> None:
        minute = int((self._now if at is None else at.timestamp()) // _BUCKET_S)
        if minute < self._first:
            return
        sums = self._sums[minute]
        for kind, amount in amounts:
            sums[SEP.join((*key, kind))] += amount


def _first_minute(now: float, window: timedelta) -> int:
    return int(now // _BUCKET_S) - math.ceil(window / BUCKET)


def _bucket(minute: int) -> str:
    return f"{PREFIX}{minute}"


def _add_bucket(totals: dict[QueueKey, dict[str, int]], bucket: Mapping[bytes, bytes]) -> None:
    for field, value in bucket.items():
        tenant_id, queue_id, channel, kind = field.decode().split(SEP)
        totals[(tenant_id, queue_id, channel)][kind] += int(value)
