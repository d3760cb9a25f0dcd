"""Every series the metrics service exports: the contract between the exporter, the recording and
alert rules in deploy/prometheus/ and the dashboards in deploy/grafana/.

Prometheus naming: base units (`_seconds`), `_total` on counters, and only bounded labels: tenant,
queue, channel, department, priority, status, state, metric, tier and the like. Contact, ticket and
agent ids are never labels. Counters count each event once, however often it is delivered (the
exporter's marks in Redis), and start again from zero with the process, which `rate()` absorbs;
gauges are set from the latest snapshot or state a replica owns, so replicas of one consumer group
sum to the whole. The exceptions are `helpline_agents`, `helpline_tickets` and the Erlang C staffing
gauges: figures from the Redis every replica shares, read at scrape time, so each replica exports
the same whole figure and rules aggregate them with `max without(instance)`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import permutations, product
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from helpline.failures import OutageLog, is_transient
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
        # While Redis is away the gauge has no samples in this scrape: the counters, kept in this
        # process, are still served, rather than the whole scrape failing (and the target
        # reading down) for the gauges it cannot read.
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
    """Creates, at scrape time, the zero series of every queue and tenant known to the shared state
    that this replica has not yet created, and exports nothing itself.

    `increase()` cannot see the first increment of a series that appears at 1: it has no sample
    before it. A series exported at 0 first counts from there, which a new queue's first contacts
    need to show, and which makes a ratio of increases exact: its terms share their samples.
    Registered before the series, so the zeros are in the very scrape that creates them. Ticket
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
        scraped: ScrapedSamples,
        snapshot_stale_after: timedelta = timedelta(minutes=1),
    ) -> None:
        r = registry
        registry.register(_Primer(self, scraped.queue_channels))
        # -- contacts (helpline.contacts) --
        self.contacts_received = Counter(
            "helpline_contacts_received_total",
            "Contacts that arrived.",
            ["tenant", "channel", "department"],
            registry=r,
        )
        self.contacts_self_served = Counter(
            "helpline_contacts_self_served_total",
            "Contacts resolved by IVR, bot or web self-service.",
            ["tenant", "channel"],
            registry=r,
        )
        self.contacts_queued = Counter(
            "helpline_contacts_queued_total",
            "Contacts entering a queue (first entries only; callbacks excluded).",
            CONTACT,
            registry=r,
        )
        self.contacts_answered = Counter(
            "helpline_contacts_answered_total", "Queued contacts connected to an agent.", CONTACT, registry=r
        )
        self.contacts_answered_in_threshold = Counter(
            "helpline_contacts_answered_in_threshold_total",
            "Answered contacts whose queue time was within their queue's service-level threshold.",
            CONTACT,
            registry=r,
        )
        self.contacts_abandoned = Counter(
            "helpline_contacts_abandoned_total",
            "Contacts that left the queue unanswered.",
            CONTACT,
            registry=r,
        )
        self.contacts_abandoned_short = Counter(
            "helpline_contacts_abandoned_short_total",
            "Abandons quicker than the short-abandon threshold (left out of service level when it is set).",
            CONTACT,
            registry=r,
        )
        self.contacts_transferred = Counter(
            "helpline_contacts_transferred_total",
            "Contacts transferred to a queue or an agent.",
            CONTACT,
            registry=r,
        )
        self.contacts_handed_off = Counter(
            "helpline_contacts_handed_off_total",
            "Contacts handed off between customer service and support.",
            ["tenant", "from_department", "to_department"],
            registry=r,
        )
        self.contacts_timed_out = Counter(
            "helpline_contacts_timed_out_total",
            "Contacts that reached their queue's maximum wait.",
            CONTACT,
            registry=r,
        )
        self.callbacks_scheduled = Counter(
            "helpline_callbacks_scheduled_total",
            "Callers who chose a callback.",
            ["tenant", "queue"],
            registry=r,
        )
        self.contacts_completed = Counter(
            "helpline_contacts_completed_total",
            "Contacts handled to the end of wrap-up.",
            CONTACT,
            registry=r,
        )
        self.queue_wait = Histogram(
            "helpline_contact_queue_wait_seconds",
            "Queue time of answered contacts.",
            CONTACT,
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.talk = Histogram(
            "helpline_contact_talk_seconds",
            "Talk time of completed contacts.",
            CONTACT,
            buckets=HANDLE_BUCKETS,
            registry=r,
        )
        self.hold = Histogram(
            "helpline_contact_hold_seconds",
            "Hold time of completed contacts.",
            CONTACT,
            buckets=HANDLE_BUCKETS,
            registry=r,
        )
        self.wrap_up = Histogram(
            "helpline_contact_wrap_up_seconds",
            "After-contact work of completed contacts.",
            CONTACT,
            buckets=HANDLE_BUCKETS,
            registry=r,
        )
        self.handle = Histogram(
            "helpline_contact_handle_seconds",
            "Handle time (talk + hold + wrap-up) of completed contacts.",
            CONTACT,
            buckets=HANDLE_BUCKETS,
            registry=r,
        )
        # -- agents (helpline.agents) --
        self.agents_by_status = ScrapedGauge(
            "helpline_agents",
            "Agents by status (offline, available, away), of every replica (aggregate with max).",
            ["tenant", "status"],
            scraped.agents_by_status,
            r,
        )
        self.agent_state_seconds = Counter(
            "helpline_agent_state_seconds_total",
            "Seconds agents spent in each state (idle, offered, busy, after_contact_work, missed), by "
            "their status meanwhile; counted when the state or status changes.",
            ["tenant", "status", "state"],
            registry=r,
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
        self.tickets_created = Counter(
            "helpline_tickets_created_total",
            "Tickets created.",
            ["tenant", "channel", "department", "priority"],
            registry=r,
        )
        self.tickets_solved = Counter(
            "helpline_tickets_solved_total",
            "Tickets solved.",
            ["tenant", "channel", "department"],
            registry=r,
        )
        self.tickets_solved_first_contact = Counter(
            "helpline_tickets_solved_first_contact_total",
            "Tickets solved with one contact and no reopen before.",
            ["tenant", "channel", "department"],
            registry=r,
        )
        self.tickets_reopened = Counter(
            "helpline_tickets_reopened_total", "Tickets reopened after being solved.", ["tenant"], registry=r
        )
        self.tickets_reopened_in_fcr_window = Counter(
            "helpline_tickets_reopened_in_fcr_window_total",
            "Tickets solved with one contact and reopened within the FCR window (7 days).",
            ["tenant"],
            registry=r,
        )
        self.tickets_by_status = ScrapedGauge(
            "helpline_tickets",
            "Open backlog: tickets by status (closed ones left out), of every replica (aggregate with max).",
            ["tenant", "status"],
            scraped.tickets_by_status,
            r,
        )
        self.ticket_first_reply = Histogram(
            "helpline_ticket_first_reply_seconds",
            "Time from creation to the first public agent reply.",
            ["tenant", "channel", "department"],
            buckets=TICKET_BUCKETS,
            registry=r,
        )
        self.ticket_resolution = Histogram(
            "helpline_ticket_resolution_seconds",
            "Time from creation to solved.",
            ["tenant", "channel", "department"],
            buckets=TICKET_BUCKETS,
            registry=r,
        )
        self.tickets_escalated = Counter(
            "helpline_tickets_escalated_total",
            "Escalations between tiers.",
            ["tenant", "from_tier", "to_tier"],
            registry=r,
        )
        self.tickets_handed_off = Counter(
            "helpline_tickets_handed_off_total",
            "Hand-offs between customer service and support.",
            ["tenant", "from_department", "to_department"],
            registry=r,
        )
        # -- SLA (helpline.sla) --
        self.sla_applied = Counter(
            "helpline_sla_applied_total", "SLA targets applied.", ["tenant", "metric"], registry=r
        )
        self.sla_warned = Counter(
            "helpline_sla_warned_total", "SLA warnings.", ["tenant", "metric"], registry=r
        )
        self.sla_breached = Counter(
            "helpline_sla_breached_total", "SLA breaches.", ["tenant", "metric"], registry=r
        )
        self.sla_fulfilled = Counter(
            "helpline_sla_fulfilled_total",
            'SLA targets met; late="true" when met after the deadline (compliance counts those as breached).',
            ["tenant", "metric", "late"],
            registry=r,
        )
        self.sla_queue_warned = Counter(
            "helpline_sla_queue_warned_total",
            "Queued contacts past the warning share of their answer target.",
            ["tenant", "queue", "channel"],
            registry=r,
        )
        self.sla_queue_breached = Counter(
            "helpline_sla_queue_breached_total",
            "Queued contacts past their answer target.",
            ["tenant", "queue", "channel"],
            registry=r,
        )
        # -- surveys (helpline.feedback) --
        self.csat_responses = Counter(
            "helpline_csat_responses_total",
            'CSAT answers; satisfied="true" for 4-5 of 5.',
            ["tenant", "satisfied"],
            registry=r,
        )
        self.nps_responses = Counter(
            "helpline_nps_responses_total",
            "NPS answers by category (promoter, passive, detractor).",
            ["tenant", "category"],
            registry=r,
        )
        self.ces_responses = Counter("helpline_ces_responses_total", "CES answers.", ["tenant"], registry=r)
        self.ces_score = Counter(
            "helpline_ces_score_total",
            "Sum of CES answers on a 1-7 scale (1-5 answers mapped onto it).",
            ["tenant"],
            registry=r,
        )

    def prime_queue(self, tenant_id: str, queue_id: str, channel: str) -> None:
        """Create the queue's contact series on `channel` at zero."""
        labels = (tenant_id, queue_id, channel)
        for series in (
            self.contacts_queued,
            self.contacts_answered,
            self.contacts_answered_in_threshold,
            self.contacts_abandoned,
            self.contacts_abandoned_short,
            self.contacts_timed_out,
            self.contacts_completed,
            self.queue_wait,
            self.talk,
            self.hold,
            self.wrap_up,
            self.handle,
            self.sla_queue_warned,
            self.sla_queue_breached,
        ):
            series.labels(*labels)
        self.contacts_transferred.labels(tenant_id, queue_id, "")
        self.callbacks_scheduled.labels(tenant_id, queue_id)

    def prime_tenant(self, tenant_id: str) -> None:
        """Create the tenant's series at zero, for every label value the enums give."""
        t = tenant_id
        for channel, department in product(CHANNELS, DEPARTMENTS):
            self.contacts_received.labels(t, channel, department)
            self.tickets_solved.labels(t, channel, department)
            self.tickets_solved_first_contact.labels(t, channel, department)
            for priority in PRIORITIES:
                self.tickets_created.labels(t, channel, department, priority)
        for channel in CHANNELS:
            self.contacts_self_served.labels(t, channel)
        for source, target in permutations(DEPARTMENTS, 2):
            self.contacts_handed_off.labels(t, source, target)
            self.tickets_handed_off.labels(t, source, target)
        for source, target in permutations(TIERS, 2):
            self.tickets_escalated.labels(t, source, target)
        for status, state in product(AGENT_STATUSES, AGENT_STATES):
            self.agent_state_seconds.labels(t, status, state)
        for metric in SLA_METRICS:
            for series in (self.sla_applied, self.sla_warned, self.sla_breached):
                series.labels(t, metric)
            for late in ("true", "false"):
                self.sla_fulfilled.labels(t, metric, late)
        for satisfied in ("true", "false"):
            self.csat_responses.labels(t, satisfied)
        for category in NPS_CATEGORIES:
            self.nps_responses.labels(t, category)
        for series in (
            self.tickets_reopened,
            self.tickets_reopened_in_fcr_window,
            self.ces_responses,
            self.ces_score,
        ):
            series.labels(t)
