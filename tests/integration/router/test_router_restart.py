"""A router killed and started again: queued contacts keep their place, and an offer that was in
flight when it died times out afterwards and goes to the next agent (the timers are in Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
import redis

from helpline.auth import ApiKeyStore
from helpline.clock import SystemClock
from helpline.v1 import common_pb2, router_service_pb2, router_service_pb2_grpc
from services.router.composition import Router
from services.router.domain.contact import ContactStatus
from services.router.domain.model import AgentStatus, Channel, Queue, QueueMembership, RoutingProfile
from services.router.storage.records import ContactRecord
from services.router.usecases.configuration import AgentConfig
from tests.integration.helpers import wait_until
from tests.integration.service_process import ServiceProcess, service_env


@pytest.fixture
def service(redis_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path) -> Iterator[ServiceProcess]:
    env = service_env("router", redis_url, kafka_bootstrap, unique, HELPLINE_TIMER_POLL_SECONDS="0.05")
    process = ServiceProcess("router", env, tmp_path / "router.log")
    process.start()
    yield process
    assert process.stop() == 0


def _record(router: Router, tenant: str, contact_id: str) -> ContactRecord:
    record = router.store.contact(tenant, contact_id)
    assert record is not None
    return record


def test_after_a_restart_queued_contacts_keep_their_place_and_offers_time_out(
    service: ServiceProcess, redis_url: str, unique: str
) -> None:
    tenant = f"t{unique}"
    router = Router(redis.Redis.from_url(redis_url), SystemClock())
    router.catalog.put_queue(
        Queue("q", tenant, "Q", frozenset({Channel.VOICE}), offer_timeout=timedelta(seconds=3))
    )
    for agent_id in ("a0", "a1"):
        router.catalog.put_agent(
            tenant, AgentConfig(agent_id, {}, profile=RoutingProfile((QueueMembership("q"),)))
        )
    router.agents.set_status(tenant, "a0", AgentStatus.AVAILABLE)
    key = ApiKeyStore(redis.Redis.from_url(redis_url), pepper=unique).create(tenant, "gateway")[1]
    metadata = (("x-api-key", key),)
    with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        stub = router_service_pb2_grpc.RouterServiceStub(channel)
        for n in range(3):
            submit = router_service_pb2.SubmitContactRequest(
                contact_id=f"c{n}", channel=common_pb2.CHANNEL_VOICE, queue_id="q"
            )
            stub.SubmitContact(submit, metadata=metadata, timeout=5)
    assert _record(router, tenant, "c0").contact.status is ContactStatus.OFFERED
    waiting = {n: _record(router, tenant, f"c{n}").contact.enqueued_since for n in (1, 2)}

    service.kill()
    service.start()

    wait_until(
        lambda: _record(router, tenant, "c0").contact.status is ContactStatus.QUEUED,
        timeout=20,
        what="the offer made before the crash to time out",
    )
    assert _record(router, tenant, "c0").contact.declined_by == ("a0",)
    # a0, free again, takes the next caller in line (the step after the timeout's own commit); the
    # last one still waits at its place.
    wait_until(lambda: _record(router, tenant, "c1").contact.agent_id == "a0", what="a0 to get c1")
    assert _record(router, tenant, "c2").contact.status is ContactStatus.QUEUED
    for n in (1, 2):
        assert _record(router, tenant, f"c{n}").contact.enqueued_since == waiting[n]
    with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        stub = router_service_pb2_grpc.RouterServiceStub(channel)
        available = router_service_pb2.SetAgentStatusRequest(
            agent_id="a1", status=common_pb2.AGENT_STATUS_AVAILABLE
        )
        stub.SetAgentStatus(available, metadata=metadata, timeout=5)
    # The first caller is still first in line.
    assert _record(router, tenant, "c0").contact.agent_id == "a1"
