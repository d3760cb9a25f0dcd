"""A key calling faster than its rate, against the tickets service as a process: held to it with 429
and Retry-After, or RESOURCE_EXHAUSTED with a retry-after trailer, while another key is served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import redis

from helpline.auth import ApiKeyStore
from helpline.roles import Role
from helpline.v1 import ticket_service_pb2, ticket_service_pb2_grpc
from tests.integration.service_process import ServiceProcess, running, service_env


@pytest.fixture
def tickets(redis_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path) -> Iterator[ServiceProcess]:
    # One call a second, two at once: a third in a row is over.
    env = service_env(
        "tickets",
        redis_url,
        kafka_bootstrap,
        unique,
        HELPLINE_API_KEY_RATE_PER_SECOND="1",
        HELPLINE_API_KEY_RATE_BURST="2",
    )
    with running("tickets", env, tmp_path / "tickets.log") as process:
        yield process


def test_a_key_past_its_rate_is_told_when_to_come_back_and_other_keys_are_served(
    tickets: ServiceProcess, redis_url: str, unique: str
) -> None:
    store = ApiKeyStore(redis.Redis.from_url(redis_url), pepper=unique)
    tenant = f"busy{unique}"
    busy, calm, other = (store.create(tenant, name, role=Role.READER)[1] for name in ("busy", "calm", "grpc"))
    url = f"http://127.0.0.1:{tickets.port}/v1/tickets"
    answers = [httpx.get(url, headers={"X-API-Key": busy}, timeout=15) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    held = answers[-1]
    assert held.headers["Retry-After"] == "1"
    assert held.headers["content-type"].startswith("application/problem+json")
    assert held.json()["rule"] == "rate_limited"
    assert httpx.get(url, headers={"X-API-Key": calm}, timeout=15).status_code == 200

    with grpc.insecure_channel(f"127.0.0.1:{tickets.grpc_port}") as channel:
        stub = ticket_service_pb2_grpc.TicketServiceStub(channel)
        request = ticket_service_pb2.ListTicketsRequest()
        for _ in range(2):
            stub.ListTickets(request, metadata=(("x-api-key", other),), timeout=15)
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListTickets(request, metadata=(("x-api-key", other),), timeout=15)
    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (refused.value.details() or "").startswith("rate_limited:")
    # grpc-stubs types a metadatum's value as bytes; a header set as text comes back as str.
    trailing = tuple(refused.value.trailing_metadata() or ())
    assert ("retry-after", "1") in trailing  # type: ignore[comparison-overlap]
