"""Bounded comments on the service as it runs (real Redis and Kafka, REST over HTTP and gRPC).

A ticket of 5,000 comments of 64 KiB (320 MiB in Redis) is read whole, page by page, through both
APIs while no call costs more than a few MiB: neither in the process's heap (tracemalloc; the
service runs in this process) nor from Redis (the bytes Redis sends). An AddComment retry on it is
answered without reading the list. And on a service with a small limit, the comment past it is
refused with its rule, writing and emitting nothing.
"""

from __future__ import annotations

import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
import httpx
import pytest
import redis

from helpline.auth import ApiKeyStore
from helpline.domain import new_id
from helpline.events import Envelope, from_record
from helpline.kafka.port import Consumer, Start
from helpline.kafka.reading import reader
from helpline.service import ServiceRuntime
from helpline.v1 import common_pb2
from helpline.v1 import ticket_service_pb2 as pb
from helpline.v1.ticket_service_pb2_grpc import TicketServiceStub
from services.tickets.app import TicketsSettings, build
from services.tickets.domain import commands
from services.tickets.domain.model import Actor, AuthorType, Ticket
from services.tickets.store import TOPIC, TicketStore, encode_comment_cursor
from tests.integration.api_checks import problem, refused
from tests.integration.helpers import wait_until
from tests.stack_provider import Endpoints

T = "/v1/tickets"
COMMENTS = 5_000
BODY = "x" * 65_536
MIB = 1024 * 1024
# What one call may cost, against the 320 MiB the ticket holds: a page is at most 1 MiB of stored
# comments, and the process holds it a few times over at once (the Redis reply, the decoded
# comments, the response, and the client's copy of it).
REPLY_MAX = 2 * MIB
HEAP_GROWTH_MAX = 8 * MIB
R = TypeVar("R")


@dataclass(frozen=True)
class Running:
    runtime: ServiceRuntime
    http: httpx.Client
    stub: TicketServiceStub
    metadata: tuple[tuple[str, str], ...]
    tenant: str
    redis: redis.Redis


@contextmanager
def running(stack: Endpoints, **settings: Any) -> Iterator[Running]:
    """The tickets service built and run as in production, with a key for a tenant of its own."""
    pepper = uuid.uuid4().hex
    runtime = build(
        TicketsSettings(
            service_name="tickets",
            redis_url=stack.redis_url,
            auth_redis_url=stack.redis_url,
            kafka_bootstrap=stack.kafka_bootstrap,
            api_key_pepper=pepper,
            http_port=0,
            grpc_port=0,
            log_format="console",
            **settings,
        )
    )
    thread = threading.Thread(target=runtime.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    tenant = f"t{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(stack.redis_url)
    try:
        wait_until(lambda: runtime.grpc_port is not None, what="the gRPC server")
        _, key = ApiKeyStore(runtime.auth_redis, pepper=pepper).create(tenant, "desk")
        channel = grpc.insecure_channel(f"127.0.0.1:{runtime.grpc_port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        http = httpx.Client(
            base_url=f"http://127.0.0.1:{runtime.http_port}", headers={"X-API-Key": key}, timeout=30
        )
        yield Running(runtime, http, TicketServiceStub(channel), (("x-api-key", key),), tenant, client)
        http.close()
        channel.close()
    finally:
        runtime.stop()
        thread.join(60)
        # The big ticket is 320 MiB of Redis: give it back to the tests that follow.
        for found in client.scan_iter(f"tk:{{{tenant}}}:*", count=1000):
            client.unlink(found)
        client.close()


def redis_sent(client: redis.Redis) -> int:
    """The bytes Redis has sent to all its clients so far."""
    stats: dict[str, Any] = client.info("stats")
    return int(stats["total_net_output_bytes"])


@dataclass
class Meter:
    """The most one call made the Python heap grow (every thread's allocations, so the service's
    too) and the most bytes Redis sent during one call.

    Growth per call, not the peak of a whole run: httpx's responses sit in reference cycles, so the
    test's own spent replies wait for the cyclic collector, and a whole run's peak would count them."""

    client: redis.Redis
    heap: int = 0
    redis: int = 0

    def __call__(self, call: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        sent = redis_sent(self.client)
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = call(*args, **kwargs)
        self.heap = max(self.heap, tracemalloc.get_traced_memory()[1] - start)
        self.redis = max(self.redis, redis_sent(self.client) - sent)
        return result


@contextmanager
def metered(client: redis.Redis) -> Iterator[Meter]:
    tracemalloc.start()
    try:
        yield Meter(client)
    finally:
        tracemalloc.stop()


def seed(store: TicketStore, ticket: Ticket, count: int) -> Ticket:
    """Add `count` comments through the store's commit script, as the service does, but without
    their events: the test is about reading, and the outbox would carry another 320 MiB to Kafka."""
    agent = Actor(AuthorType.AGENT, "seed")
    for _ in range(count):
        decision = commands.add_comment(
            ticket, BODY, agent, datetime.now(UTC), comment_id=new_id(), public=False
        )
        ticket = store.commit(ticket, decision.ticket, [], decision.comment)
    return ticket


# -- a ticket of 5,000 comments of 64 KiB --------------------------------------------------------


@dataclass(frozen=True)
class Big:
    service: Running
    ticket_id: str
    by_api: list[str]  # the last comments, made through REST and gRPC


@pytest.fixture(scope="module")
def big(stack: Endpoints) -> Iterator[Big]:
    """The service, and a ticket of COMMENTS comments of 64 KiB: the description through REST,
    most through the store's commit script, the last four through REST and gRPC."""
    with running(stack) as service:
        created = service.http.post(T, json={"subject": "A long story", "description": BODY})
        assert created.status_code == 201, created.text
        ticket_id = created.json()["id"]
        store = TicketStore(service.redis, close_after_ms=1)
        ticket = store.get(service.tenant, ticket_id)
        assert ticket is not None
        seed(store, ticket, COMMENTS - 5)
        by_api = []
        for n in range(2):
            reply = service.http.post(f"{T}/{ticket_id}/comments", json={"body": BODY, "public": False})
            assert reply.status_code == 201, reply.text
            by_api.append(reply.json()["comment"]["id"])
            request = pb.AddCommentRequest(ticket_id=ticket_id, body=BODY, public=False, request_id=f"r{n}")
            by_api.append(
                service.stub.AddComment(request, metadata=service.metadata, timeout=30).comment.comment_id
            )
        yield Big(service, ticket_id, by_api)


def test_the_comments_are_read_page_by_page_through_rest(big: Big) -> None:
    http = big.service.http
    ids: list[str] = []
    cursor = ""
    with metered(big.service.redis) as meter:
        while True:
            params = {"page_size": 100, "cursor": cursor}
            reply = meter(http.get, f"{T}/{big.ticket_id}/comments", params=params).raise_for_status()
            assert len(reply.content) < REPLY_MAX
            page = reply.json()
            assert 1 <= len(page["items"]) <= 100
            ids += [item["id"] for item in page["items"]]
            if not page["next_cursor"]:
                break
            cursor = page["next_cursor"]
    assert meter.heap < HEAP_GROWTH_MAX
    assert meter.redis < REPLY_MAX
    assert len(ids) == len(set(ids)) == COMMENTS
    assert ids[-4:] == big.by_api


def test_the_comments_are_read_page_by_page_through_grpc(big: Big) -> None:
    stub, metadata = big.service.stub, big.service.metadata
    with metered(big.service.redis) as meter:
        request = pb.GetTicketRequest(ticket_id=big.ticket_id, include_comments=True)
        first = meter(stub.GetTicket, request, metadata=metadata, timeout=30)
        assert first.ticket.ticket_id == big.ticket_id
        assert first.ByteSize() < REPLY_MAX
        assert 1 <= len(first.comments) <= 50
        ids = [c.comment_id for c in first.comments]
        token = first.next_comments_page_token
        while token:
            more = pb.ListCommentsRequest(ticket_id=big.ticket_id, page_size=100, page_token=token)
            page = meter(stub.ListComments, more, metadata=metadata, timeout=30)
            assert page.ByteSize() < REPLY_MAX
            assert 1 <= len(page.comments) <= 100
            ids += [c.comment_id for c in page.comments]
            token = page.next_page_token
    assert meter.heap < HEAP_GROWTH_MAX
    assert meter.redis < REPLY_MAX
    assert len(ids) == len(set(ids)) == COMMENTS
    assert ids[-4:] == big.by_api


def test_a_comment_retry_is_answered_without_reading_the_comments(big: Big) -> None:
    service = big.service
    request = pb.AddCommentRequest(ticket_id=big.ticket_id, body="On our way", request_id="retry-1")
    first = service.stub.AddComment(request, metadata=service.metadata, timeout=30)
    with metered(service.redis) as meter:
        again = meter(service.stub.AddComment, request, metadata=service.metadata, timeout=30)
    assert again == first
    # Reading the ticket and its one comment, against the 320 MiB of comments.
    assert meter.heap < HEAP_GROWTH_MAX
    assert meter.redis < REPLY_MAX
    # The first call's comment stands once, at the end: the page from just past the 5,000 others.
    after_the_others = encode_comment_cursor(COMMENTS, big.ticket_id)
    last = service.http.get(f"{T}/{big.ticket_id}/comments", params={"cursor": after_the_others}).json()
    assert [item["id"] for item in last["items"]] == [first.comment.comment_id]
    assert service.http.get(f"{T}/{big.ticket_id}").json()["comment_count"] == COMMENTS + 1
    refused(
        lambda: service.stub.AddComment(
            pb.AddCommentRequest(ticket_id=big.ticket_id, body="Another text", request_id="retry-1"),
            metadata=service.metadata,
            timeout=30,
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "request_id_reused",
    )


# -- the limit -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(stack: Endpoints) -> Iterator[Running]:
    """The service with room for three comments a ticket."""
    with running(stack, ticket_max_comments=3) as service:
        yield service


def _events_until(
    consumer: Consumer, ticket_id: str, last: Callable[[Envelope], bool], timeout: float = 30
) -> list[Envelope]:
    """The ticket's events from the consumer's position up to the one `last` accepts."""
    found: list[Envelope] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in consumer.poll(0.5, 500):
            envelope = from_record(record.headers, record.value, record.key)
            if envelope.subject == ticket_id:
                found.append(envelope)
                if last(envelope):
                    return found
    raise AssertionError(f"no closing event for {ticket_id} in {timeout} s; saw {[e.type for e in found]}")


def _moves_to_pending(envelope: Envelope) -> bool:
    message: Any = envelope.message
    moved = envelope.type == "helpline.ticket.status_changed.v1"
    return moved and bool(message.to_status == common_pb2.TICKET_STATUS_PENDING)


def test_the_comment_past_the_limit_is_refused_writing_and_emitting_nothing(
    small: Running, stack: Endpoints
) -> None:
    service = small
    with reader(stack.kafka_bootstrap, [TOPIC], Start.END) as consumer:
        tid = service.http.post(T, json={"subject": "Chatty", "description": "one"}).json()["id"]
        for body in ("two", "three"):
            assert service.http.post(f"{T}/{tid}/comments", json={"body": body}).status_code == 201
        full = service.http.get(f"{T}/{tid}").json()

        refusal = problem(service.http.post(f"{T}/{tid}/comments", json={"body": "four"}), 409)
        assert (refusal["rule"], refusal["limit"]) == ("comment_limit_reached", "3")
        refused(
            lambda: service.stub.AddComment(
                pb.AddCommentRequest(ticket_id=tid, body="four", request_id="r-4"),
                metadata=service.metadata,
                timeout=10,
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            "comment_limit_reached",
        )
        # A change without a comment still applies; its event comes after anything the refusals
        # could have emitted, since one ticket's events keep their order.
        moved = service.stub.TransitionTicket(
            pb.TransitionTicketRequest(ticket_id=tid, to_status=common_pb2.TICKET_STATUS_PENDING),
            metadata=service.metadata,
            timeout=10,
        ).ticket
        events = _events_until(consumer, tid, _moves_to_pending)
    commented: list[Any] = [e.message for e in events if e.type == "helpline.ticket.commented.v1"]
    assert [c.body for c in commented] == ["two", "three"]
    assert moved.version == full["version"] + 1
    page = service.http.get(f"{T}/{tid}/comments").json()
    assert [item["body"] for item in page["items"]] == ["one", "two", "three"]
    assert page["next_cursor"] is None
    assert service.http.get(f"{T}/{tid}").json()["comment_count"] == 3
