"""The tickets service's wiring: the store and use cases on this service's Redis, the REST API
under /v1 on the service's HTTP server, the outbox relay to `helpline.tickets`, the consumer of
contact, SLA and feedback events, the auto-close worker, and gRPC (TicketService, health and
reflection)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from helpline.clock import SystemClock
from helpline.events import event_handler
from helpline.rest import BodyLimitMiddleware, install_problem_handlers
from helpline.service import ServiceRuntime
from helpline.settings import Settings
from services.tickets.api import rest
from services.tickets.api.grpc import SERVICE_NAME, registration
from services.tickets.closer import AutoCloser
from services.tickets.consumers import GROUP, TOPICS, TicketEvents
from services.tickets.store import DEFAULT_MAX_COMMENTS, IDEMPOTENCY_TTL_S, OUTBOX_STREAM, TicketStore
from services.tickets.usecases import Tickets


class TicketsSettings(Settings):
    close_after_days: float = Field(
        4, gt=0, description="Days a solved ticket waits before it closes (HELPLINE_CLOSE_AFTER_DAYS)."
    )
    close_poll_seconds: float = Field(
        5, gt=0, description="Seconds between the auto-close worker's polls (HELPLINE_CLOSE_POLL_SECONDS)."
    )
    ticket_max_comments: int = Field(
        DEFAULT_MAX_COMMENTS,
        ge=1,
        description="The most comments one ticket holds; one more is refused (HELPLINE_TICKET_MAX_COMMENTS).",
    )
    idempotency_key_retention_seconds: int = Field(
        IDEMPOTENCY_TTL_S,
        ge=1,
        description="Seconds an idempotency key (an Idempotency-Key, a gRPC request_id, a contact's "
        "ticket) is remembered; longer than a client retries and than the consumer's events are "
        "delivered again (HELPLINE_IDEMPOTENCY_KEY_RETENTION_SECONDS).",
    )


def build(settings: TicketsSettings) -> ServiceRuntime:
    runtime = ServiceRuntime(settings)
    close_after = timedelta(days=settings.close_after_days)
    store = TicketStore(
        runtime.redis,
        int(close_after.total_seconds() * 1000),
        max_comments=settings.ticket_max_comments,
        idempotency_ttl_s=settings.idempotency_key_retention_seconds,
    )
    tickets = Tickets(store, SystemClock(), close_after)
    api_keys = runtime.api_keys
    install_problem_handlers(runtime.app)
    runtime.app.add_middleware(BodyLimitMiddleware)
    rest.provide(runtime.app, tickets, api_keys)
    runtime.app.include_router(rest.api)
    runtime.add_outbox_relay(OUTBOX_STREAM)
    runtime.add_consumer(GROUP, TOPICS, event_handler(TicketEvents(tickets).handle, runtime.tenant_proof))
    closer = AutoCloser(tickets, interval_s=settings.close_poll_seconds)
    runtime.add_worker("auto-close", closer.run, closer.stop)
    runtime.add_grpc([SERVICE_NAME], registration(lambda: tickets))
    return runtime


def main() -> int:
    return build(TicketsSettings(service_name="tickets")).run()
