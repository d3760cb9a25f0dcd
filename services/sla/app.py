"""The sla service's wiring: queue answer targets and ticket metrics on this service's Redis, the
REST API under /v1/sla, the consumer of queue, contact and ticket events, the durable timer worker,
gRPC (SlaService, health and reflection) and the outbox relay to `helpline.sla`."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from helpline.clock import SystemClock
from helpline.events import event_handler
from helpline.rest import BodyLimitMiddleware, install_problem_handlers
from helpline.service import ServiceRuntime
from helpline.settings import Settings
from services.sla.api import rest
from services.sla.api.grpc import SERVICE_NAME, registration
from services.sla.config import Quotas, SlaConfig
from services.sla.consumers import GROUP, TOPICS, SlaEvents
from services.sla.store import OUTBOX_STREAM, SlaStore, Subject
from services.sla.ticket_slas import CLOSED_RETENTION, TicketSlas
from services.sla.timers import TimerMetrics, TimerWorker
from services.sla.watches import WATCH_RETENTION, QueueWatches

QUOTAS = Quotas()


class SlaSettings(Settings):
    tenant_max_policies: int = Field(QUOTAS.policies, ge=1, description="SLA policies one tenant may keep.")
    tenant_max_calendars: int = Field(
        QUOTAS.calendars, ge=1, description="Business-hours calendars one tenant may keep."
    )
    timer_poll_seconds: float = Field(
        0.1, gt=0, description="Seconds between the timer worker's polls when nothing was due."
    )
    timer_lease_seconds: float = Field(
        30,
        gt=0,
        description="Seconds a claimed timer is held by one replica; one that dies holding it, or "
        "whose handler failed, fires it this much later.",
    )
    closed_ticket_sla_retention_seconds: float = Field(
        CLOSED_RETENTION.total_seconds(),
        gt=0,
        description="Seconds a closed ticket's SLA record is kept (and readable through the API) before "
        "it expires; longer than the sla consumer group can be rewound, since a redelivered creation "
        "of a ticket whose record is gone would track it again.",
    )
    queue_watch_retention_seconds: float = Field(
        WATCH_RETENTION.total_seconds(),
        gt=0,
        description="Seconds a contact's queue watch is kept after the contact left the queue (or, "
        "when no event says so, after its answer target ran out) before it expires; longer than "
        "the contact's events can be delivered again.",
    )


def build(settings: SlaSettings) -> ServiceRuntime:
    runtime = ServiceRuntime(settings)
    clock = SystemClock()
    store = SlaStore(runtime.redis)
    watches = QueueWatches(store, timedelta(seconds=settings.queue_watch_retention_seconds))
    tickets = TicketSlas(
        store,
        SlaConfig(store, Quotas(settings.tenant_max_policies, settings.tenant_max_calendars), clock),
        timedelta(seconds=settings.closed_ticket_sla_retention_seconds),
    )
    api_keys = runtime.api_keys
    install_problem_handlers(runtime.app)
    runtime.app.add_middleware(BodyLimitMiddleware)
    rest.provide(runtime.app, tickets, api_keys, clock)
    runtime.app.include_router(rest.api)
    runtime.add_outbox_relay(OUTBOX_STREAM)
    runtime.add_consumer(GROUP, TOPICS, event_handler(SlaEvents(watches, tickets).handle))
    timers = TimerWorker(
        store,
        clock,
        {Subject.CONTACT: watches.fire, Subject.TICKET: tickets.fire},
        poll_seconds=settings.timer_poll_seconds,
        lease_seconds=settings.timer_lease_seconds,
        metrics=TimerMetrics(runtime.registry),
    )
    runtime.add_worker("timers", timers.run, timers.stop)
    runtime.add_grpc([SERVICE_NAME], registration(lambda: tickets, clock))
    return runtime


def main() -> int:
    return build(SlaSettings(service_name="sla")).run()
