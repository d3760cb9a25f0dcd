"""The router's consumer on the real Kafka and Redis: gateway contacts and SLA alerts published as
real CloudEvents (binary, and structured JSON as a gateway without protobuf sends them) to the
router's own topics, handled by a running ServiceRuntime, asserted on the contacts and indexes in
Redis and on the dead-letter topic. Gateway contacts are signed by their tenant's ingress secret
(helpline.ingress_signing), and those that do not prove their tenant are dead-lettered. Every test
has a tenant of its own; the consumer group starts at the topics' current end, so events of earlier
tests and runs are not replayed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from google.protobuf.message import Message
from prometheus_client import CollectorRegistry

from helpline.bus import make_producer, publish
from helpline.clock import FakeClock
from helpline.events import (
    STRUCTURED_JSON,
    event_handler,
    from_record,
    new_event,
    signed,
    to_record,
    to_structured_json,
)
from helpline.ingress_secrets import CACHE_SECONDS, IngressSecrets
from helpline.ingress_signing import IngressKey
from helpline.kafka import clients
from helpline.kafka.port import Producer
from helpline.kafka.reading import partitions
from helpline.outbox import decode_headers
from helpline.records import OutgoingRecord
from helpline.service import ServiceRuntime
from helpline.settings import load_settings
from helpline.topic_admin import ensure_topics
from helpline.topics import dlq_topic, spec
from helpline.v1 import common_pb2, contact_events_pb2, sla_events_pb2
from services.router.composition import Router
from services.router.consumers import TOPICS, RouterEvents
from services.router.domain.contact import ContactStatus
from services.router.domain.model import (
    AgentStatus,
    Channel,
    OverflowStep,
    Priority,
    Queue,
    QueueMembership,
    RoutingProfile,
    SkillRequirement,
    SlaReaction,
)
from services.router.storage.records import ContactRecord
from services.router.storage.store import OUTBOX_STREAM, Keys
from services.router.usecases.configuration import AgentConfig
from tests.integration.helpers import read_all, wait_committed
from tests.stack_provider import Endpoints

START = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)
INGRESS, SLA = TOPICS


@dataclass
class Service:
    """The running consumer and the router's use cases on the same Redis."""

    router: Router
    clock: FakeClock
    producer: Producer
    bootstrap: str
    group: str
    secrets: IngressSecrets
    registry: CollectorRegistry

    def key(self, tenant: str) -> IngressKey:
        """The tenant's gateway secret, made the first time a test signs for the tenant."""
        return self.secrets.named(tenant, "gateway")

    def send(
        self, topic: str, message: Message, subject: str, times: int = 1, key: IngressKey | None = None
    ) -> None:
        """Publish one binary event `times` times: the same CloudEvent, as a redelivery brings it. On
        the ingress it is signed by `key`, by default the secret of the tenant the message names."""
        envelope = new_event(message, source="/gateway/test", subject=subject)
        record = to_record(envelope, topic)
        if topic == INGRESS:
            record = signed(record, envelope, key or self.key(envelope.tenant_id))
        for _ in range(times):
            publish(self.producer, record)

    def send_json(self, message: Message, subject: str) -> None:
        """Structured mode, the message in its proto3 JSON form, as a gateway in any language sends it."""
        envelope = new_event(message, source="/gateway/json", subject=subject)
        value = to_structured_json(envelope)
        headers = [("content-type", STRUCTURED_JSON.encode())]
        proof = self.key(envelope.tenant_id).headers(INGRESS, envelope.id, envelope.type, value)
        self.send_raw(value, subject, headers + proof)

    def send_raw(self, value: bytes, key: str, headers: list[tuple[str, bytes]]) -> None:
        publish(self.producer, OutgoingRecord(INGRESS, value, key.encode(), headers))

    def wait_handled(self) -> None:
        """Until the group has committed everything published so far, i.e. handled it."""
        probe = clients.consumer(self.bootstrap, "test-probe")
        try:
            held = partitions(probe, TOPICS)
        finally:
            probe.close()
        wait_committed(self.bootstrap, self.group, held)

    def contact(self, tenant: str, contact_id: str) -> ContactRecord:
        record = self.router.store.contact(tenant, contact_id)
        assert record is not None, f"no contact {contact_id}"
        return record


def _start_at_end(bootstrap: str, group: str) -> None:
    """Commit the topics' current end for the group, which has never run: it starts from there."""
    committer = clients.consumer(bootstrap, "test-committer", group)
    try:
        committer.commit(committer.end_offsets(partitions(committer, TOPICS)))
    finally:
        committer.close()


@pytest.fixture(scope="module")
def service(stack: Endpoints) -> Iterator[Service]:
    suffix = uuid.uuid4().hex[:10]
    bootstrap = stack.kafka_bootstrap
    ensure_topics(bootstrap, [spec(topic) for topic in TOPICS])
    group = f"router-{suffix}"
    _start_at_end(bootstrap, group)
    settings = load_settings(
        service_name=f"router-{suffix}",
        kafka_bootstrap=bootstrap,
        redis_url=stack.redis_url,
        auth_redis_url=stack.redis_url,
        http_port=0,
        log_format="console",
        consumer_max_retries=1,
        consumer_retry_backoff_ms=10,
    )
    runtime = ServiceRuntime(settings)
    clock = FakeClock(START)
    router = Router(runtime.redis, clock)
    runtime.add_consumer(group, TOPICS, event_handler(RouterEvents(router).handle, runtime.tenant_proof))
    thread = threading.Thread(target=runtime.run, kwargs={"install_signals": False})
    thread.start()
    producer = make_producer(bootstrap, "test")
    try:
        yield Service(
            router, clock, producer, bootstrap, group, IngressSecrets(runtime.auth_redis), runtime.registry
        )
    finally:
        producer.close()
        runtime.stop()
        thread.join(60)


@pytest.fixture
def tenant(unique: str) -> str:
    return f"t{unique}"


def _sales(service: Service, tenant: str, **config: Any) -> None:
    """Voice and chat queue `sales`, and one voice agent, offline until a test needs it."""
    service.router.catalog.put_queue(
        Queue("sales", tenant, "Sales", frozenset({Channel.VOICE, Channel.CHAT}), **config)
    )
    profile = RoutingProfile((QueueMembership("sales"),), {Channel.VOICE: 1})
    service.router.catalog.put_agent(tenant, AgentConfig("a-voice", {}, profile=profile))


def _waiting(client: redis.Redis, tenant: str, channel: Channel) -> set[str]:
    members: Any = client.zrange(Keys(tenant).depth("sales", channel), 0, -1)
    return {member.decode() for member in members}


def _received(
    tenant: str, contact_id: str, channel: int, **fields: Any
) -> contact_events_pb2.ContactReceived:
    return contact_events_pb2.ContactReceived(
        tenant_id=tenant, contact_id=contact_id, channel=common_pb2.Channel.ValueType(channel), **fields
    )


def _queued_alert(
    kind: type[sla_events_pb2.SlaWarning] | type[sla_events_pb2.SlaBreached], tenant: str, contact_id: str
) -> Message:
    return kind(
        tenant_id=tenant,
        queued_contact=sla_events_pb2.QueuedContact(contact_id=contact_id, queue_id="sales"),
        metric=common_pb2.SLA_METRIC_FIRST_REPLY,
        instance_id=f"i-{contact_id}",
    )


def _dead_letters(bootstrap: str, topic: str) -> list[Any]:
    """Every record of a dead-letter topic, read to its end."""
    probe = clients.consumer(bootstrap, "test-probe")
    try:
        held = partitions(probe, (topic,))
        total = sum(probe.end_offsets(held).values()) - sum(probe.beginning_offsets(held).values())
    finally:
        probe.close()
    return read_all(bootstrap, topic, expected=total)


def _contact_events(client: redis.Redis, tenant: str, contact_id: str) -> list[Message]:
    """The events the router's outbox holds for one contact of the tenant (no relay runs here)."""
    entries: Any = client.xrange(OUTBOX_STREAM)
    events = []
    for _, fields in entries:
        if fields[b"k"] != contact_id.encode():
            continue
        message = from_record(decode_headers(fields[b"h"]), fields[b"v"]).message
        if getattr(message, "tenant_id", "") == tenant:
            events.append(message)
    return events


def test_binary_and_structured_contacts_are_offered_or_queued(
    service: Service, tenant: str, redis_client: redis.Redis
) -> None:
    _sales(service, tenant)
    service.router.agents.set_status(tenant, "a-voice", AgentStatus.AVAILABLE)
    call = _received(tenant, "k-call", common_pb2.CHANNEL_VOICE, queue_id="sales", entry_point="+3210")
    service.send(INGRESS, call, "k-call")
    chat = _received(
        tenant,
        "k-chat",
        common_pb2.CHANNEL_CHAT,
        context=common_pb2.ContactContext(customer_id="cust-1", priority=common_pb2.PRIORITY_HIGH),
    )
    service.send_json(chat, "k-chat")
    service.wait_handled()

    offered = service.contact(tenant, "k-call").contact
    assert (offered.status, offered.agent_id, offered.entry_point) == (
        ContactStatus.OFFERED,
        "a-voice",
        "+3210",
    )
    # No queue named: the router picks the one serving chat; nobody takes chat, so it waits.
    queued = service.contact(tenant, "k-chat").contact
    assert (queued.status, queued.queue_id, queued.priority) == (ContactStatus.QUEUED, "sales", Priority.HIGH)
    assert queued.context.customer_id == "cust-1"
    assert _waiting(redis_client, tenant, Channel.VOICE) == {"k-call"}
    assert _waiting(redis_client, tenant, Channel.CHAT) == {"k-chat"}


def test_a_redelivered_contact_changes_nothing(
    service: Service, tenant: str, redis_client: redis.Redis
) -> None:
    _sales(service, tenant)
    call = _received(tenant, "k-call", common_pb2.CHANNEL_VOICE, queue_id="sales")
    service.send(INGRESS, call, "k-call", times=2)
    service.wait_handled()
    before = service.contact(tenant, "k-call")
    events = _contact_events(redis_client, tenant, "k-call")
    assert [type(e).__name__ for e in events] == ["ContactReceived", "ContactQueued"]

    service.send(INGRESS, call, "k-call")
    service.wait_handled()

    assert service.contact(tenant, "k-call") == before
    assert _contact_events(redis_client, tenant, "k-call") == events


def test_a_bot_escalation_keeps_the_intent_and_transcript_summary(service: Service, tenant: str) -> None:
    _sales(service, tenant)
    service.send(INGRESS, _received(tenant, "k-bot", common_pb2.CHANNEL_BOT), "k-bot")
    service.wait_handled()
    assert service.contact(tenant, "k-bot").contact.status is ContactStatus.RECEIVED

    escalation = _received(
        tenant,
        "k-bot",
        common_pb2.CHANNEL_BOT,
        queue_id="sales",
        context=common_pb2.ContactContext(
            intent="billing.refund", bot_transcript_summary="Wants a refund for order 42"
        ),
    )
    service.send(INGRESS, escalation, "k-bot", times=2)
    service.wait_handled()

    contact = service.contact(tenant, "k-bot").contact
    assert (contact.status, contact.channel, contact.queue_id) == (
        ContactStatus.QUEUED,
        Channel.CHAT,
        "sales",
    )
    assert contact.context.intent == "billing.refund"
    assert contact.context.bot_transcript_summary == "Wants a refund for order 42"


def test_self_served_contacts_end_received_or_unannounced(service: Service, tenant: str) -> None:
    service.send(INGRESS, _received(tenant, "k-bot", common_pb2.CHANNEL_BOT), "k-bot")
    served = contact_events_pb2.ContactSelfServed(
        tenant_id=tenant, contact_id="k-bot", channel=common_pb2.CHANNEL_BOT, resolution_code="order_status"
    )
    service.send(INGRESS, served, "k-bot", times=2)
    # A self-service portal the router never heard of before the resolution.
    portal = contact_events_pb2.ContactSelfServed(
        tenant_id=tenant, contact_id="k-web", intent="password", resolution_code="password_reset"
    )
    service.send(INGRESS, portal, "k-web")
    service.wait_handled()

    bot = service.contact(tenant, "k-bot").contact
    assert (bot.status, bot.disposition_code) == (ContactStatus.SELF_SERVED, "order_status")
    web = service.contact(tenant, "k-web").contact
    assert (web.status, web.channel, web.disposition_code) == (
        ContactStatus.SELF_SERVED,
        Channel.SELF_SERVICE,
        "password_reset",
    )
    assert web.context.intent == "password"


def test_an_abandoned_caller_leaves_the_queue_and_late_reports_are_skipped(
    service: Service, tenant: str, redis_client: redis.Redis
) -> None:
    _sales(service, tenant)
    service.send(INGRESS, _received(tenant, "k-call", common_pb2.CHANNEL_VOICE, queue_id="sales"), "k-call")
    service.wait_handled()
    assert _waiting(redis_client, tenant, Channel.VOICE) == {"k-call"}

    for contact_id in ("k-call", "k-call", "k-unknown"):
        gone = contact_events_pb2.ContactAbandoned(
            tenant_id=tenant, contact_id=contact_id, queue_id="sales", channel=common_pb2.CHANNEL_VOICE
        )
        service.send(INGRESS, gone, contact_id)
    service.wait_handled()

    assert service.contact(tenant, "k-call").contact.status is ContactStatus.ABANDONED
    assert _waiting(redis_client, tenant, Channel.VOICE) == set()
    assert service.router.store.contact(tenant, "k-unknown") is None
    assert not [
        r for r in _dead_letters(service.bootstrap, dlq_topic(INGRESS)) if r.key in (b"k-call", b"k-unknown")
    ]


def test_bad_events_are_dead_lettered_with_the_reason(service: Service, tenant: str) -> None:
    _sales(service, tenant)
    service.send_raw(
        b'{"specversion": "1.0", "id": "x"',
        f"{tenant}-garbled",
        [("content-type", b"application/cloudevents+json")],
    )
    service.send(INGRESS, _received(tenant, f"{tenant}-odd", 99, queue_id="sales"), f"{tenant}-odd")
    service.send(
        INGRESS,
        _received("", f"{tenant}-nobody", common_pb2.CHANNEL_VOICE),
        f"{tenant}-nobody",
        key=service.key(tenant),
    )
    service.send(
        INGRESS,
        _received(tenant, f"{tenant}-lost", common_pb2.CHANNEL_VOICE, queue_id="nowhere"),
        f"{tenant}-lost",
    )
    service.wait_handled()

    dead = {
        r.key.decode(): dict(r.headers)
        for r in _dead_letters(service.bootstrap, dlq_topic(INGRESS))
        if r.key and r.key.decode().startswith(tenant)
    }
    assert set(dead) == {f"{tenant}-{name}" for name in ("garbled", "odd", "nobody", "lost")}
    for headers in dead.values():
        assert headers["dlq_group"] == service.group.encode()
        assert headers["dlq_attempts"] == b"1"
    assert {name: headers["dlq_error_type"] for name, headers in dead.items()} == {
        f"{tenant}-garbled": b"EventError",
        f"{tenant}-odd": b"EventError",
        # Signed for the tenant, it names none: not the tenant it proved.
        f"{tenant}-nobody": b"UnprovenEventError",
        f"{tenant}-lost": b"EventError",
    }
    assert b"malformed CloudEvent" in dead[f"{tenant}-garbled"]["dlq_error"]
    assert b"Channel value 99" in dead[f"{tenant}-odd"]["dlq_error"]
    assert dead[f"{tenant}-nobody"]["dlq_reason"] == b"tenant-mismatch"
    assert b"no queue nowhere" in dead[f"{tenant}-lost"]["dlq_error"]
    assert service.router.store.contact(tenant, f"{tenant}-odd") is None


def test_sla_alerts_raise_a_queued_contacts_priority_one_level_each(service: Service, tenant: str) -> None:
    _sales(
        service,
        tenant,
        sla_warning_reaction=SlaReaction.RAISE_PRIORITY,
        sla_breach_reaction=SlaReaction.RAISE_PRIORITY,
    )
    service.send(INGRESS, _received(tenant, "k-call", common_pb2.CHANNEL_VOICE, queue_id="sales"), "k-call")
    service.wait_handled()
    assert service.contact(tenant, "k-call").contact.priority is Priority.NORMAL

    service.send(SLA, _queued_alert(sla_events_pb2.SlaWarning, tenant, "k-call"), "k-call", times=2)
    service.wait_handled()
    raised = service.contact(tenant, "k-call").contact
    # Delivered twice, the warning still asks for one level above the arrival priority.
    assert (raised.status, raised.priority) == (ContactStatus.QUEUED, Priority.HIGH)

    # calls.enqueue takes a second requeue at the very instant of the first for a redelivery.
    service.clock.advance(timedelta(seconds=1))
    service.send(SLA, _queued_alert(sla_events_pb2.SlaBreached, tenant, "k-call"), "k-call")
    service.wait_handled()
    assert service.contact(tenant, "k-call").contact.priority is Priority.URGENT


def test_sla_alerts_about_tickets_are_left_to_the_tickets_service(service: Service, tenant: str) -> None:
    _sales(service, tenant, sla_warning_reaction=SlaReaction.RAISE_PRIORITY)
    service.send(INGRESS, _received(tenant, "k-call", common_pb2.CHANNEL_VOICE, queue_id="sales"), "k-call")
    service.wait_handled()
    before = service.contact(tenant, "k-call")

    about_ticket = sla_events_pb2.SlaWarning(
        tenant_id=tenant, ticket_id="k-call", metric=common_pb2.SLA_METRIC_FIRST_REPLY
    )
    service.send(SLA, about_ticket, "k-call")
    # Even one no service could use is the tickets service's to dead-letter, not the router's.
    service.send(SLA, sla_events_pb2.SlaBreached(ticket_id=f"{tenant}-ticket"), f"{tenant}-ticket")
    service.wait_handled()

    assert service.contact(tenant, "k-call") == before
    assert not [
        r
        for r in _dead_letters(service.bootstrap, dlq_topic(SLA))
        if r.key in (b"k-call", f"{tenant}-ticket".encode())
        and dict(r.headers).get("dlq_group") == service.group.encode()
    ]


def test_an_sla_breach_with_the_overflow_reaction_applies_the_next_step_now(
    service: Service, tenant: str
) -> None:
    service.router.catalog.put_skill(tenant, "french", "")
    _sales(
        service,
        tenant,
        required_skills=(SkillRequirement("french", 3),),
        overflow_steps=(OverflowStep(after=timedelta(minutes=10), accept_any_agent=True),),
        sla_breach_reaction=SlaReaction.OVERFLOW,
    )
    service.router.agents.set_status(tenant, "a-voice", AgentStatus.AVAILABLE)
    service.send(INGRESS, _received(tenant, "k-call", common_pb2.CHANNEL_VOICE, queue_id="sales"), "k-call")
    service.wait_handled()
    # The only agent speaks no French, and the step that accepts any agent is ten minutes away.
    assert service.contact(tenant, "k-call").contact.status is ContactStatus.QUEUED

    service.send(SLA, _queued_alert(sla_events_pb2.SlaBreached, tenant, "k-call"), "k-call")
    service.wait_handled()

    record = service.contact(tenant, "k-call")
    assert record.overflow_step == 1
    assert (record.contact.status, record.contact.agent_id) == (ContactStatus.OFFERED, "a-voice")


# -- tenant-bound ingress ---------------------------------------------------------------------------


def _refused(service: Service, reason: str) -> float:
    value = service.registry.get_sample_value(
        "helpline_ingress_unproven_total", {"topic": INGRESS, "reason": reason}
    )
    return value or 0.0


def _unproven(service: Service, tenant: str) -> dict[str, dict[str, bytes]]:
    """The tenant's dead-lettered contacts by key, with their headers."""
    return {
        r.key.decode(): dict(r.headers)
        for r in _dead_letters(service.bootstrap, dlq_topic(INGRESS))
        if r.key and r.key.decode().startswith(tenant)
    }


def test_events_that_do_not_prove_their_tenant_are_dead_lettered_with_the_reason(
    service: Service, tenant: str, unique: str
) -> None:
    _sales(service, tenant)
    other = f"u{unique}"
    _sales(service, other)
    before = {
        reason: _refused(service, reason) for reason in ("unsigned", "bad-signature", "tenant-mismatch")
    }
    call = _received(tenant, f"{tenant}-signed", common_pb2.CHANNEL_VOICE, queue_id="sales")
    service.send(INGRESS, call, f"{tenant}-signed")

    envelope = new_event(
        _received(tenant, f"{tenant}-unsigned", common_pb2.CHANNEL_VOICE, queue_id="sales"),
        source="/gateway/test",
    )
    unsigned = to_record(envelope, INGRESS, f"{tenant}-unsigned")
    service.send_raw(unsigned.value, f"{tenant}-unsigned", unsigned.headers)
    own = service.key(tenant)
    guessed = IngressKey(tenant, own.key_id, "hlis_guessed")
    wrong = _received(tenant, f"{tenant}-wrong", common_pb2.CHANNEL_VOICE, queue_id="sales")
    service.send(INGRESS, wrong, f"{tenant}-wrong", key=guessed)
    # The forged-tenant event: the other tenant's gateway, with its own valid secret, speaks for this one.
    forged = _received(tenant, f"{tenant}-forged", common_pb2.CHANNEL_VOICE, queue_id="sales")
    service.send(INGRESS, forged, f"{tenant}-forged", key=service.key(other))
    service.wait_handled()

    assert service.contact(tenant, f"{tenant}-signed").contact.status is ContactStatus.QUEUED
    for refused in ("unsigned", "wrong", "forged"):
        assert service.router.store.contact(tenant, f"{tenant}-{refused}") is None
    dead = _unproven(service, tenant)
    assert set(dead) == {f"{tenant}-unsigned", f"{tenant}-wrong", f"{tenant}-forged"}
    assert {key: headers["dlq_reason"] for key, headers in dead.items()} == {
        f"{tenant}-unsigned": b"unsigned",
        f"{tenant}-wrong": b"bad-signature",
        f"{tenant}-forged": b"tenant-mismatch",
    }
    for headers in dead.values():
        assert headers["dlq_error_type"] == b"UnprovenEventError"
        assert headers["dlq_attempts"] == b"1"
    assert (
        b"no helpline-tenant, helpline-key-id, helpline-signature header"
        in dead[f"{tenant}-unsigned"]["dlq_error"]
    )
    assert f"signed for tenant '{other}'".encode() in dead[f"{tenant}-forged"]["dlq_error"]
    # The dead letter keeps the claim, so an operator sees whose secret signed it.
    assert dead[f"{tenant}-forged"]["helpline-tenant"] == other.encode()
    for reason, was in before.items():
        assert _refused(service, reason) == was + 1


def test_a_revoked_secret_stops_proving_within_the_cache_time(service: Service, tenant: str) -> None:
    _sales(service, tenant)
    key = service.key(tenant)
    service.send(
        INGRESS,
        _received(tenant, f"{tenant}-before", common_pb2.CHANNEL_VOICE, queue_id="sales"),
        f"{tenant}-before",
    )
    service.wait_handled()
    assert service.contact(tenant, f"{tenant}-before").contact.status is ContactStatus.QUEUED

    assert service.secrets.revoke(tenant, key.key_id)
    # The cache time passes on purpose: until then the cached secret still proves (the subject).
    time.sleep(CACHE_SECONDS)
    late = _received(tenant, f"{tenant}-after", common_pb2.CHANNEL_VOICE, queue_id="sales")
    service.send(INGRESS, late, f"{tenant}-after", key=key)
    service.wait_handled()

    assert service.router.store.contact(tenant, f"{tenant}-after") is None
    assert _unproven(service, tenant)[f"{tenant}-after"]["dlq_reason"] == b"unknown-key"


def test_two_secrets_prove_at_once_while_a_gateway_moves_to_the_new_one(
    service: Service, tenant: str
) -> None:
    _sales(service, tenant)
    old = service.secrets.create(tenant, "telephony")
    new = service.secrets.create(tenant, "telephony-next")
    for key, contact_id in ((old, f"{tenant}-old"), (new, f"{tenant}-new")):
        service.send(
            INGRESS,
            _received(tenant, contact_id, common_pb2.CHANNEL_VOICE, queue_id="sales"),
            contact_id,
            key=key,
        )
    service.wait_handled()

    assert service.contact(tenant, f"{tenant}-old").contact.status is ContactStatus.QUEUED
    assert service.contact(tenant, f"{tenant}-new").contact.status is ContactStatus.QUEUED
    assert not _unproven(service, tenant)
