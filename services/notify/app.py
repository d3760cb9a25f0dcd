"""The notify service's wiring: subscriptions and deliveries on this service's Redis, the REST API
under /v1/webhooks, the consumer of the platform's event topics, the delivery workers, and the
outbox relay to `helpline.webhooks` and `helpline.audit`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import redis
from pydantic import Field, field_validator, model_validator

from helpline.clock import SystemClock
from helpline.domain import DomainError
from helpline.polling import Wake
from helpline.rest import BodyLimitMiddleware, install_problem_handlers
from helpline.service import ServiceRuntime
from helpline.settings import Settings
from services.notify.api import rest
from services.notify.consumer import GROUP, TOPICS, SubscriptionCache, WebhookEvents
from services.notify.deliverer import DeliveryMetrics, DeliveryWorker, Sender
from services.notify.domain.delivery import DEFAULT_LANES
from services.notify.domain.schedule import (
    DEFAULT_DISABLE_AFTER,
    DEFAULT_SCHEDULE_S,
    MAX_ATTEMPTS,
    RetrySchedule,
)
from services.notify.store import OUTBOX_STREAM, NotifyStore
from services.notify.subscriptions import Subscriptions


class NotifySettings(Settings):
    webhook_allow_private_targets: bool = Field(
        False,
        description="Allow webhook targets on loopback, private, link-local and other non-public "
        "addresses (a development machine, targets inside a private network); refused by default (SSRF).",
    )
    webhook_retry_schedule_seconds: list[float] = Field(
        list(DEFAULT_SCHEDULE_S),
        min_length=1,
        max_length=MAX_ATTEMPTS,
        description="Seconds before each attempt of a delivery, the first included (JSON list); after "
        "the last fails the delivery is dead-lettered.",
    )
    webhook_disable_after_seconds: float = Field(
        DEFAULT_DISABLE_AFTER.total_seconds(),
        gt=0,
        description="Seconds a subscription's deliveries may fail with no success in between before "
        "it is disabled.",
    )
    webhook_timeout_seconds: float = Field(10, gt=0, le=60, description="Seconds one attempt may take.")
    webhook_workers: int = Field(8, ge=1, le=64, description="Delivery threads of one replica.")
    webhook_lanes: int = Field(
        DEFAULT_LANES,
        ge=1,
        le=256,
        description="Lanes of each subscription: events of one key are delivered in order in one lane, "
        "so a failing key holds up its lane only. Changing it reorders what is waiting.",
    )
    webhook_lease_seconds: float = Field(
        30,
        gt=0,
        description="Seconds a replica holds a lane it attempts; longer than an attempt's timeout.",
    )
    webhook_poll_seconds: float = Field(
        0.2,
        gt=0,
        description="Seconds between polls of an idle worker (the replica's consumer also wakes idle "
        "workers when it enqueues).",
    )
    webhook_delivery_retention_seconds: float = Field(
        7 * 86_400,
        gt=0,
        description="Seconds a finished delivery stays in the log (and a read event is remembered, so "
        "the same event is not delivered twice): longer than the consumer group is ever rewound.",
    )
    webhook_log_max: int = Field(
        1_000, ge=1, le=100_000, description="Deliveries one subscription's log keeps."
    )
    webhook_max_pending: int = Field(
        10_000,
        ge=1,
        description="Deliveries one subscription may have waiting; past it a new one is dead-lettered "
        "at once.",
    )
    webhook_subscription_cache_seconds: float = Field(
        2,
        ge=0,
        description="Seconds a replica's consumer reuses a tenant's subscriptions before reading them again.",
    )
    tenant_max_webhooks: int = Field(50, ge=1, description="Webhook subscriptions one tenant may keep.")

    def redis_pool_size(self) -> int:
        """Each delivery worker keeps a connection of its own besides what the process shares."""
        return super().redis_pool_size() + self.webhook_workers

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> NotifySettings:
        # A lease running out mid-attempt would let another replica attempt the same lane at once.
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "HELPLINE_WEBHOOK_LEASE_SECONDS must be longer than HELPLINE_WEBHOOK_TIMEOUT_SECONDS"
            )
        return self

    @field_validator("webhook_retry_schedule_seconds")
    @classmethod
    def _a_schedule(cls, waits: list[float]) -> list[float]:
        try:
            RetrySchedule.of_seconds(waits)
        except DomainError as exc:
            raise ValueError(exc.message) from exc
        return waits


def build(settings: NotifySettings, *, group: str = GROUP, topics: Sequence[str] = TOPICS) -> ServiceRuntime:
    """`group` and `topics` are the consumer's; tests give their own."""
    runtime = ServiceRuntime(settings)
    clock = SystemClock()
    store = NotifyStore(runtime.redis, settings.webhook_lanes)
    schedule = RetrySchedule.of_seconds(settings.webhook_retry_schedule_seconds)
    retention = timedelta(seconds=settings.webhook_delivery_retention_seconds)
    cache = SubscriptionCache(store, settings.webhook_subscription_cache_seconds)
    subscriptions = Subscriptions(
        store,
        clock,
        allow_private=settings.webhook_allow_private_targets,
        quota=settings.tenant_max_webhooks,
        on_change=cache.forget,
    )
    install_problem_handlers(runtime.app)
    runtime.app.add_middleware(BodyLimitMiddleware)
    rest.provide(runtime.app, subscriptions, runtime.api_keys)
    runtime.app.include_router(rest.api)
    runtime.add_outbox_relay(OUTBOX_STREAM)
    metrics = DeliveryMetrics(runtime.registry, store.backlog)
    wake = Wake()
    events = WebhookEvents(
        store,
        cache,
        clock,
        schedule,
        retention=retention,
        log_max=settings.webhook_log_max,
        max_pending=settings.webhook_max_pending,
        dead_letters=metrics.deliveries.labels("dead_lettered"),
        wake=wake,
    )
    runtime.add_consumer(
        group, topics, events.handler(runtime.tenant_proof), events.batch_handler(runtime.tenant_proof)
    )

    def worker_store() -> NotifyStore:
        own = redis.Redis(connection_pool=runtime.redis.connection_pool, single_connection_client=True)
        return NotifyStore(own, settings.webhook_lanes)

    for n in range(settings.webhook_workers):
        worker = DeliveryWorker(
            f"webhook deliveries {n}",
            worker_store,
            Sender(
                timeout_s=settings.webhook_timeout_seconds,
                allow_private=settings.webhook_allow_private_targets,
            ),
            clock,
            schedule,
            disable_after=timedelta(seconds=settings.webhook_disable_after_seconds),
            retention=retention,
            lease_seconds=settings.webhook_lease_seconds,
            poll_seconds=settings.webhook_poll_seconds,
            metrics=metrics,
            wake=wake,
        )
        runtime.add_worker(f"deliveries:{n}", worker.run, worker.stop)
    return runtime


def main() -> int:
    return build(NotifySettings(service_name="notify")).run()
