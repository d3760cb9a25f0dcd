"""Every series the metrics service exports: the contract between the exporter, the recording and alert
rules in deploy/prometheus/ and the dashboards in deploy/grafana/.

Prometheus naming: base units (`_seconds`), `_total` on counters, and only bounded labels: tenant,
queue, channel, department, priority, status, state, metric, tier and the like. Contact, ticket and
agent ids are never labels. Counters and histograms count each event once, however often it is
delivered (the exporter's marks in Redis), and are kept in Redis with the marks, so a replica
started again carries on from its counts (services.metrics.counts); gauges are set from the latest
snapshot or state a replica owns. Either way, replicas of one consumer group sum to the whole. The
exceptions are `helpline_agents`, `helpline_tickets` and the Erlang C staffing gauges: figures from
the Redis every replica shares, read at scrape time, so each replica exports the same whole figure
and rules aggregate them with `max without(instance)`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import permutations, product
from typing import TypeVar

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from helpline.failures import OutageLog, is_transient
from services.metrics.counts import Counts
from services.metrics.labels import (
    AGENT_STATES,
    AGENT_STATUSES,
    CHANNELS,
    DEPARTMENTS,
    NPS_CATEGORIES,
    PRIORITIES,
    SLA_METRICS,
    TIERS,
)

# Queue waits and answer times: fine below a minute, where service-level thresholds sit.
WAIT_BUCKETS = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1800, 3600)
# Talk, hold, wrap-up and handle times: seconds to an hour.
HANDLE_BUCKETS = (15, 30, 60, 120, 180, 300, 450, 600, 900, 1200, 1800, 3600)
# First reply and resolution of tickets: minutes to weeks.
TICKET_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800, 2592000)

CONTACT = ("tenant", "queue", "channel")

# Reads (label values, value) pairs at scrape time.
Samples = Callable[[], Iterable[tuple[Sequence[str], float]]]


class ScrapedGauge(Collector):
    """A labelled gauge whose samples are read when Prometheus scrapes, from state every replica shares."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        read: Samples,
        registry: CollectorRegistry,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = list(labelnames)
        self._read = read
        self._outage = OutageLog(f"scrape of {name}")
        registry.register(self)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)
        # While Redis is away the gauge has no samples in this scrape: the counters, as last read,
        # are still served, rather than the whole scrape failing (and the target reading down)
        # for the gauges it cannot read.
        for labels, value in _while_available(self._read, self._outage):
            family.add_metric(list(labels), value)
        yield family


T = TypeVar("T")


def _while_available(read: Callable[[], Iterable[T]], outage: OutageLog) -> list[T]:
    """What `read` returns, or nothing while the shared state cannot be read."""
    try:
        found = list(read())
    except Exception as exc:
        if not is_transient(exc):
            raise
        outage.failed(exc)
        return []
    outage.recovered()
    return found


@dataclass(frozen=True)
class ScrapedSamples:
    """The readers of the gauges that come from the state every replica shares."""

    agents_by_status: Samples
    tickets_by_status: Samples
    offered_load: Samples
    required_agents: Samples
    # Every (tenant, queue, channel) the queues' configurations and snapshots named.
    queue_channels: Callable[[], Iterable[tuple[str, str, str]]]


class _Primer(Collector):
    """Primes, at scrape time, the zero series of every queue and tenant known to the shared state
    that this replica has not yet primed, and exports nothing itself.

    `increase()` cannot see the first increment of a series that appears at 1: it has no sample
    before it. A series exported at 0 first counts from there, which a new queue's first contacts
    need to show, and which makes a ratio of increases exact: its terms share their samples.
    Registered before the counts, so the zeros are in the very scrape that primes them. Ticket
    time histograms are left out: 20 channel and department pairs of 15 series each per tenant
    would cost more than the one first observation of each they would save.
    """

    def __init__(self, series: Series, queue_channels: Callable[[], Iterable[tuple[str, str, str]]]) -> None:
        self._series = series
        self._queue_channels = queue_channels
        self._primed: set[tuple[str, str, str]] = set()
        self._tenants: set[str] = set()
        self._outage = OutageLog("scrape of the queues known")

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for key in _while_available(self._queue_channels, self._outage):
            if key in self._primed:
                continue
            tenant_id, queue_id, channel = key
            if tenant_id not in self._tenants:
                self._series.prime_tenant(tenant_id)
                self._tenants.add(tenant_id)
            self._series.prime_queue(tenant_id, queue_id, channel)
            self._primed.add(key)
        return iter(())


@dataclass(frozen=True)
class QueueFigures:
    """What one router snapshot tells of a queue on a channel."""

    depth: int
    oldest_contact_age: float
    estimated_wait: float
    # Agents not offline, by state; they add up to those staffed.
    agents_by_state: Mapping[str, int]


class QueueSnapshots(Collector):
    """The gauges of the router's queue snapshots, each from the latest snapshot this replica
    handled, until no snapshot has refreshed it for `stale_after`.

    A queue's snapshots go to one partition, so one replica at a time exports its figures and the
    replicas' sums are right. After a rebalance moves the partition, the replica that lost it
    would go on exporting its last figures and sums would count the queue twice: dropping a
    figure that went stale ends that within `stale_after` (several snapshot intervals), as it ends
    the figures of a queue that was removed.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        stale_after: timedelta,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stale_after = stale_after.total_seconds()
        self._clock = clock
        self._latest: dict[tuple[str, str, str], tuple[float, QueueFigures]] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def update(self, labels: tuple[str, str, str], figures: QueueFigures) -> None:
        with self._lock:
            self._latest[labels] = (self._clock(), figures)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        oldest_kept = self._clock() - self._stale_after
        with self._lock:
            self._latest = {k: seen for k, seen in self._latest.items() if seen[0] >= oldest_kept}
            latest = {k: figures for k, (_, figures) in self._latest.items()}
        depth, oldest, wait, agents, staffed = self._families()
        for labels, f in latest.items():
            depth.add_metric(labels, f.depth)
            oldest.add_metric(labels, f.oldest_contact_age)
            wait.add_metric(labels, f.estimated_wait)
            for state, count in f.agents_by_state.items():
                agents.add_metric([*labels, state], count)
            staffed.add_metric(labels, sum(f.agents_by_state.values()))
        return iter((depth, oldest, wait, agents, staffed))

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "helpline_queue_depth", "Contacts waiting, from the latest snapshot.", labels=CONTACT
            ),
            GaugeMetricFamily(
                "helpline_queue_oldest_contact_age_seconds",
                "Age of the oldest waiting contact.",
                labels=CONTACT,
            ),
            GaugeMetricFamily(
                "helpline_queue_estimated_wait_seconds", "Estimated wait of a new contact.", labels=CONTACT
            ),
            GaugeMetricFamily(
                "helpline_queue_agents",
                "The queue's agents by state, from the latest snapshot.",
                labels=[*CONTACT, "state"],
            ),
            GaugeMetricFamily(
                "helpline_queue_staffed_agents",
                "Agents staffed on the queue (not offline), from the latest snapshot.",
                labels=CONTACT,
            ),
        )


class Series:
    def __init__(
        self,
        registry: CollectorRegistry,
        counts: Counts,
        scraped: ScrapedSamples,
        snapshot_stale_after: timedelta = timedelta(minutes=1),
    ) -> None:
        r, c = registry, counts
        self.counts = counts
        registry.register(_Primer(self, scraped.queue_channels))
        registry.register(counts)
        # -- contacts (helpline.contacts) --
        self.contacts_received = c.counter(
            "helpline_contacts_received_total",
            "Contacts that arrived.",
            ["tenant", "channel", "department"],
        )
        self.contacts_self_served = c.counter(
            "helpline_contacts_self_served_total",
            "Contacts resolved by IVR, bot or web self-service.",
            ["tenant", "channel"],
        )
        self.contacts_queued = c.counter(
            "helpline_contacts_queued_total",
            "Contacts entering a queue (first entries only; callbacks excluded).",
            CONTACT,
        )
        self.contacts_answered = c.counter(
            "helpline_contacts_answered_total", "Queued contacts connected to an agent.", CONTACT
        )
        self.contacts_answered_in_threshold = c.counter(
            "helpline_contacts_answered_in_threshold_total",
            "Answered contacts whose queue time was within their queue's service-level threshold.",
            CONTACT,
        )
        self.contacts_abandoned = c.counter(
            "helpline_contacts_abandoned_total",
            "Contacts that left the queue unanswered.",
            CONTACT,
        )
        self.contacts_abandoned_short = c.counter(
            "helpline_contacts_abandoned_short_total",
            "Abandons quicker than the short-abandon threshold (left out of service level when it is set).",
            CONTACT,
        )
        self.contacts_transferred = c.counter(
            "helpline_contacts_transferred_total",
            "Contacts transferred to a queue or an agent.",
            CONTACT,
        )
        self.contacts_handed_off = c.counter(
            "helpline_contacts_handed_off_total",
            "Contacts handed off between customer service and support.",
            ["tenant", "from_department", "to_department"],
        )
        self.contacts_timed_out = c.counter(
            "helpline_contacts_timed_out_total",
            "Contacts that reached their queue's maximum wait.",
            CONTACT,
        )
        self.contacts_after_hours = c.counter(
            "helpline_contacts_after_hours_total",
            "Contacts whose queue was closed when they came (never queued, so outside the service level) "
            "or while they waited (queued and unanswered, like a timed-out one).",
            CONTACT,
        )
        self.callbacks_scheduled = c.counter(
            "helpline_callbacks_scheduled_total",
            "Callers who chose a callback.",
            ["tenant", "queue"],
        )
        self.contacts_completed = c.counter(
            "helpline_contacts_completed_total",
            "Contacts handled to the end of wrap-up.",
            CONTACT,
        )
        self.queue_wait = c.histogram(
            "helpline_contact_queue_wait_seconds",
            "Queue time of answered contacts.",
            CONTACT,
            WAIT_BUCKETS,
        )
        self.talk = c.histogram(
            "helpline_contact_talk_seconds",
            "Talk time of completed contacts.",
            CONTACT,
            HANDLE_BUCKETS,
        )
        self.hold = c.histogram(
            "helpline_contact_hold_seconds",
            "Hold time of completed contacts.",
            CONTACT,
            HANDLE_BUCKETS,
        )
        self.wrap_up = c.histogram(
            "helpline_contact_wrap_up_seconds",
            "After-contact work of completed contacts.",
            CONTACT,
            HANDLE_BUCKETS,
        )
        self.handle = c.histogram(
            "helpline_contact_handle_seconds",
            "Handle time (talk + hold + wrap-up) of completed contacts.",
            CONTACT,
            HANDLE_BUCKETS,
        )
        # -- agents (helpline.agents) --
        self.agents_by_status = ScrapedGauge(
            "helpline_agents",
            "Agents by status (offline, available, away), of every replica (aggregate with max).",
            ["tenant", "status"],
            scraped.agents_by_status,
            r,
        )
        self.agent_state_seconds = c.counter(
            "helpline_agent_state_seconds_total",
            "Seconds agents spent in each state (idle, offered, busy, after_contact_work, missed), by "
            "their status meanwhile; counted when the state or status changes.",
            ["tenant", "status", "state"],
        )
        # -- queues (the router's snapshots on helpline.queues) --
        self.snapshots = QueueSnapshots(r, snapshot_stale_after)
        self.queue_threshold = Gauge(
            "helpline_queue_service_level_threshold_seconds",
            'The queue\'s answer target ("within X").',
            CONTACT,
            registry=r,
        )
        self.queue_target = Gauge(
            "helpline_queue_service_level_target_ratio",
            "The share of contacts the queue aims to answer within its threshold.",
            CONTACT,
            registry=r,
        )
        self.offered_load = ScrapedGauge(
            "helpline_queue_offered_load_erlangs",
            "Arrivals per second times AHT over the staffing window, of every replica (aggregate with max).",
            CONTACT,
            scraped.offered_load,
            r,
        )
        self.required_agents = ScrapedGauge(
            "helpline_queue_required_agents",
            "Erlang C: the fewest agents meeting the queue's service-level target under the offered "
            "load, of every replica (aggregate with max).",
            CONTACT,
            scraped.required_agents,
            r,
        )
        # -- tickets (helpline.tickets) --
        self.tickets_created = c.counter(
            "helpline_tickets_created_total",
            "Tickets created.",
            ["tenant", "channel", "department", "priority"],
        )
        self.tickets_solved = c.counter(
            "helpline_tickets_solved_total",
            "Tickets solved.",
            ["tenant", "channel", "department"],
        )
        self.tickets_solved_first_contact = c.counter(
            "helpline_tickets_solved_first_contact_total",
            "Tickets solved with one contact and no reopen before.",
            ["tenant", "channel", "department"],
        )
        self.tickets_reopened = c.counter(
            "helpline_tickets_reopened_total", "Tickets reopened after being solved.", ["tenant"]
        )
        self.tickets_reopened_in_fcr_window = c.counter(
            "helpline_tickets_reopened_in_fcr_window_total",
            "Tickets solved with one contact and reopened within the FCR window (7 days).",
            ["tenant"],
        )
        self.tickets_by_status = ScrapedGauge(
            "helpline_tickets",
            "Open backlog: tickets by status (closed ones left out), of every replica (aggregate with max).",
            ["tenant", "status"],
            scraped.tickets_by_status,
            r,
        )
        self.ticket_first_reply = c.histogram(
            "helpline_ticket_first_reply_seconds",
            "Time from creation to the first public agent reply.",
            ["tenant", "channel", "department"],
            TICKET_BUCKETS,
        )
        self.ticket_resolution = c.histogram(
            "helpline_ticket_resolution_seconds",
            "Time from creation to solved.",
            ["tenant", "channel", "department"],
            TICKET_BUCKETS,
        )
        self.tickets_escalated = c.counter(
            "helpline_tickets_escalated_total",
            "Escalations between tiers.",
            ["tenant", "from_tier", "to_tier"],
        )
        self.tickets_handed_off = c.counter(
            "helpline_tickets_handed_off_total",
            "Hand-offs between customer service and support.",
            ["tenant", "from_department", "to_department"],
        )
        # -- SLA (helpline.sla) --
        self.sla_applied = c.counter(
            "helpline_sla_applied_total", "SLA targets applied.", ["tenant", "metric"]
        )
        self.sla_warned = c.counter("helpline_sla_warned_total", "SLA warnings.", ["tenant", "metric"])
        self.sla_breached = c.counter("helpline_sla_breached_total", "SLA breaches.", ["tenant", "metric"])
        self.sla_fulfilled = c.counter(
            "helpline_sla_fulfilled_total",
            'SLA targets met; late="true" when met after the deadline (compliance counts those as breached).',
            ["tenant", "metric", "late"],
        )
        self.sla_queue_warned = c.counter(
            "helpline_sla_queue_warned_total",
            "Queued contacts past the warning share of their answer target.",
            ["tenant", "queue", "channel"],
        )
        self.sla_queue_breached = c.counter(
            "helpline_sla_queue_breached_total",
            "Queued contacts past their answer target.",
            ["tenant", "queue", "channel"],
        )
        # -- surveys (helpline.feedback) --
        self.csat_responses = c.counter(
            "helpline_csat_responses_total",
            'CSAT answers; satisfied="true" for 4-5 of 5.',
            ["tenant", "satisfied"],
        )
        self.nps_responses = c.counter(
            "helpline_nps_responses_total",
            "NPS answers by category (promoter, passive, detractor).",
            ["tenant", "category"],
        )
        self.ces_responses = c.counter("helpline_ces_responses_total", "CES answers.", ["tenant"])
        self.ces_score = c.counter(
            "helpline_ces_score_total",
            "Sum of CES answers on a 1-7 scale (1-5 answers mapped onto it).",
            ["tenant"],
        )

    def prime_queue(self, tenant_id: str, queue_id: str, channel: str) -> None:
        """Export the queue's contact series on `channel` from zero."""
        labels = (tenant_id, queue_id, channel)
        for series in (
            self.contacts_queued,
            self.contacts_answered,
            self.contacts_answered_in_threshold,
            self.contacts_abandoned,
            self.contacts_abandoned_short,
            self.contacts_timed_out,
            self.contacts_after_hours,
            self.contacts_completed,
            self.queue_wait,
            self.talk,
            self.hold,
            self.wrap_up,
            self.handle,
            self.sla_queue_warned,
            self.sla_queue_breached,
        ):
            self.counts.prime(series, labels)
        self.counts.prime(self.contacts_transferred, (tenant_id, queue_id, ""))
        self.counts.prime(self.callbacks_scheduled, (tenant_id, queue_id))

    def prime_tenant(self, tenant_id: str) -> None:
        """Export the tenant's series from zero, for every label value the enums give."""
        t = tenant_id
        for channel, department in product(CHANNELS, DEPARTMENTS):
            self.counts.prime(self.contacts_received, (t, channel, department))
            self.counts.prime(self.tickets_solved, (t, channel, department))
            self.counts.prime(self.tickets_solved_first_contact, (t, channel, department))
            for priority in PRIORITIES:
                self.counts.prime(self.tickets_created, (t, channel, department, priority))
        for channel in CHANNELS:
            self.counts.prime(self.contacts_self_served, (t, channel))
        for source, target in permutations(DEPARTMENTS, 2):
            self.counts.prime(self.contacts_handed_off, (t, source, target))
            self.counts.prime(self.tickets_handed_off, (t, source, target))
        for source, target in permutations(TIERS, 2):
            self.counts.prime(self.tickets_escalated, (t, source, target))
        for status, state in product(AGENT_STATUSES, AGENT_STATES):
            self.counts.prime(self.agent_state_seconds, (t, status, state))
        for metric in SLA_METRICS:
            for series in (self.sla_applied, self.sla_warned, self.sla_breached):
                self.counts.prime(series, (t, metric))
            for late in ("true", "false"):
                self.counts.prime(self.sla_fulfilled, (t, metric, late))
        for satisfied in ("true", "false"):
            self.counts.prime(self.csat_responses, (t, satisfied))
        for category in NPS_CATEGORIES:
            self.counts.prime(self.nps_responses, (t, category))
        for series in (
            self.tickets_reopened,
            self.tickets_reopened_in_fcr_window,
            self.ces_responses,
            self.ces_score,
        ):
            self.counts.prime(series, (t,))
