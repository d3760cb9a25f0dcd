"""The router service's wiring: the router's use cases (composition.Router) on this service's
Redis, the REST admin API under /v1, gRPC (RouterService, health and reflection), the consumer of
gateway contacts and SLA events, the durable timers, the periodic queue snapshots, and the outbox
relay to the contact, agent and queue topics."""

from __future__ import annotations

from pydantic import Field, model_validator

from helpline.clock import SystemClock
from helpline.events import event_handler
from helpline.rest import BodyLimitMiddleware, install_problem_handlers
from helpline.service import ServiceRuntime
from helpline.settings import Settings
from services.router.api import rest
from services.router.api.grpc import DEFAULT_OFFER_STREAMS, SERVICE_NAME, registration
from services.router.api.offer_streams import OfferStreams
from services.router.composition import Router
from services.router.consumers import GROUP, TOPICS, RouterEvents
from services.router.storage.retention import Retention
from services.router.storage.store import OUTBOX_STREAM
from services.router.usecases.configuration import Quotas
from services.router.workers.pruning import SignaturePruner
from services.router.workers.snapshots import QueueSnapshots

QUOTAS = Quotas()
# gRPC threads the offer streams always leave to every other call.
UNARY_THREADS = 8


class RouterSettings(Settings):
    timer_poll_seconds: float = Field(
        0.1, gt=0, description="Seconds between the timer worker's polls when nothing was due."
    )
    snapshot_interval_seconds: float = Field(
        10, gt=0, description="Seconds between queue snapshots on helpline.queues."
    )
    # Every connected agent desktop keeps one StreamOffers call open.
    grpc_max_workers: int = Field(
        256, ge=1, description="gRPC calls served at once; each connected agent desktop holds one."
    )
    max_offer_streams: int = Field(
        DEFAULT_OFFER_STREAMS,
        ge=1,
        description="Offer streams (connected agent desktops) a replica holds at once; one more is "
        "refused with RESOURCE_EXHAUSTED. At least 8 under `HELPLINE_GRPC_MAX_WORKERS`, so the "
        "streams always leave threads for every other call.",
    )
    contact_retention_seconds: int = Field(
        Retention.contact_s,
        ge=1,
        description="Seconds a finished contact (completed, abandoned, timed out, called back, "
        "self-served) and its offers stay in Redis, so late events and desktop answers about it are "
        "answered as at once; also how long a received contact no queue or outcome followed is kept.",
    )
    last_agent_retention_seconds: int = Field(
        Retention.last_agent_s,
        ge=1,
        description="Seconds the router remembers the agent who last served a customer (preferred_agent "
        "queues), counted from that customer's last completed contact.",
    )
    desk_retention_seconds: int = Field(
        Retention.desk_s,
        ge=1,
        description="Seconds an agent's desk stream (what their desktop is sent) keeps an entry; a desk "
        "not written to for as long expires. At most half the contact retention.",
    )
    tenant_max_skills: int = Field(QUOTAS.skills, ge=1, description="Skills one tenant may keep.")
    tenant_max_queues: int = Field(
        QUOTAS.queues, ge=1, description="Queues one tenant may keep; each adds series to Prometheus."
    )
    tenant_max_profiles: int = Field(
        QUOTAS.profiles, ge=1, description="Routing profiles one tenant may keep."
    )
    tenant_max_agents: int = Field(QUOTAS.agents, ge=1, description="Agents one tenant may keep.")
    tenant_max_calendars: int = Field(
        QUOTAS.calendars, ge=1, description="Business-hours calendars one tenant may keep."
    )
    signature_prune_interval_seconds: float = Field(
        3600,
        gt=0,
        description="Seconds between prunings of the requirement signatures no contact waits on.",
    )

    @model_validator(mode="after")
    def _retention_holds(self) -> RouterSettings:
        self.retention()
        return self

    @model_validator(mode="after")
    def _streams_leave_threads(self) -> RouterSettings:
        if self.max_offer_streams > self.grpc_max_workers - UNARY_THREADS:
            raise ValueError(
                f"max_offer_streams ({self.max_offer_streams}) must leave {UNARY_THREADS} of "
                f"grpc_max_workers ({self.grpc_max_workers}) to the other calls"
            )
        return self

    def quotas(self) -> Quotas:
        return Quotas(
            skills=self.tenant_max_skills,
            queues=self.tenant_max_queues,
            profiles=self.tenant_max_profiles,
            agents=self.tenant_max_agents,
            calendars=self.tenant_max_calendars,
        )

    def retention(self) -> Retention:
        return Retention(
            contact_s=self.contact_retention_seconds,
            last_agent_s=self.last_agent_retention_seconds,
            desk_s=self.desk_retention_seconds,
        )


def build(settings: RouterSettings) -> ServiceRuntime:
    runtime = ServiceRuntime(settings)
    router = Router(runtime.redis, SystemClock(), settings.retention(), settings.quotas())
    api_keys = runtime.api_keys
    install_problem_handlers(runtime.app)
    runtime.app.add_middleware(BodyLimitMiddleware)
    rest.provide(runtime.app, router.catalog, api_keys)
    runtime.app.include_router(rest.api)
    runtime.add_outbox_relay(OUTBOX_STREAM)
    runtime.add_consumer(GROUP, TOPICS, event_handler(RouterEvents(router).handle, runtime.tenant_proof))
    timers = router.timer_worker(settings.timer_poll_seconds)
    runtime.add_worker("timers", timers.run, timers.stop)
    snapshots = QueueSnapshots(router, settings.snapshot_interval_seconds)
    runtime.add_worker("queue-snapshots", snapshots.run, snapshots.stop)
    pruner = SignaturePruner(router, settings.signature_prune_interval_seconds)
    runtime.add_worker("signature-pruning", pruner.run, pruner.stop)
    streams = OfferStreams(settings.max_offer_streams, runtime.registry)
    runtime.add_readiness_check("offer_streams", streams.has_room)
    runtime.add_grpc([SERVICE_NAME], registration(lambda: router, streams))
    return runtime


def main() -> int:
    return build(RouterSettings(service_name="router")).run()
