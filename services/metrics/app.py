"""The metrics service's wiring: contact-centre KPIs derived from every event topic and exported to
Prometheus on /metrics, beside the health and readiness every service serves.

One consumer group reads the event topics (not their DLQs, not the ingress topic: the router
republishes what it accepts from there); the state the exporter shares between replicas lives in
this service's Redis (`services.metrics.state`).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from helpline.events import event_handler
from helpline.service import ServiceRuntime
from helpline.settings import Settings
from helpline.topics import CATALOG
from services.metrics.exporter import MetricsEvents
from services.metrics.series import Series
from services.metrics.state import MetricsState

GROUP = "metrics"
TOPICS = tuple(spec.name for spec in CATALOG if not spec.ingress)


class MetricsSettings(Settings):
    short_abandon_seconds: float = Field(
        0,
        ge=0,
        description="Abandons quicker than this are also counted as short abandons, which service level "
        "may leave out of its denominator; 0 counts none.",
    )


def build(settings: MetricsSettings) -> ServiceRuntime:
    runtime = ServiceRuntime(settings)
    state = MetricsState(runtime.redis)
    series = Series(
        runtime.registry, agents_by_status=state.agent_counts, tickets_by_status=state.ticket_counts
    )
    events = MetricsEvents(series, state, short_abandon=timedelta(seconds=settings.short_abandon_seconds))
    runtime.add_consumer(GROUP, TOPICS, event_handler(events.handle))
    return runtime


def main() -> int:
    return build(MetricsSettings(service_name="metrics")).run()
