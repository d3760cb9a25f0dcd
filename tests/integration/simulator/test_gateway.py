"""What the simulated gateways publish is what the router's ingress takes: each record, decoded and
its tenant proven as the consumer does, handled by the router's own event handler on the real Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis
from prometheus_client import CollectorRegistry

from helpline.clock import SystemClock
from helpline.events import event_handler
from helpline.ingress_secrets import IngressSecrets, SecretCache
from helpline.records import Record
from helpline.tenant_proof import TenantProof
from services.router.composition import Router
from services.router.consumers import TOPICS, RouterEvents
from services.router.domain.contact import Contact, ContactStatus
from services.router.domain.model import Channel
from simulator.gateway import INGRESS, Gateway
from simulator.plan import PlannedContact, plan_contacts
from simulator.scenario import Scenario
from simulator.setup import configure_router
from tests.integration.router.rest_app import admin


def first(plan: list[PlannedContact], channel: str, bot: str = "none") -> PlannedContact:
    return next(c for c in plan if c.channel == channel and c.bot == bot)


def test_arrivals_bot_outcomes_and_hang_ups_are_taken_by_the_router(
    redis_client: redis.Redis, unique: str
) -> None:
    router = Router(redis_client, SystemClock())
    with admin(router, redis_client, unique) as a:
        # No agent is available: every contact that reaches a queue waits there.
        scenario = Scenario.model_validate(Scenario.default().model_dump() | {"tenant": a.tenant})
        configure_router(a.client, a.mine["X-API-Key"], scenario)
    secrets = IngressSecrets(redis_client, namespace=f"auth-{unique}")
    gateway = Gateway(scenario, secrets.create(a.tenant, "simulator"))
    handle = event_handler(
        RouterEvents(router).handle, TenantProof(SecretCache(secrets), CollectorRegistry())
    )
    plan = plan_contacts(scenario)
    call, email = first(plan, "voice"), first(plan, "email")
    contained, escalated = first(plan, "bot", "contained"), first(plan, "bot", "escalated")
    now = datetime.now(UTC)

    records = [gateway.arrival(c, now) for c in (call, email, contained, escalated)]
    records += [
        gateway.bot_outcome(contained, timedelta(seconds=40), now),
        gateway.bot_outcome(escalated, timedelta(seconds=90), now),
        gateway.abandoned(call, timedelta(seconds=3), now),
    ]
    assert {r.topic for r in records} == {INGRESS} <= set(TOPICS)
    for offset, record in enumerate(records):
        handle(Record(record.topic, 0, offset, record.key, record.value, record.headers))

    def contact(planned: PlannedContact) -> Contact:
        record = router.store.contact(a.tenant, planned.contact_id)
        assert record is not None, planned.contact_id
        return record.contact

    assert contact(call).status is ContactStatus.ABANDONED
    assert (contact(email).status, contact(email).queue_id) == (ContactStatus.QUEUED, "support-email")
    assert contact(contained).status is ContactStatus.SELF_SERVED
    handed = contact(escalated)
    assert (handed.status, handed.queue_id) == (ContactStatus.QUEUED, "service-chat")
    assert handed.channel is Channel.CHAT
    assert handed.context.intent == escalated.intent
    assert escalated.intent in handed.context.bot_transcript_summary
