"""The tickets and SLA services as their own processes, talking only over Kafka: a policy defined
over the SLA API holds a ticket created over the tickets API to a first-reply target; nobody
answers, the SLA service reports the breach, and the tickets service applies the policy's
escalation to the ticket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from helpline.auth import ApiKeyStore
from tests.integration.helpers import wait_until
from tests.integration.service_process import ServiceProcess, service_env

CALENDAR = {
    "name": "Always open",
    "time_zone": "UTC",
    "open_intervals": [
        {"weekday": day, "opens": "00:00", "closes": "24:00"}
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    ],
}
POLICY = {
    "name": "Answer fast",
    "position": 1,
    "calendar_id": "always",
    "targets": [
        {"metric": "first_reply", "priority": "normal", "target_seconds": 3, "time_basis": "business"}
    ],
    "escalations": [
        {
            "metric": "first_reply",
            "trigger": "breach",
            "actions": [{"raise_priority": "urgent"}, {"move_to_tier": "L2"}],
        }
    ],
}


@pytest.fixture
def services(
    redis_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> Iterator[tuple[ServiceProcess, ServiceProcess, str]]:
    key = ApiKeyStore(redis.Redis.from_url(redis_url), pepper=unique).create(f"t{unique}", "e2e")[1]
    processes = [
        ServiceProcess(name, service_env(name, redis_url, kafka_bootstrap, unique), tmp_path / f"{name}.log")
        for name in ("tickets", "sla")
    ]
    for process in processes:
        process.start()
    yield processes[0], processes[1], key
    assert [process.stop() for process in processes] == [0, 0]


def test_a_breached_first_reply_escalates_the_ticket(
    services: tuple[ServiceProcess, ServiceProcess, str],
) -> None:
    tickets_service, sla_service, key = services
    headers = {"X-API-Key": key}
    with (
        httpx.Client(
            base_url=f"http://127.0.0.1:{sla_service.port}/v1/sla", headers=headers, timeout=5
        ) as sla,
        httpx.Client(
            base_url=f"http://127.0.0.1:{tickets_service.port}/v1", headers=headers, timeout=5
        ) as tickets,
    ):
        assert sla.put("/calendars/always", json=CALENDAR).status_code == 201
        assert sla.put("/policies/fast", json=POLICY).status_code == 201
        created = tickets.post("/tickets", json={"subject": "No dial tone", "requester_id": "cust-1"})
        assert created.status_code == 201, created.text
        ticket_id = created.json()["id"]

        def escalated() -> bool:
            ticket = tickets.get(f"/tickets/{ticket_id}").json()
            return bool(ticket["priority"] == "urgent" and ticket["tier"] == "L2")

        wait_until(escalated, timeout=60, what="the tickets service to apply the SLA breach's escalation")
        status = sla.get(f"/tickets/{ticket_id}").json()
        (first_reply,) = [m for m in status["metrics"] if m["metric"] == "first_reply"]
        # The escalation made the ticket urgent, for which the policy sets no first-reply target:
        # the instance counts on without one, and stays breached.
        assert first_reply["state"] == "breached"
        assert first_reply["breached_at"] is not None
