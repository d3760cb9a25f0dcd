"""Oversized and hostile input thrown at the router and tickets services as processes, by a tenant
with a valid key: each gets a clear 4xx or INVALID_ARGUMENT naming the field, nothing reaches the
outbox, an entry Kafka refuses is dead-lettered, and both services keep serving another tenant."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import redis

from helpline.auth import ApiKeyStore
from helpline.bus import make_producer, publish
from helpline.outbox import dead_letter_stream
from helpline.records import OutgoingRecord, Record
from helpline.v1 import common_pb2, router_service_pb2_grpc, ticket_service_pb2_grpc
from helpline.v1 import router_service_pb2 as router_pb
from helpline.v1 import ticket_service_pb2 as tickets_pb
from services.router.storage.store import OUTBOX_STREAM
from tests.integration.helpers import read_all, wait_until
from tests.integration.service_process import ServiceProcess, service_env

BIG = 1_500_000


@pytest.fixture
def services(
    redis_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> Iterator[dict[str, ServiceProcess]]:
    started = {}
    try:
        for name in ("router", "tickets"):
            process = ServiceProcess(
                name, service_env(name, redis_url, kafka_bootstrap, unique), tmp_path / f"{name}.log"
            )
            process.start()
            started[name] = process
        yield started
    finally:
        for process in started.values():
            process.stop()


def _rejection(call: object, request: object, key: str) -> tuple[grpc.StatusCode, str]:
    try:
        call(request, metadata=(("x-api-key", key),), timeout=15)  # type: ignore[operator]
    except grpc.RpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


def test_hostile_requests_are_refused_clearly_and_other_tenants_are_served(
    services: dict[str, ServiceProcess], redis_url: str, kafka_bootstrap: str, unique: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    keys = ApiKeyStore(client, pepper=unique)
    attacker = keys.create(f"evil{unique}", "attacker")[1]
    victim_tenant = f"good{unique}"
    victim = keys.create(victim_tenant, "victim")[1]
    router, tickets = services["router"], services["tickets"]
    outbox_before = client.xlen(OUTBOX_STREAM)

    with (
        grpc.insecure_channel(f"127.0.0.1:{router.grpc_port}") as router_channel,
        grpc.insecure_channel(f"127.0.0.1:{tickets.grpc_port}") as tickets_channel,
    ):
        routing = router_service_pb2_grpc.RouterServiceStub(router_channel)
        ticketing = ticket_service_pb2_grpc.TicketServiceStub(tickets_channel)

        huge = router_pb.SubmitContactRequest(contact_id="c-1", queue_id="q")
        huge.context.bot_transcript_summary = "x" * BIG
        code, _ = _rejection(routing.SubmitContact, huge, attacker)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        long = router_pb.SubmitContactRequest(contact_id="c-1", queue_id="q")
        long.context.bot_transcript_summary = "x" * 100_000
        code, details = _rejection(routing.SubmitContact, long, attacker)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert details.startswith("too_long: context.bot_transcript_summary")

        code, _ = _rejection(
            ticketing.CreateTicket, tickets_pb.CreateTicketRequest(requester_id="r" * BIG), attacker
        )
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        code, details = _rejection(
            ticketing.CreateTicket,
            tickets_pb.CreateTicketRequest(subject="s", requester_id="r" * 200),
            attacker,
        )
        assert (code, details.split(" ")[:2]) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            ["too_long:", "requester_id"],
        )
        code, details = _rejection(
            ticketing.AssignTicket, tickets_pb.AssignTicketRequest(ticket_id="t-1", assignee_id="-"), attacker
        )
        assert (code, details.split(":")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_id")

        rest = f"http://127.0.0.1:{tickets.port}/v1/tickets"
        headers = {"X-API-Key": attacker, "content-type": "application/json"}
        body = json.dumps({"subject": "s", "requester_id": "r", "description": "x" * 2_000_000})
        assert httpx.post(rest, content=body, headers=headers, timeout=30).status_code == 413
        refused = httpx.post(rest, json={"subject": "s", "requester_id": "r" * 200}, headers=headers)
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")

        # Nothing of it reached the router's outbox.
        assert client.xlen(OUTBOX_STREAM) <= outbox_before

        # From a gateway on the Kafka ingress: dead-lettered with the reason, never handled.
        gateway = make_producer(kafka_bootstrap, "test-gateway")
        event = {
            "specversion": "1.0",
            "id": f"e-{unique}",
            "source": "/gateway/bot",
            "type": "helpline.contact.received.v1",
            "datacontenttype": "application/json",
            "data": {
                "tenantId": f"evil{unique}",
                "contactId": f"c-{unique}",
                "channel": "CHANNEL_CHAT",
                "context": {"botTranscriptSummary": "x" * 100_000},
            },
        }
        publish(
            gateway,
            OutgoingRecord(
                "helpline.contacts.ingress",
                json.dumps(event).encode(),
                f"c-{unique}".encode(),
                [("content-type", b"application/cloudevents+json")],
            ),
        )
        gateway.close()
        dead = _dead_letter_of(kafka_bootstrap, f"c-{unique}")
        assert b"too_long" in dict(dead.headers)["dlq_error"]

        # An entry Kafka refuses for good, left in the outbox by an older version: dead-lettered,
        # and the relay goes on.
        client.xadd(
            OUTBOX_STREAM,
            {"t": "helpline.contacts", "k": b"c-huge", "v": b"x" * 1_100_000, "h": b"[]"},
        )
        wait_until(lambda: client.xlen(dead_letter_stream(OUTBOX_STREAM)) >= 1, what="the dead letter")

        # The other tenant is served by both services throughout.
        admin = f"http://127.0.0.1:{router.port}/v1/queues/q"
        queue = {"name": "Chat", "channels": ["chat"]}
        assert httpx.put(admin, json=queue, headers={"X-API-Key": victim}).status_code in (200, 201)
        placed = routing.SubmitContact(
            router_pb.SubmitContactRequest(
                contact_id=f"ok-{unique}", queue_id="q", channel=common_pb2.CHANNEL_CHAT
            ),
            metadata=(("x-api-key", victim),),
            timeout=15,
        )
        assert placed.queue_id == "q"
        created = ticketing.CreateTicket(
            tickets_pb.CreateTicketRequest(subject="Fine", requester_id="ann"),
            metadata=(("x-api-key", victim),),
            timeout=15,
        )
        assert created.ticket.ticket_id

    for process in (router, tickets):
        assert process.process is not None
        assert process.process.poll() is None, f"{process.name} exited"
        assert "worker failed" not in process.log.read_text()


def _dead_letter_of(bootstrap: str, contact_id: str) -> Record:
    found: list[Record] = []

    def arrived() -> bool:
        found[:] = [
            r
            for r in read_all(bootstrap, "helpline.contacts.ingress.dlq", expected=10_000, timeout=2)
            if r.key == contact_id.encode()
        ]
        return bool(found)

    wait_until(arrived, what="the ingress event in the DLQ")
    return found[0]
