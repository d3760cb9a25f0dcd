"""The counters and histograms of the metrics service, kept in Redis and counted there by the very
script that makes the mark each count is made once on.

Counting in this process's memory on a mark made in Redis leaves a window: a SIGKILL after the mark
and before the next scrape loses the count, and the mark then keeps it from ever being made again.
So a count is an increment of a field of this replica's hash in Redis, made in the Lua script that
makes its mark: Redis runs a script whole (and logs it to the AOF and its replicas as one), so a
mark is never made without its counts. The series are read from the hash when Prometheus scrapes.
A replica started again under its name (a pod whose container was restarted) carries on from its
counts, and Prometheus sees the counters go on rising rather than reset.

Each replica counts in a hash of its own (`metrics:counts:<replica>`), as each kept its own series
before: a partition's events are counted by the replica that owns it, and sums over replicas are
the whole. A replica's name must be its own among those running (two processes of one name would
both export the same counts); a pod's name is, and a container restarted in the pod keeps it. A
replica gone for good (scaled in, or replaced by a pod of another name after its last scrape)
leaves its hash, which expires after `Retention.counts` without a count or a scrape.

A field is the family's name and its label values, with SEP between them, and for a histogram one
more part: the index of its bucket (the first upper bound the value is within, the number of bounds
for +Inf), or "sum". Buckets are kept apart and made cumulative at scrape time, so an observation is
two increments.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

import redis
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from helpline.failures import OutageLog, is_transient
from helpline.logging import get_logger
from services.metrics.round_trip import Arg, Lua, RoundTrip

log = get_logger(__name__)

KEY_PREFIX = "metrics:counts:"
# Ids never hold control characters (the APIs refuse them), so this separates a field's parts.
SEP = "\x1f"
SUM = "sum"

# KEYS: the mark, the counts. ARGV: the mark's value, its life (ms), then pairs of a field and its
# increment. Returns 1 when this call made the mark, and so the counts; 0 when it was made before.
COUNT_ONCE = Lua("""
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
for i = 3, #ARGV, 2 do redis.call('HINCRBYFLOAT', KEYS[2], ARGV[i], ARGV[i + 1]) end
return 1
""")


@dataclass(frozen=True)
class Family:
    """A counter (no buckets) or a histogram (its buckets' upper bounds, +Inf left implicit).
    `name` is a counter's without `_total`, as Prometheus' client libraries name the family."""

    name: str
    documentation: str
    labelnames: tuple[str, ...]
    buckets: tuple[float, ...] = ()

    @property
    def is_histogram(self) -> bool:
        return bool(self.buckets)


Labels = tuple[str, ...]


class Counts(Collector):
    """This replica's counts in Redis: the fields the exporter increments, and the families read
    from them at scrape time."""

    def __init__(self, client: redis.Redis, replica: str, keep: timedelta) -> None:
        self.client = client
        self.key = f"{KEY_PREFIX}{replica}"
        self.keep_ms = max(1, int(keep / timedelta(milliseconds=1)))
        self._families: dict[str, Family] = {}
        # The fields of each family's label values, kept once made: an event makes several.
        self._fields: dict[tuple[str, Labels], str] = {}
        self._primed: dict[str, set[Labels]] = defaultdict(set)
        # What the last scrape read: served while Redis is away, when no count can move anyway.
        self._last: dict[str, float] = {}
        self._outage = OutageLog("scrape of the counts")

    def counter(self, name: str, documentation: str, labelnames: Sequence[str]) -> Family:
        return self._add_family(Family(name.removesuffix("_total"), documentation, tuple(labelnames)))

    def histogram(
        self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]
    ) -> Family:
        return self._add_family(Family(name, documentation, tuple(labelnames), tuple(buckets)))

    def _add_family(self, family: Family) -> Family:
        if family.name in self._families:
            raise ValueError(f"{family.name} is counted twice")
        self._families[family.name] = family
        return family

    # -- counting --

    def field(self, family: Family, labels: Labels) -> str:
        """The field of a counter's series, or the start of a histogram's fields."""
        key = (family.name, labels)
        found = self._fields.get(key)
        if found is None:
            if len(labels) != len(family.labelnames):
                raise ValueError(f"{family.name} takes {len(family.labelnames)} labels, not {len(labels)}")
            found = self._fields[key] = SEP.join((family.name, *labels))
        return found

    def start(self, family: Family, labels: Labels) -> str:
        """The start of the fields of a family's series with these first label values, for a script
        that works out the rest."""
        return SEP.join((family.name, *labels))

    def add(self, moves: list[Arg], family: Family, labels: Labels, amount: float = 1) -> None:
        """Queue a counter's increment on `moves`."""
        moves += (self.field(family, labels), amount)

    def observe(self, moves: list[Arg], family: Family, labels: Labels, value: float) -> None:
        """Queue a histogram's observation on `moves`: its bucket's count and the sum."""
        start = self.field(family, labels)
        bucket = bisect.bisect_left(family.buckets, value)
        moves += (f"{start}{SEP}{bucket}", 1, f"{start}{SEP}{SUM}", value)

    def once(self, trip: RoundTrip, mark: str, value: Arg, keep_ms: int, moves: Sequence[Arg]) -> None:
        """Make `moves` on the trip if it makes the mark, which lives `keep_ms`."""
        trip.script(COUNT_ONCE, [mark, self.key], [value, keep_ms, *moves])

    def keep(self, trip: RoundTrip) -> None:
        """Push the hash's end of life back: it outlives the replica by `keep`."""
        trip.call("PEXPIRE", self.key, self.keep_ms)

    def prime(self, family: Family, labels: Labels) -> None:
        """Export the series at zero until it counts."""
        self._primed[family.name].add(labels)

    # -- scraping --

    def describe(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        return iter(())

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        counted: dict[str, dict[Labels, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
        for field, value in self._read().items():
            name, *rest = field.split(SEP)
            family = self._families.get(name)
            parts = len(family.labelnames) + family.is_histogram if family is not None else -1
            if family is None or len(rest) != parts:
                log.warning("a count's field is not of a family known here", field=field)
                continue
            if family.is_histogram:
                counted[name][tuple(rest[:-1])][rest[-1]] = value
            else:
                counted[name][tuple(rest)][""] = value
        for name, family in self._families.items():
            series = counted.get(name, {})
            # A copy: a scrape beside this one may be priming more.
            for labels in tuple(self._primed.get(name, ())):
                series.setdefault(labels, {})
            yield _histogram(family, series) if family.is_histogram else _counter(family, series)

    def _read(self) -> dict[str, float]:
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(self.key)
                pipe.pexpire(self.key, self.keep_ms)
                raw, _ = pipe.execute()
        except Exception as exc:
            if not is_transient(exc):
                raise
            self._outage.failed(exc)
            return self._last
        self._outage.recovered()
        self._last = {_text(field): float(value) for field, value in raw.items()}
        return self._last


def _counter(family: Family, series: dict[Labels, dict[str, float]]) -> CounterMetricFamily:
    metric = CounterMetricFamily(family.name, family.documentation, labels=family.labelnames)
    for labels, values in series.items():
        metric.add_metric(labels, values.get("", 0.0))
    return metric


def _histogram(family: Family, series: dict[Labels, dict[str, float]]) -> HistogramMetricFamily:
    metric = HistogramMetricFamily(family.name, family.documentation, labels=family.labelnames)
    # The `le` values prometheus_client's own histograms give (5 is "5.0"); its helper is untyped.
    bounds = [*(floatToGoString(bound) for bound in family.buckets), "+Inf"]  # type: ignore[no-untyped-call]
    for labels, values in series.items():
        running, buckets = 0.0, []
        for index, bound in enumerate(bounds):
            running += values.get(str(index), 0.0)
            buckets.append((bound, running))
        metric.add_metric(labels, buckets, values.get(SUM, 0.0))
    return metric


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw
