"""The tickets service SIGKILLed under load and started again: every write it acknowledged is in
Redis, and every version of every ticket reached Kafka as events (the outbox, not a dual write,
so a crash between the two loses nothing)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
from google.protobuf.message import Message

from helpline.auth import ApiKeyStore
from helpline.events import from_record
from helpline.kafka.reading import reader
from services.tickets.store import TOPIC
from tests.integration.helpers import wait_until
from tests.integration.service_process import ServiceProcess, service_env

WORKERS = 4
KILL_AFTER_ACKS = 120


@dataclass
class Acknowledged:
    """What the service said it did: each ticket's latest acknowledged version."""

    versions: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    count: int = 0

    def record(self, ticket: dict[str, object]) -> None:
        with self.lock:
            ticket_id, version = str(ticket["id"]), int(str(ticket["version"]))
            self.versions[ticket_id] = max(version, self.versions.get(ticket_id, 0))
            self.count += 1


@pytest.fixture
def service(
    redis_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> Iterator[tuple[ServiceProcess, str]]:
    env = service_env("tickets", redis_url, kafka_bootstrap, unique)
    key = ApiKeyStore(redis.Redis.from_url(redis_url), pepper=unique).create(f"k{unique}", "load")[1]
    # Both runs log to one file, kept by pytest's tmp_path for a failure's post-mortem.
    process = ServiceProcess("tickets", env, tmp_path / "tickets.log")
    yield process, key
    process.stop()


def work(base: str, key: str, acked: Acknowledged, stop: threading.Event) -> None:
    """Create tickets and work each a few steps, recording what the service acknowledged."""
    steps = [
        ("post", "/transition", {"status": "open"}),
        ("post", "/comments", {"body": "on it"}),
        ("post", "/transition", {"status": "solved"}),
    ]
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=5) as client:
        while not stop.is_set():
            try:
                created = client.post("/v1/tickets", json={"subject": "load", "description": "help"})
                if created.status_code != 201:
                    continue
                acked.record(created.json())
                ticket_id = created.json()["id"]
                for method, suffix, body in steps:
                    response = client.request(method, f"/v1/tickets/{ticket_id}{suffix}", json=body)
                    if response.status_code in (200, 201):
                        payload = response.json()
                        acked.record(payload.get("ticket", payload))
            except httpx.HTTPError:
                if stop.wait(0.05):
                    return


def event_version(message: Message) -> int | None:
    """The ticket version an event describes, from its snapshot or its `version`; None for the
    survey request, which rides along with a solve."""
    fields = message.DESCRIPTOR.fields_by_name
    if "ticket" in fields:
        return int(getattr(message, "ticket").version)  # noqa: B009 -- a field of some messages only
    if "version" in fields:
        return int(getattr(message, "version"))  # noqa: B009
    return None


def versions_on_kafka(bootstrap: str, wanted: set[str], until: dict[str, int]) -> dict[str, set[int]]:
    """Every version each wanted ticket's events carry, read from the tickets topic until every
    ticket has reached its `until` version (or the read times out)."""
    seen: dict[str, set[int]] = {ticket_id: set() for ticket_id in wanted}
    with reader(bootstrap, [TOPIC]) as consumer:

        def complete() -> bool:
            for record in consumer.poll(0.5, 500):
                envelope = from_record(record.headers, record.value, record.key)
                ticket_id = envelope.subject
                version = event_version(envelope.message)
                if ticket_id in seen and version is not None:
                    seen[ticket_id].add(version)
            return all(max(seen[t], default=0) >= v for t, v in until.items())

        wait_until(complete, timeout=90, what="every acknowledged version on Kafka")
    return seen


def test_a_killed_service_loses_no_acknowledged_write(
    service: tuple[ServiceProcess, str], kafka_bootstrap: str
) -> None:
    process, key = service
    base = f"http://127.0.0.1:{process.port}"
    acked = Acknowledged()
    stop = threading.Event()
    process.start()
    workers = [threading.Thread(target=work, args=(base, key, acked, stop)) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    wait_until(lambda: acked.count >= KILL_AFTER_ACKS, timeout=120, what="load to build up")
    process.kill()
    acked_before_restart = acked.count
    process.start()
    wait_until(
        lambda: acked.count >= acked_before_restart + KILL_AFTER_ACKS, timeout=120, what="load after restart"
    )
    stop.set()
    for worker in workers:
        worker.join(30)

    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=5) as client:
        for ticket_id, version in acked.versions.items():
            stored = client.get(f"/v1/tickets/{ticket_id}")
            assert stored.status_code == 200, f"acknowledged ticket {ticket_id} is gone"
            assert stored.json()["version"] >= version
            acked.versions[ticket_id] = stored.json()["version"]
    seen = versions_on_kafka(kafka_bootstrap, set(acked.versions), acked.versions)
    for ticket_id, version in acked.versions.items():
        assert seen[ticket_id] == set(range(1, version + 1)), ticket_id
    assert process.stop() == 0
