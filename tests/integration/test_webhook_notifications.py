"""The tickets, SLA and notify services as their own processes, talking only over Kafka, and a
tenant's webhook receiver on 127.0.0.1: the SLA policy's notify action on a first-reply warning
reaches the receiver, signed, and so does the survey a solve asks for, once, while a second solve
for the same requester within the tenant's throttle asks for none."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from standardwebhooks import Webhook

from helpline.auth import ApiKeyStore
from tests.integration.helpers import wait_until
from tests.integration.notify.receiver import Receiver, receiving
from tests.integration.service_process import ServiceProcess, service_env

NOTIFICATION = "helpline.sla.notification_requested.v1"
SURVEY = "helpline.ticket.survey_requested.v1"
CALENDAR = {
    "name": "Always open",
    "time_zone": "UTC",
    "open_intervals": [
        {"weekday": day, "opens": "00:00", "closes": "24:00"}
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    ],
}
# Warned at 75% of 4 s: the notification comes about 3 s after the ticket.
POLICY = {
    "name": "Answer fast",
    "position": 1,
    "calendar_id": "always",
    "targets": [
        {"metric": "first_reply", "priority": "normal", "target_seconds": 4, "time_basis": "calendar"}
    ],
    "escalations": [
        {
            "metric": "first_reply",
            "trigger": "warning",
            "actions": [{"notify": {"targets": ["mailto:lead@example.com"], "template": "first-reply-late"}}],
        }
    ],
}


@pytest.fixture
def services(
    redis_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> Iterator[dict[str, ServiceProcess]]:
    extra = {"notify": {"HELPLINE_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}}
    processes = {
        name: ServiceProcess(
            name,
            service_env(name, redis_url, kafka_bootstrap, unique, **extra.get(name, {})),
            tmp_path / f"{name}.log",
        )
        for name in ("tickets", "sla", "notify")
    }
    for process in processes.values():
        process.start()
    yield processes
    assert [process.stop() for process in processes.values()] == [0, 0, 0]


def _events(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    """Every CloudEvent the receiver got, each signature checked by the Standard Webhooks library."""
    events = []
    for request in receiver.at("/hooks"):
        Webhook(secret).verify(request.body, request.headers)
        events.append(json.loads(request.body))
    return events


def _of(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [event["data"] for event in events if event["type"] == event_type]


def test_sla_notifications_and_surveys_reach_the_tenants_webhook(
    services: dict[str, ServiceProcess], redis_url: str, unique: str
) -> None:
    key = ApiKeyStore(redis.Redis.from_url(redis_url), pepper=unique).create(f"t{unique}", "admin")[1]
    headers = {"X-API-Key": key}

    def client(name: str, prefix: str) -> httpx.Client:
        base_url = f"http://127.0.0.1:{services[name].port}{prefix}"
        return httpx.Client(base_url=base_url, headers=headers, timeout=5)

    with (
        receiving() as receiver,
        client("sla", "/v1/sla") as sla,
        client("tickets", "/v1") as tickets,
        client("notify", "/v1") as notify,
    ):
        subscribed = notify.post(
            "/webhooks", json={"url": receiver.url("/hooks"), "event_types": [NOTIFICATION, SURVEY]}
        )
        assert subscribed.status_code == 201, subscribed.text
        secret = subscribed.json()["secret"]
        settings = tickets.put("/settings/surveys", json={"kinds": ["csat", "ces"], "throttle_days": 7})
        assert settings.status_code == 200, settings.text
        assert sla.put("/calendars/always", json=CALENDAR).status_code == 201
        assert sla.put("/policies/fast", json=POLICY).status_code == 201

        created = tickets.post("/tickets", json={"subject": "No dial tone", "requester_id": "cust-1"})
        assert created.status_code == 201, created.text
        ticket_id = created.json()["id"]
        wait_until(
            lambda: bool(_of(_events(receiver, secret), NOTIFICATION)),
            timeout=30,
            what="the first-reply warning's notification at the receiver",
        )
        (notification,) = [
            n for n in _of(_events(receiver, secret), NOTIFICATION) if n["ticket_id"] == ticket_id
        ]
        assert notification["trigger"] == "SLA_TRIGGER_WARNING"
        assert notification["metric"] == "SLA_METRIC_FIRST_REPLY"
        assert notification["recipients"] == ["mailto:lead@example.com"]
        assert notification["template"] == "first-reply-late"
        assert notification["target"] == "4s"

        def solve(ticket: str) -> None:
            solved = tickets.post(f"/tickets/{ticket}/transition", json={"status": "solved"})
            assert solved.status_code == 200, solved.text

        solve(ticket_id)
        wait_until(
            lambda: bool(_of(_events(receiver, secret), SURVEY)), timeout=30, what="the survey request"
        )
        (survey,) = _of(_events(receiver, secret), SURVEY)
        assert (survey["ticket_id"], survey["requester_id"]) == (ticket_id, "cust-1")
        assert survey["kinds"] == ["SURVEY_KIND_CSAT", "SURVEY_KIND_CES"]

        # Within the throttle: reopened and solved again, and another ticket of the same requester,
        # ask nothing. A third requester's solve, after them, shows the surveys have come through.
        assert tickets.post(f"/tickets/{ticket_id}/transition", json={"status": "open"}).status_code == 200
        solve(ticket_id)
        again = tickets.post("/tickets", json={"subject": "Still no tone", "requester_id": "cust-1"})
        solve(again.json()["id"])
        other = tickets.post("/tickets", json={"subject": "Bill", "requester_id": "cust-2"})
        solve(other.json()["id"])
        wait_until(
            lambda: len(_of(_events(receiver, secret), SURVEY)) >= 2, timeout=30, what="cust-2's survey"
        )
        surveys = _of(_events(receiver, secret), SURVEY)
        assert [s["requester_id"] for s in surveys] == ["cust-1", "cust-2"]
        # The delivery log agrees: two survey requests, each delivered at its first attempt.
        deliveries = notify.get(f"/webhooks/{subscribed.json()['id']}/deliveries").json()["items"]
        asked = [d for d in deliveries if d["event_type"] == SURVEY]
        assert [(d["status"], d["attempts"]) for d in asked] == [("delivered", 1), ("delivered", 1)]
