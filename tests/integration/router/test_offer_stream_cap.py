"""The router's offer streams as a process with a small cap: a stream past the cap is refused while
every other call is still served and the replica reports itself not ready, a newer stream of an
agent ends the older one, and a stream that ends gives its place back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import redis

from helpline.auth import ApiKeyStore
from helpline.roles import Role
from helpline.v1 import router_service_pb2 as pb
from helpline.v1 import router_service_pb2_grpc
from tests.integration.service_process import ServiceProcess, running, service_env

CAP = 3
AGENTS = ("a1", "a2", "a3", "a4")


@pytest.fixture
def router(redis_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path) -> Iterator[ServiceProcess]:
    env = service_env(
        "router",
        redis_url,
        kafka_bootstrap,
        unique,
        HELPLINE_GRPC_MAX_WORKERS="12",
        HELPLINE_MAX_OFFER_STREAMS=str(CAP),
    )
    with running("router", env, tmp_path / "router.log") as process:
        yield process


def _ready_within(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while httpx.get(url, timeout=15).status_code != 200:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


class Stream:
    """One desktop's offer stream, followed on a thread of its own until it ends."""

    def __init__(self, stub: router_service_pb2_grpc.RouterServiceStub, agent: str, key: str) -> None:
        self.call = stub.StreamOffers(
            pb.StreamOffersRequest(agent_id=agent), metadata=(("x-api-key", key),), timeout=60
        )
        self.ended: grpc.StatusCode | None = None
        self.details = ""
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        try:
            for _ in self.call:
                pass
        except grpc.RpcError as error:
            self.ended, self.details = error.code(), error.details() or ""

    def wait_ended(self, within_s: float = 10) -> grpc.StatusCode | None:
        self._thread.join(timeout=within_s)
        return self.ended

    def open(self) -> bool:
        self._thread.join(timeout=1)
        return self._thread.is_alive()


def test_streams_past_the_cap_are_refused_and_a_newer_stream_replaces_an_agents_older(
    router: ServiceProcess, redis_url: str, unique: str
) -> None:
    store = ApiKeyStore(redis.Redis.from_url(redis_url), pepper=unique)
    tenant = f"streams{unique}"
    setup = {"X-API-Key": store.create(tenant, "setup", role=Role.ADMIN)[1]}
    base = f"http://127.0.0.1:{router.port}/v1"
    for path, body in (
        ("/queues/chat", {"name": "Chat", "channels": ["chat"]}),
        ("/routing-profiles/desk", {"queues": [{"queue_id": "chat"}]}),
        *((f"/agents/{agent}", {"routing_profile_id": "desk"}) for agent in AGENTS),
    ):
        assert httpx.put(f"{base}{path}", json=body, headers=setup, timeout=15).status_code in (200, 201)
    supervisor = store.create(tenant, "floor", role=Role.SUPERVISOR)[1]
    with grpc.insecure_channel(f"127.0.0.1:{router.grpc_port}") as channel:
        stub = router_service_pb2_grpc.RouterServiceStub(channel)
        held = [Stream(stub, agent, supervisor) for agent in AGENTS[:CAP]]
        assert all(stream.open() for stream in held)
        scraped = httpx.get(f"http://127.0.0.1:{router.port}/metrics", timeout=15).text
        assert f"helpline_offer_streams {CAP:.1f}" in scraped
        assert f"helpline_offer_streams_limit {CAP:.1f}" in scraped
        # Full, the replica is not ready: Kubernetes sends new desktops to replicas with room.
        ready = httpx.get(f"http://127.0.0.1:{router.port}/readyz", timeout=15)
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["offer_streams"]

        refused = Stream(stub, AGENTS[CAP], supervisor)
        assert refused.wait_ended() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert f"holds {CAP} offer streams" in refused.details
        # The streams hold threads, but not all of them: every other call is still answered.
        status = stub.GetQueueStatus(
            pb.GetQueueStatusRequest(queue_id="chat"), metadata=(("x-api-key", supervisor),), timeout=5
        )
        assert status.queue_id == "chat"

        newer = Stream(stub, AGENTS[0], supervisor)
        assert held[0].wait_ended() is grpc.StatusCode.FAILED_PRECONDITION
        assert held[0].details.startswith("replaced:")
        assert newer.open()

        held[1].call.cancel()  # type: ignore[no-untyped-call]  # untyped in grpc-stubs
        assert _ready_within(f"http://127.0.0.1:{router.port}/readyz", 10)
        deadline = time.monotonic() + 10
        while True:
            last = Stream(stub, AGENTS[CAP], supervisor)
            if last.open() or time.monotonic() > deadline:
                break
        assert last.open()
        for stream in (held[2], newer, last):
            stream.call.cancel()  # type: ignore[no-untyped-call]  # untyped in grpc-stubs
