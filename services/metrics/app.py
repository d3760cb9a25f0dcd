"""The metrics service's wiring: contact-centre KPIs derived from every event topic and exported to
Prometheus on /metrics, beside the health and readiness every service serves.

One consumer group reads the event topics (not their DLQs, not the ingress topic: the router
republishes what it accepts from there; not the audit trail); the state the exporter shares between
replicas lives in this service's Redis (`services.metrics.state`).
"""

from __future__ import annotations

import gc
import socket
from datetime import timedelta

import redis
from prometheus_client import CollectorRegistry
from pydantic import Field, model_validator

from helpline.audit import AUDIT_TOPIC
from helpline.clock import Clock, SystemClock
from helpline.events import batch_handler, event_handler
from helpline.service import ServiceRuntime
from helpline.settings import Settings
from helpline.topics import CATALOG, WEBHOOKS_TOPIC
from services.metrics.counts import Counts
from services.metrics.domain.kpis import FCR_REOPEN_WINDOW
from services.metrics.exporter import MetricsEvents
from services.metrics.series import ScrapedSamples, Series
from services.metrics.staffing import QueueStaffing
from services.metrics.state import MetricsState, Retention
from services.metrics.workload import QueueWorkload

GROUP = "metrics"
# The audit trail and the webhooks' facts hold no contact-centre fact: no KPI counts configuration
# changes or deliveries to other systems (the notify service exports its own series).
TOPICS = tuple(
    spec.name for spec in CATALOG if not spec.ingress and spec.name not in {AUDIT_TOPIC, WEBHOOKS_TOPIC}
)
RETENTION = Retention()


class MetricsSettings(Settings):
    replica_name: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="This replica's name: its counts are kept in Redis under it, so a replica started "
        "again under the same name carries on from them (a pod's container restarted keeps the "
        "pod's name). Unique among the replicas running: two of one name would export the same "
        "counts twice. The host name by default, which in Kubernetes is the pod's name.",
    )
    short_abandon_seconds: float = Field(
        0,
        ge=0,
        description="Abandons quicker than this are also counted as short abandons, which service level "
        "may leave out of its denominator; 0 counts none.",
    )
    staffing_window_seconds: int = Field(
        1800,
        ge=60,
        le=86400,
        description="The recent window whose arrivals and handle times the Erlang C staffing gauges "
        "are worked out from, in whole minutes.",
    )
    snapshot_stale_seconds: float = Field(
        60,
        gt=0,
        description="A queue's snapshot gauges leave this replica when no snapshot refreshed them for "
        "this long (a rebalance moved the queue, or it was removed); several snapshot intervals.",
    )
    staffing_max_occupancy: float = Field(
        1.0,
        gt=0,
        le=1,
        description="The highest occupancy the required agents may plan for, beside the service-level "
        "target; 1 plans by service level alone.",
    )
    answer_marker_retention_seconds: float = Field(
        RETENTION.answered.total_seconds(),
        gt=0,
        description="Seconds a contact's first-answer marker is kept from that answer, so a connection "
        "after a transfer or a redelivered answer is not counted again; longer than a contact's "
        "events can come after its first answer.",
    )
    closed_ticket_marker_retention_seconds: float = Field(
        RETENTION.closed_ticket.total_seconds(),
        gt=0,
        description="Seconds a closed ticket's record (version, status, creation) is kept from the "
        "close, so its redelivered older events are ignored; as long as the tickets topic keeps them.",
    )
    fcr_reopen_window_seconds: float = Field(
        FCR_REOPEN_WINDOW.total_seconds(),
        gt=0,
        description="Seconds after its solve within which a reopen takes a ticket solved on its first "
        "contact out of FCR (7 days, the KPI's definition); shorter only where time runs compressed, "
        "as in the soak benchmark, so a simulated week keeps the window of a real one.",
    )
    fcr_marker_retention_seconds: float = Field(
        RETENTION.first_contact_solve.total_seconds(),
        gt=0,
        description="Seconds a ticket solved on its first contact is remembered from the solve, so a "
        "reopen within the FCR window still counts against it; the window and some slack for "
        "reopens delivered late, never under the window.",
    )
    removed_agent_marker_retention_seconds: float = Field(
        RETENTION.removed_agent.total_seconds(),
        gt=0,
        description="Seconds a removed agent's record (status and state with their instants) is kept "
        "from the removal, so the agent's redelivered older changes are ignored; as long as the "
        "agents topic keeps them.",
    )

    delivery_marker_retention_seconds: float = Field(
        RETENTION.delivered.total_seconds(),
        gt=0,
        description="Seconds a counted event's delivery is remembered from the first, so an event "
        "delivered again is counted once; longer than the outages of Redis or Kafka the counts are to "
        "come through exact, since an event comes again up to an outage's length later.",
    )
    replica_counts_retention_seconds: float = Field(
        RETENTION.counts.total_seconds(),
        gt=0,
        description="Seconds a replica's counts are kept in Redis from its last count or scrape: "
        "longer than a replica takes to start again under its name, after which it carries on "
        "from them.",
    )

    @model_validator(mode="after")
    def _fcr_marker_outlives_the_window(self) -> MetricsSettings:
        # A marker gone before the window closes would let a reopen within it count as none.
        if self.fcr_marker_retention_seconds < self.fcr_reopen_window_seconds:
            raise ValueError(
                f"fcr_marker_retention_seconds ({self.fcr_marker_retention_seconds:g}) is under "
                f"fcr_reopen_window_seconds ({self.fcr_reopen_window_seconds:g})"
            )
        return self

    def retention(self) -> Retention:
        return Retention(
            answered=timedelta(seconds=self.answer_marker_retention_seconds),
            closed_ticket=timedelta(seconds=self.closed_ticket_marker_retention_seconds),
            first_contact_solve=timedelta(seconds=self.fcr_marker_retention_seconds),
            removed_agent=timedelta(seconds=self.removed_agent_marker_retention_seconds),
            delivered=timedelta(seconds=self.delivery_marker_retention_seconds),
            counts=timedelta(seconds=self.replica_counts_retention_seconds),
        )


def exporter(
    settings: MetricsSettings, client: redis.Redis, registry: CollectorRegistry, clock: Clock
) -> MetricsEvents:
    """The event handler and the series it moves, on `registry`, sharing its state in `client`."""
    retention = settings.retention()
    counts = Counts(client, settings.replica_name, retention.counts)
    state = MetricsState(client, counts, retention)
    workload = QueueWorkload(client, clock, timedelta(seconds=settings.staffing_window_seconds))
    staffing = QueueStaffing(workload, state, settings.staffing_max_occupancy)
    series = Series(
        registry,
        counts,
        ScrapedSamples(
            agents_by_status=state.agent_counts,
            tickets_by_status=state.ticket_counts,
            offered_load=staffing.offered_load,
            required_agents=staffing.required_agents,
            queue_channels=state.queue_channels,
        ),
        snapshot_stale_after=timedelta(seconds=settings.snapshot_stale_seconds),
    )
    return MetricsEvents(
        series,
        state,
        workload,
        short_abandon=timedelta(seconds=settings.short_abandon_seconds),
        fcr_window=timedelta(seconds=settings.fcr_reopen_window_seconds),
    )


def build(settings: MetricsSettings) -> ServiceRuntime:
    runtime = ServiceRuntime(settings)
    events = exporter(settings, runtime.redis, runtime.registry, SystemClock())
    # Each poll's events share one Redis round trip. Not replayed when the replica barrier refuses
    # a commit: the series count in this process's memory, and an event handled again after a
    # failover took its delivery mark would be counted twice.
    runtime.add_consumer(
        GROUP,
        TOPICS,
        event_handler(events.handle, runtime.tenant_proof),
        batch_handler=batch_handler(events.handle_batch, runtime.tenant_proof),
        replay_unkept=False,
    )
    return runtime


def main() -> int:
    runtime = build(MetricsSettings(service_name="metrics"))
    # What start-up built (modules, descriptors, series) lives as long as the process: frozen out of
    # the full collections that handling thousands of events a second sets off, which would scan it.
    gc.freeze()
    return runtime.run()
