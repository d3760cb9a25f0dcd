"""A service behind Redis Sentinel while its primary dies: Sentinel promotes a replica and the
service follows it by itself, with no restart; its API keys (read through the Sentinels too) keep
working, callers get 503 at most while no primary answers, and, as the service waits for a replica
before it answers a write (HELPLINE_REDIS_WAIT_REPLICAS=1), no ticket answered 201 is lost."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from helpline.auth import ApiKeyStore
from helpline.kafka.reading import reader
from helpline.redis_client import connect
from helpline.settings import load_settings
from services.tickets.store import TOPIC as TICKETS_TOPIC
from tests.integration.helpers import wait_until
from tests.integration.sentinel_group import MASTER_NAME, SentinelGroup
from tests.integration.service_process import ServiceProcess, service_env

# With Sentinels the URL's host is never used: only its database (and credentials, TLS) count.
SERVICE_DB = "redis://sentinel-named-primary/3"
AUTH_DB = "redis://sentinel-named-primary/2"
# Longer than the replica wait (HELPLINE_REDIS_WAIT_TIMEOUT_MS, 1 s): writes in it are refused.
PARTITION_S = 2.0


class Callers:
    """Clients creating tickets one after another, `count` at once, noting every answer."""

    def __init__(self, base: str, key: str, count: int = 4) -> None:
        self.base, self.key = base, key
        self.answers: list[tuple[float, int, str]] = []
        self.done = threading.Event()
        self._threads = [threading.Thread(target=self._call, daemon=True) for _ in range(count)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.done.set()
        for thread in self._threads:
            thread.join(30)

    def _call(self) -> None:
        with httpx.Client(base_url=self.base, headers={"X-API-Key": self.key}, timeout=30) as client:
            while not self.done.is_set():
                reply = client.post("/v1/tickets", json={"subject": "Failover", "requester_id": "ann"})
                ticket = reply.json().get("id", "") if reply.status_code == 201 else ""
                self.answers.append((time.monotonic(), reply.status_code, ticket))

    def created_since(self, instant: float) -> int:
        return sum(1 for at, status, _ in self.answers if at > instant and status == 201)


def test_a_service_follows_a_failover_without_a_restart_and_loses_no_acknowledged_write(
    sentinel_group: SentinelGroup, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    sentinel = {
        "HELPLINE_REDIS_SENTINELS": sentinel_group.sentinels,
        "HELPLINE_REDIS_MASTER_NAME": MASTER_NAME,
        "HELPLINE_REDIS_WAIT_REPLICAS": "1",
    }
    settings = load_settings(redis_sentinels=sentinel_group.sentinels, redis_master_name=MASTER_NAME)
    key = ApiKeyStore(connect(AUTH_DB, settings), pepper=unique).create(f"t{unique}", "failover")[1]
    env = service_env(
        "tickets", SERVICE_DB, kafka_bootstrap, unique, HELPLINE_AUTH_REDIS_URL=AUTH_DB, **sentinel
    )
    process = ServiceProcess("tickets", env, tmp_path / "tickets.log")
    process.start()
    callers = Callers(f"http://127.0.0.1:{process.port}", key)
    callers.start()
    try:
        wait_until(lambda: callers.created_since(0) >= 20, what="tickets created before the failover")
        # The replicas fall behind (a partition) and then the primary dies: whatever it acknowledged
        # meanwhile exists nowhere else. Waiting for a replica, the service acknowledged none of it.
        sentinel_group.partition_replicas()
        time.sleep(PARTITION_S)
        old_port = sentinel_group.kill_primary()
        killed_at = time.monotonic()
        new_port = sentinel_group.wait_for_failover(old_port)
        assert new_port != old_port
        wait_until(
            lambda: callers.created_since(time.monotonic() - 1) >= 5,
            timeout=60,
            what="tickets created on the new primary",
        )
        recovered_at = time.monotonic()
        callers.stop()

        assert process.process is not None
        assert process.process.poll() is None, "the service exited instead of following the failover"
        statuses = {status for _, status, _ in callers.answers}
        assert statuses <= {201, 503}, statuses
        acknowledged = [ticket for _, status, ticket in callers.answers if status == 201]
        assert callers.created_since(killed_at), "nothing was created after the failover"
        with httpx.Client(base_url=f"http://127.0.0.1:{process.port}", headers={"X-API-Key": key}) as client:
            lost = [t for t in acknowledged if client.get(f"/v1/tickets/{t}").status_code != 200]
        assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged tickets lost in the failover"
        unpublished = _unpublished(kafka_bootstrap, set(acknowledged))
        assert not unpublished, f"{len(unpublished)} acknowledged tickets never reached Kafka"
        assert process.ready()
        print(f"failover: primary killed, writes back after {recovered_at - killed_at:.1f} s")
    finally:
        callers.stop()
        code = process.stop()
    assert code == 0


def _unpublished(bootstrap: str, tickets: set[str], timeout: float = 60) -> set[str]:
    """The tickets among `tickets` whose events (keyed by ticket id) did not reach the tickets
    topic within `timeout`: the relay publishes them only past the replica barrier."""
    missing = set(tickets)
    deadline = time.monotonic() + timeout
    with reader(bootstrap, [TICKETS_TOPIC]) as consumer:
        while missing and time.monotonic() < deadline:
            missing -= {record.key.decode() for record in consumer.poll(0.5, 500) if record.key}
    return missing
