"""Three router processes share one Redis and one broker under concurrent load: contacts arrive
on the ingress topic (the consumer group splits its partitions among them) while desktops accept,
reject and complete through the gRPC API of all three, and halfway one replica is SIGKILLed and
started again. Every contact still completes, and every contact and agent event published to
Kafka is checked: no agent over capacity, no contact on offer twice at once."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis

from helpline.auth import ApiKeyStore
from helpline.bus import make_producer, send
from helpline.clock import SystemClock
from helpline.events import from_record, new_event, signed, to_record
from helpline.ingress_secrets import IngressSecrets
from helpline.ingress_signing import IngressKey
from helpline.kafka.reading import reader
from helpline.v1 import common_pb2, contact_events_pb2, router_service_pb2, router_service_pb2_grpc
from services.router.composition import Router
from services.router.domain.contact import ContactStatus
from services.router.domain.model import Channel, CrossChannelRule, Queue, QueueMembership, RoutingProfile
from services.router.usecases.configuration import AgentConfig
from tests.integration.helpers import wait_until
from tests.integration.router.invariants import violations
from tests.integration.service_process import ServiceProcess, service_env

REPLICAS = 3
AGENTS = 9
CONTACTS = 90
QUEUES = ("q0", "q1", "q2")
# Answers the router may refuse because another desktop or a timer got there first.
# UNAVAILABLE: the replica a desktop talks to is being killed and restarted.
_RACES = {
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.UNAVAILABLE,
}


@pytest.fixture
def replicas(
    redis_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> Iterator[list[ServiceProcess]]:
    processes = [
        ServiceProcess(
            "router", service_env("router", redis_url, kafka_bootstrap, unique), tmp_path / f"r{n}.log"
        )
        for n in range(REPLICAS)
    ]
    for process in processes:
        process.start()
    yield processes
    assert [process.stop() for process in processes] == [0] * REPLICAS


def _configure(router: Router, tenant: str) -> None:
    for queue_id in QUEUES:
        router.catalog.put_queue(Queue(queue_id, tenant, queue_id, frozenset({Channel.CHAT, Channel.VOICE})))
    for i in range(AGENTS):
        members = tuple(QueueMembership(q, priority=1 + (i + n) % 2) for n, q in enumerate(QUEUES))
        profile = RoutingProfile(members, {Channel.CHAT: 2, Channel.VOICE: 1}, CrossChannelRule.ANY, False)
        router.catalog.put_agent(tenant, AgentConfig(f"a{i}", {}, profile=profile))


def _publish_contacts(bootstrap: str, key: IngressKey, halfway: Callable[[], None]) -> None:
    producer = make_producer(bootstrap, "gateway")
    rng = random.Random(7)
    for n in range(CONTACTS):
        if n == CONTACTS // 2:
            producer.flush()
            halfway()
        received = contact_events_pb2.ContactReceived(
            tenant_id=key.tenant,
            contact_id=f"c{n}",
            channel=rng.choice((common_pb2.CHANNEL_CHAT, common_pb2.CHANNEL_VOICE)),
            queue_id=rng.choice(QUEUES),
        )
        envelope = new_event(received, source="/test/gateway", subject=f"c{n}")
        send(producer, signed(to_record(envelope, "helpline.contacts.ingress"), envelope, key))
        time.sleep(0.01)
    producer.flush()
    producer.close()


def _desktop(router: Router, stub: Any, key: str, tenant: str, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    metadata = (("x-api-key", key),)
    while not stop.is_set():
        agent_id = f"a{rng.randrange(AGENTS)}"
        record = router.store.agent(tenant, agent_id)
        if record is None:
            continue
        try:
            if record.offer is not None and record.agent.state.value == "offered":
                if rng.random() < 0.9:
                    request = router_service_pb2.AcceptOfferRequest(
                        agent_id=agent_id, offer_id=record.offer.offer_id
                    )
                    stub.AcceptOffer(request, metadata=metadata, timeout=5)
                else:
                    reject = router_service_pb2.RejectOfferRequest(
                        agent_id=agent_id, offer_id=record.offer.offer_id
                    )
                    stub.RejectOffer(reject, metadata=metadata, timeout=5)
            for contact_id in record.contacts:
                done = router_service_pb2.CompleteContactRequest(
                    contact_id=contact_id, agent_id=agent_id, disposition_code="done"
                )
                stub.CompleteContact(done, metadata=metadata, timeout=5)
        except grpc.RpcError as error:
            if error.code() not in _RACES:
                raise
        time.sleep(0.005)


def _crash_and_restart(replica: ServiceProcess) -> None:
    replica.kill()
    replica.start()


def _all_completed(router: Router, tenant: str) -> bool:
    records = router.store.contacts(tenant, [f"c{n}" for n in range(CONTACTS)])
    return len(records) == CONTACTS and all(r.contact.status is ContactStatus.COMPLETED for r in records)


def _published(bootstrap: str, tenant: str) -> list[Any]:
    """The tenant's contact and agent events on Kafka, each partition in order, read until every
    contact's completion arrived."""
    events: list[Any] = []
    completed: set[str] = set()
    deadline = time.monotonic() + 60
    with reader(bootstrap, ["helpline.contacts", "helpline.agents"]) as consumer:
        while len(completed) < CONTACTS and time.monotonic() < deadline:
            for record in consumer.poll(0.5, 500):
                message = from_record(record.headers, record.value).message
                if getattr(message, "tenant_id", "") != tenant:
                    continue
                events.append(message)
                if isinstance(message, contact_events_pb2.ContactCompleted):
                    completed.add(message.contact_id)
    assert len(completed) == CONTACTS, f"{CONTACTS - len(completed)} completions never reached Kafka"
    return events


def test_three_routers_keep_both_invariants_on_every_event(
    replicas: list[ServiceProcess], redis_url: str, kafka_bootstrap: str, unique: str
) -> None:
    tenant = f"t{unique}"
    router = Router(redis.Redis.from_url(redis_url), SystemClock())
    _configure(router, tenant)
    key = ApiKeyStore(redis.Redis.from_url(redis_url), pepper=unique).create(tenant, "desks")[1]
    channels = [grpc.insecure_channel(f"127.0.0.1:{p.grpc_port}") for p in replicas]
    stubs = [router_service_pb2_grpc.RouterServiceStub(channel) for channel in channels]
    for i in range(AGENTS):
        request = router_service_pb2.SetAgentStatusRequest(
            agent_id=f"a{i}", status=common_pb2.AGENT_STATUS_AVAILABLE
        )
        stubs[i % REPLICAS].SetAgentStatus(request, metadata=(("x-api-key", key),), timeout=5)
    stop = threading.Event()
    desks = [
        threading.Thread(target=_desktop, args=(router, stubs[n], key, tenant, stop, n), daemon=True)
        for n in range(REPLICAS)
    ]
    for desk in desks:
        desk.start()
    try:
        gateway = IngressSecrets(redis.Redis.from_url(redis_url)).create(tenant, "gateway")
        _publish_contacts(kafka_bootstrap, gateway, lambda: _crash_and_restart(replicas[1]))
        wait_until(lambda: _all_completed(router, tenant), timeout=120, what="every contact to complete")
    finally:
        stop.set()
        for desk in desks:
            desk.join(10)
        for channel in channels:
            channel.close()
    events = _published(kafka_bootstrap, tenant)
    assert violations(events) == []
    offered_by = {event.agent_id for event in events if isinstance(event, contact_events_pb2.ContactOffered)}
    assert len(offered_by) > 1
