"""Two hundred agent desktops on one router process while 2,000 contacts arrive, 64 at a time,
through two router processes: every contact offered, accepted and completed once, no agent ever
over its capacity, no error and no exit. An open desktop holds a gRPC worker but no pooled Redis
connection (services.router.api.desk_feed), so the default pool is plenty."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import redis

from helpline.auth import ApiKeyStore
from helpline.v1 import common_pb2, router_service_pb2_grpc
from helpline.v1 import router_service_pb2 as pb
from tests.integration.service_process import ServiceProcess, service_env

DESKTOPS = 200
CONTACTS = 2_000
AT_ONCE = 64
# Streams share a few connections (HTTP/2 multiplexes them), as desktops behind one proxy would.
CHANNELS = 4
CHAT = common_pb2.CHANNEL_CHAT


@pytest.fixture
def routers(
    redis_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> Iterator[list[ServiceProcess]]:
    started = []
    try:
        for n in range(2):
            # docs/operations.md: a router holding N desktops needs N + 64 gRPC workers.
            env = service_env("router", redis_url, kafka_bootstrap, unique, HELPLINE_GRPC_MAX_WORKERS="272")
            process = ServiceProcess("router", env, tmp_path / f"router-{n}.log")
            process.start()
            started.append(process)
        yield started
    finally:
        for process in started:
            process.stop()


class Floor:
    """What the desktops saw: offers per contact, what each agent held, and every failed call."""

    def __init__(self) -> None:
        self.offers: collections.Counter[str] = collections.Counter()
        self.accepted: collections.Counter[str] = collections.Counter()
        self.completed: collections.Counter[str] = collections.Counter()
        self.holding: dict[str, str] = {}
        self.over_capacity: list[tuple[str, str, str]] = []
        self.errors: list[str] = []
        self.all_completed = asyncio.Event()

    def offered(self, agent_id: str, contact_id: str) -> None:
        self.offers[contact_id] += 1
        if agent_id in self.holding:
            self.over_capacity.append((agent_id, self.holding[agent_id], contact_id))
        self.holding[agent_id] = contact_id

    def done(self, agent_id: str, contact_id: str) -> None:
        self.completed[contact_id] += 1
        self.holding.pop(agent_id, None)
        if len(self.completed) == CONTACTS:
            self.all_completed.set()


async def _desktop(
    stub: router_service_pb2_grpc.RouterServiceAsyncStub,
    agent_id: str,
    metadata: tuple[tuple[str, str], ...],
    floor: Floor,
) -> None:
    call = stub.StreamOffers(pb.StreamOffersRequest(agent_id=agent_id), metadata=metadata)
    try:
        async for item in call:
            if not item.HasField("offer"):
                continue
            offer = item.offer
            floor.offered(agent_id, offer.contact_id)
            try:
                await stub.AcceptOffer(
                    pb.AcceptOfferRequest(agent_id=agent_id, offer_id=offer.offer_id), metadata=metadata
                )
                floor.accepted[offer.contact_id] += 1
                ids = {"contact_id": offer.contact_id, "agent_id": agent_id}
                await stub.EndContact(pb.EndContactRequest(**ids), metadata=metadata)
                await stub.CompleteContact(
                    pb.CompleteContactRequest(**ids, disposition_code="ok"), metadata=metadata
                )
            except grpc.aio.AioRpcError as error:
                floor.errors.append(f"{agent_id} {offer.contact_id}: {error.code().name} {error.details()}")
            floor.done(agent_id, offer.contact_id)
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.CANCELLED:
            floor.errors.append(f"stream of {agent_id}: {error.code().name} {error.details()}")


async def _run(desk_router: ServiceProcess, other_router: ServiceProcess, key: str, floor: Floor) -> None:
    metadata = (("x-api-key", key),)
    desk_channels = [grpc.aio.insecure_channel(f"127.0.0.1:{desk_router.grpc_port}") for _ in range(CHANNELS)]
    other_channel = grpc.aio.insecure_channel(f"127.0.0.1:{other_router.grpc_port}")
    desk_stubs = [router_service_pb2_grpc.RouterServiceStub(c) for c in desk_channels]
    submitters = [desk_stubs[0], router_service_pb2_grpc.RouterServiceStub(other_channel)]
    desktops = [
        asyncio.create_task(_desktop(desk_stubs[n % CHANNELS], f"a{n}", metadata, floor))
        for n in range(DESKTOPS)
    ]
    try:
        for n in range(DESKTOPS):
            status = pb.SetAgentStatusRequest(agent_id=f"a{n}", status=common_pb2.AGENT_STATUS_AVAILABLE)
            await desk_stubs[n % CHANNELS].SetAgentStatus(status, metadata=metadata)
        for start in range(0, CONTACTS, AT_ONCE):
            batch = range(start, min(start + AT_ONCE, CONTACTS))
            replies = await asyncio.gather(
                *(
                    submitters[n % 2].SubmitContact(
                        pb.SubmitContactRequest(
                            contact_id=f"c{n}", queue_id="chat", channel=common_pb2.CHANNEL_CHAT
                        ),
                        metadata=metadata,
                    )
                    for n in batch
                ),
                return_exceptions=True,
            )
            floor.errors.extend(f"submit: {reply!r}" for reply in replies if isinstance(reply, BaseException))
        await asyncio.wait_for(floor.all_completed.wait(), timeout=300)
    finally:
        for task in desktops:
            task.cancel()
        await asyncio.gather(*desktops, return_exceptions=True)
        for channel in (*desk_channels, other_channel):
            await channel.close(None)


def test_two_hundred_desktops_on_one_router_take_two_thousand_contacts_each_once(
    routers: list[ServiceProcess], redis_url: str, unique: str
) -> None:
    tenant = f"t{unique}"
    key = ApiKeyStore(redis.Redis.from_url(redis_url), pepper=unique).create(tenant, "floor")[1]
    admin = f"http://127.0.0.1:{routers[0].port}/v1"
    headers = {"X-API-Key": key}
    with httpx.Client(headers=headers, timeout=30) as http:
        assert (
            http.put(f"{admin}/queues/chat", json={"name": "Chat", "channels": ["chat"]}).status_code == 201
        )
        profile = {"queues": [{"queue_id": "chat"}], "capacity": {"chat": 1}, "voice_exclusive": False}
        for n in range(DESKTOPS):
            made = http.put(
                f"{admin}/agents/a{n}", json={"display_name": f"A{n}", "routing_profile": profile}
            )
            assert made.status_code == 201, made.text

    floor = Floor()
    asyncio.run(_run(routers[0], routers[1], key, floor))

    assert floor.errors == []
    assert floor.over_capacity == []
    every = {f"c{n}" for n in range(CONTACTS)}
    assert set(floor.offers) == every
    assert set(floor.offers.values()) == {1}
    assert floor.accepted == collections.Counter(every)
    assert floor.completed == collections.Counter(every)
    for process in routers:
        assert process.process is not None
        assert process.process.poll() is None, f"a router exited: {process.log.read_text()[-2000:]}"
        log = process.log.read_text()
        assert "worker failed" not in log
        assert "Too many connections" not in log
