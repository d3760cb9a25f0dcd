"""The notify service run whole on the real Kafka and Redis (a ServiceRuntime in a thread, its
consumer on topics of the test's own), a receiver to deliver to, and admin keys of two tenants."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis

from helpline.auth import ApiKeyStore
from helpline.bus import make_producer, publish
from helpline.events import new_event, to_record
from helpline.kafka.port import Producer
from helpline.roles import Role
from helpline.service import ServiceRuntime
from helpline.v1 import ticket_events_pb2
from services.notify.app import NotifySettings, build
from tests.integration.helpers import make_topic, wait_until
from tests.integration.notify.receiver import Receiver, receiving

# Attempts at once and 0.4 s apart, four in all; a subscription failing for a second is disabled.
SCHEDULE = [0, 0.4, 0.4, 0.4]
DISABLE_AFTER_S = 1.0


@dataclass
class Notify:
    base: str
    topic: str
    producer: Producer
    receiver: Receiver
    runtime: ServiceRuntime
    # Admin keys of two tenants, and a reader's key of the first.
    tenant: str
    other: str
    mine: dict[str, str]
    theirs: dict[str, str]
    reader: dict[str, str]

    def subscribe(self, headers: dict[str, str], path: str, event_types: list[str]) -> dict[str, str]:
        answer = httpx.post(
            f"{self.base}/v1/webhooks",
            json={"url": self.receiver.url(path), "event_types": event_types},
            headers=headers,
        )
        assert answer.status_code == 201, answer.text
        created: dict[str, str] = answer.json()
        return created

    def status_changed(self, tenant: str, ticket_id: str, version: int) -> str:
        """Publish a ticket's status change, keyed by the ticket as the tickets service keys it;
        returns the event id."""
        message = ticket_events_pb2.TicketStatusChanged(
            tenant_id=tenant, ticket_id=ticket_id, version=version
        )
        envelope = new_event(message, source="/test", subject=ticket_id)
        publish(self.producer, to_record(envelope, self.topic, key=ticket_id))
        return envelope.id

    def publish_again(self, tenant: str, ticket_id: str, version: int, times: int) -> str:
        """The same CloudEvent `times` times, as a redelivery brings it."""
        message = ticket_events_pb2.TicketStatusChanged(
            tenant_id=tenant, ticket_id=ticket_id, version=version
        )
        record = to_record(new_event(message, source="/test", subject=ticket_id), self.topic, key=ticket_id)
        for _ in range(times):
            publish(self.producer, record)
        return next(value.decode() for name, value in record.headers if name == "ce_id")


@contextmanager
def running_notify(
    kafka_bootstrap: str, redis_url: str, keys_client: redis.Redis, unique: str, **settings: Any
) -> Iterator[Notify]:
    """The service in a thread with the tests' settings (and `settings` over them), its API keys
    made through `keys_client`."""
    topic = make_topic(kafka_bootstrap, f"test.notify.tickets.{unique}", partitions=3)
    runtime = build(
        NotifySettings(
            **{
                "service_name": f"notify-{unique}",
                "kafka_bootstrap": kafka_bootstrap,
                "redis_url": redis_url,
                "auth_redis_url": redis_url,
                "http_port": 0,
                "grpc_port": 0,
                "topic_partitions": 1,
                "log_format": "console",
                "api_key_pepper": unique,
                "webhook_allow_private_targets": True,
                "webhook_retry_schedule_seconds": SCHEDULE,
                "webhook_disable_after_seconds": DISABLE_AFTER_S,
                "webhook_poll_seconds": 0.05,
                "webhook_workers": 4,
                "webhook_timeout_seconds": 2,
                "webhook_subscription_cache_seconds": 0,
                **settings,
            }
        ),
        group=f"notify-{unique}",
        topics=[topic],
    )
    keys = ApiKeyStore(keys_client, pepper=unique)
    tenant, other = f"a{unique}", f"b{unique}"
    producer = make_producer(kafka_bootstrap, f"test-{unique}")
    thread = threading.Thread(target=lambda: runtime.run(install_signals=False), daemon=True)
    with receiving() as receiver:
        thread.start()
        try:
            wait_until(lambda: runtime.http_port is not None, what="the HTTP server")
            base = f"http://127.0.0.1:{runtime.http_port}"
            wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, what="readiness")
            yield Notify(
                base=base,
                topic=topic,
                producer=producer,
                receiver=receiver,
                runtime=runtime,
                tenant=tenant,
                other=other,
                mine={"X-API-Key": keys.create(tenant, "admin")[1]},
                theirs={"X-API-Key": keys.create(other, "admin")[1]},
                reader={"X-API-Key": keys.create(tenant, "reader", role=Role.READER)[1]},
            )
        finally:
            runtime.stop()
            thread.join(60)
            producer.close(timeout=10)


@pytest.fixture
def notify(kafka_bootstrap: str, redis_url: str, redis_client: redis.Redis, unique: str) -> Iterator[Notify]:
    with running_notify(kafka_bootstrap, redis_url, redis_client, unique) as running:
        yield running
