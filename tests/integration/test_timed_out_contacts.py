"""The router and the tickets service as their own processes, talking only over Kafka: callers wait
their queue's maximum with no agent logged in, the router's timer times them out, and the tickets
service makes each a ticket from the context the gateway gave, once however often the router's
event comes (the outbox relays at least once)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import redis

from helpline.auth import ApiKeyStore
from helpline.business_hours import Calendar, OpenInterval
from helpline.clock import SystemClock
from helpline.roles import Role
from helpline.v1 import common_pb2, router_service_pb2, router_service_pb2_grpc
from services.router.composition import Router
from services.router.domain.model import Channel, Queue, TimeoutAction
from tests.integration.helpers import wait_until
from tests.integration.service_process import ServiceProcess, service_env

MAX_WAIT = timedelta(seconds=2)


@pytest.fixture
def services(
    redis_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    env = {"HELPLINE_TIMER_POLL_SECONDS": "0.05"}
    processes = [
        ServiceProcess(
            name, service_env(name, redis_url, kafka_bootstrap, unique, **env), tmp_path / f"{name}.log"
        )
        for name in ("router", "tickets")
    ]
    for process in processes:
        process.start()
    yield processes[0], processes[1]
    assert [process.stop() for process in processes] == [0, 0]


def test_callers_timed_out_by_their_queue_become_one_ticket_each(
    services: tuple[ServiceProcess, ServiceProcess], redis_url: str, unique: str
) -> None:
    router_service, tickets_service = services
    tenant = f"t{unique}"
    router = Router(redis.Redis.from_url(redis_url), SystemClock())
    for queue_id, action in (("q-vm", TimeoutAction.VOICEMAIL), ("q-ticket", TimeoutAction.TICKET)):
        router.catalog.put_queue(
            Queue(
                queue_id,
                tenant,
                queue_id,
                frozenset({Channel.VOICE}),
                max_wait=MAX_WAIT,
                timeout_action=action,
            )
        )
    keys = ApiKeyStore(redis.Redis.from_url(redis_url), pepper=unique)
    gateway = (("x-api-key", keys.create(tenant, "gateway", role=Role.GATEWAY)[1]),)
    with grpc.insecure_channel(f"127.0.0.1:{router_service.grpc_port}") as channel:
        stub = router_service_pb2_grpc.RouterServiceStub(channel)
        for contact_id, queue_id, context in (
            (
                "c-vm",
                "q-vm",
                common_pb2.ContactContext(
                    customer_id="cust-1",
                    intent="billing",
                    attributes={"voicemail_recording": "https://pbx.example/rec/1"},
                ),
            ),
            ("c-ticket", "q-ticket", common_pb2.ContactContext(customer_address="+447700900001")),
        ):
            submit = router_service_pb2.SubmitContactRequest(
                contact_id=contact_id, channel=common_pb2.CHANNEL_VOICE, queue_id=queue_id, context=context
            )
            stub.SubmitContact(submit, metadata=gateway, timeout=5)

    reader = {"X-API-Key": keys.create(tenant, "reader", role=Role.READER)[1]}
    with httpx.Client(
        base_url=f"http://127.0.0.1:{tickets_service.port}/v1", headers=reader, timeout=5
    ) as api:

        def by_contact() -> dict[tuple[str, ...], dict[str, Any]]:
            listed = api.get("/tickets", params={"limit": 100})
            assert listed.status_code == 200, listed.text
            return {tuple(ticket["contact_ids"]): ticket for ticket in listed.json()["items"]}

        wait_until(lambda: len(by_contact()) == 2, timeout=30, what="a ticket for each timed-out caller")
        tickets = by_contact()
    assert sorted(tickets) == [("c-ticket",), ("c-vm",)]
    voicemail, missed = tickets[("c-vm",)], tickets[("c-ticket",)]
    assert (voicemail["subject"], voicemail["requester_id"], voicemail["channel"]) == (
        "Voicemail: billing",
        "cust-1",
        "voice",
    )
    assert voicemail["tags"] == ["timed_out", "voicemail"]
    assert "https://pbx.example/rec/1" in voicemail["description"]
    assert (missed["subject"], missed["tags"]) == ("Missed contact from +447700900001", ["timed_out"])


def test_a_caller_after_hours_is_told_the_opening_and_becomes_one_ticket(
    services: tuple[ServiceProcess, ServiceProcess], redis_url: str, unique: str
) -> None:
    router_service, tickets_service = services
    tenant = f"t{unique}"
    now = datetime.now(UTC)
    # Open only the whole day after tomorrow (UTC): closed now, and opening at its midnight.
    opening = datetime.combine(now.date() + timedelta(days=2), time(0), tzinfo=UTC)
    hours = Calendar("later", "Later", "UTC", (OpenInterval.parse(opening.weekday(), "00:00", "24:00"),))
    router = Router(redis.Redis.from_url(redis_url), SystemClock())
    router.catalog.put_calendar(tenant, hours)
    router.catalog.put_queue(
        Queue(
            "q-night",
            tenant,
            "Night",
            frozenset({Channel.VOICE}),
            calendar_id="later",
            closed_action=TimeoutAction.VOICEMAIL,
        )
    )
    keys = ApiKeyStore(redis.Redis.from_url(redis_url), pepper=unique)
    gateway = (("x-api-key", keys.create(tenant, "gateway", role=Role.GATEWAY)[1]),)
    submit = router_service_pb2.SubmitContactRequest(
        contact_id="c-night",
        channel=common_pb2.CHANNEL_VOICE,
        queue_id="q-night",
        context=common_pb2.ContactContext(customer_id="cust-2", intent="outage"),
    )
    with grpc.insecure_channel(f"127.0.0.1:{router_service.grpc_port}") as channel:
        stub = router_service_pb2_grpc.RouterServiceStub(channel)
        # The gateway retries: the same answer, and still one ticket.
        answers = [stub.SubmitContact(submit, metadata=gateway, timeout=5) for _ in range(2)]
    for answer in answers:
        assert (answer.closed, answer.closed_action, answer.position) == (
            True,
            common_pb2.TIMEOUT_ACTION_VOICEMAIL,
            0,
        )
        assert answer.next_opening.ToDatetime(UTC) == opening

    reader = {"X-API-Key": keys.create(tenant, "reader", role=Role.READER)[1]}
    with httpx.Client(
        base_url=f"http://127.0.0.1:{tickets_service.port}/v1", headers=reader, timeout=5
    ) as api:

        def listed() -> list[dict[str, Any]]:
            found = api.get("/tickets", params={"limit": 100})
            assert found.status_code == 200, found.text
            items: list[dict[str, Any]] = found.json()["items"]
            return items

        wait_until(lambda: len(listed()) >= 1, timeout=30, what="the after-hours caller's ticket")
        (ticket,) = listed()
    assert (ticket["contact_ids"], ticket["subject"], ticket["tags"]) == (
        ["c-night"],
        "Voicemail: outage",
        ["after_hours", "voicemail"],
    )
