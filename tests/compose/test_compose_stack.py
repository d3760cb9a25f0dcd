"""docker-compose.yml for real (`make compose-test`): the whole platform brought up under podman with
Compose v2, every healthcheck passing, the simulated centre run against it from the host through the
published ports, the KPIs in Prometheus held to the simulator's ledger as the end-to-end test holds
them (tests/e2e/test_simulation.py, whose scenario and comparisons this reuses), then the stack
brought down with its volumes. tests/compose/stack.py says how the stack runs on this machine.

What differs from the end-to-end test is only what the compose file sets: Prometheus scrapes and
evaluates its rules every 15 s (deploy/compose/prometheus.yml), not every second, so the reads wait
longer; the services run with the file's settings (the API keys' default rate, say).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import redis

from helpline.auth import ApiKeyStore
from helpline.ingress_secrets import IngressSecrets
from simulator.keys import VALID_FOR, RunKeys, run_keys
from simulator.runner import Connections, Simulation
from tests.compose.stack import SERVICES, ComposeStack, inspect, progress, running_compose
from tests.e2e.platform import SlaEvents, Slot, counted, eventually, wait_for_queues
from tests.e2e.prometheus import Prometheus
from tests.e2e.test_simulation import (
    assert_agents_and_tickets,
    assert_means,
    assert_service_levels,
    assert_sla_events,
    assert_surveys,
    scenario,
)
from tests.integration.helpers import wait_until

# The stack's start and stop count towards the first test's time (pytest-timeout's default is 300 s).
pytestmark = pytest.mark.timeout(900)

# Two scrapes and a rule evaluation at the compose file's 15 s, with room: how long a KPI may take
# to reach Prometheus (and a recording rule to catch up) after the run.
SETTLE_S = 90.0


@pytest.fixture(scope="module")
def compose_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    with running_compose(tmp_path_factory.mktemp("compose")) as stack:
        yield stack


def test_the_containers_run_as_the_file_says(compose_stack: ComposeStack) -> None:
    """What a runner could silently leave out, as podman really ran it: the dependency order of the
    conditions (the topic creator exited 0 before any service started, after Kafka was healthy), every
    healthcheck healthy, and the services' read-only root, tmpfs, dropped capabilities, no new
    privileges; the dependencies' data on the project's named volumes."""
    states = {name: inspect(compose_stack.container(name))["State"] for name in SERVICES}
    topics = states["topics"]
    assert (topics["Status"], topics["ExitCode"]) == ("exited", 0)
    for name in ("kafka", "redis", "router", "tickets", "sla", "metrics", "prometheus"):
        assert states[name]["Health"]["Status"] == "healthy", name
    finished = _time(topics["FinishedAt"])
    for name in ("router", "tickets", "sla", "metrics"):
        assert _time(states[name]["StartedAt"]) >= finished, f"{name} started before the topics existed"
    assert _time(topics["StartedAt"]) >= _time(states["kafka"]["StartedAt"])

    for name in ("router", "tickets", "sla", "metrics"):
        host = inspect(compose_stack.container(name))["HostConfig"]
        assert host["ReadonlyRootfs"] is True, name
        assert "/tmp" in host["Tmpfs"], name
        assert {"CAP_NET_RAW", "CAP_CHOWN"} <= set(host["CapDrop"]), name
        assert any(opt.startswith("no-new-privileges") for opt in host["SecurityOpt"]), name
    for name, volume in (("kafka", "kafka-data"), ("redis", "redis-data"), ("prometheus", "prometheus-data")):
        mounts = inspect(compose_stack.container(name))["Mounts"]
        named = {m.get("Name") for m in mounts if m["Type"] == "volume"}
        assert f"{compose_stack.project}_{volume}" in named, (name, mounts)


def _time(stamp: str) -> datetime:
    """podman's RFC 3339 times, nanoseconds and all."""
    day, _, rest = stamp.partition("T")
    clock, zone = rest[:8], rest[8:].lstrip("0123456789.")
    fraction = rest[8:].removesuffix(zone).lstrip(".")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{day}T{clock}.{fraction}{'+00:00' if zone == 'Z' else zone}")


def test_the_compose_stack_reports_the_kpis_the_simulated_centre_lived(compose_stack: ComposeStack) -> None:
    ports = compose_stack.ports
    tenant = f"compose{compose_stack.project[-8:]}"
    # The operator's part, on the published Redis: keys hashed with the stack's pepper in the auth
    # database (0, HELPLINE_AUTH_REDIS_URL) and the tenant's ingress secret, as the e2e platform makes them.
    auth = redis.Redis.from_url(f"redis://127.0.0.1:{ports.redis}/0")
    api_keys = ApiKeyStore(auth, pepper=compose_stack.pepper)
    admin = api_keys.create(tenant, "compose-test", expires_at=datetime.now(UTC) + VALID_FOR)[1]
    signer = IngressSecrets(auth).create(tenant, "simulator")
    connections = Connections(
        kafka_bootstrap=f"127.0.0.1:{ports.kafka}",
        router_http=f"http://127.0.0.1:{ports.router_http}",
        router_grpc=f"127.0.0.1:{ports.router_grpc}",
        keys=RunKeys.shared(admin),
        ingress_key=signer,
        sla_http=f"http://127.0.0.1:{ports.sla_http}",
        tickets_grpc=f"127.0.0.1:{ports.tickets_grpc}",
    )
    prometheus = Prometheus(f"http://127.0.0.1:{ports.prometheus}")
    centre = scenario(tenant)
    with run_keys(api_keys, centre) as keys:
        sim = Simulation(centre, replace(connections, keys=keys))
        try:
            sim.configure()
            every_queue = {("e2e-voice", "voice"), ("e2e-chat", "chat"), ("e2e-email", "email")}
            progress("configured the centre; waiting for its queues in Prometheus (15 s scrapes)")
            wait_for_queues(prometheus, tenant, every_queue)
            progress(f"simulating {centre.hours * 60:.0f} minutes at {centre.speed:g}x")
            started = time.monotonic()
            floor = asyncio.run(sim.run())
            progress(f"simulation done in {time.monotonic() - started:.0f} s")
        finally:
            sim.close()
    assert sim.problems == []
    truth = floor.ledger.figures(sim.thresholds())
    queued = {slot: float(seen.queued) for slot, seen in truth.queues.items()}
    where = f'tenant="{tenant}"'

    def count(name: str) -> dict[Slot, float]:
        return counted(prometheus, name, tenant, queued)

    progress("holding the KPIs in Prometheus to the ledger")
    wait_until(
        lambda: count("helpline_contacts_queued_total") == queued,
        timeout=SETTLE_S,
        what="every contact in Prometheus",
    )
    assert count("helpline_contacts_answered_total") == {
        s: float(f.answered) for s, f in truth.queues.items()
    }
    assert count("helpline_contacts_abandoned_total") == {
        s: float(f.abandoned) for s, f in truth.queues.items()
    }
    assert_service_levels(prometheus, where, sim, truth)
    eventually(lambda: assert_means(prometheus, where, truth), timeout=SETTLE_S)
    eventually(lambda: assert_surveys(prometheus, where, truth), timeout=SETTLE_S)
    eventually(lambda: assert_agents_and_tickets(prometheus, where, sim), timeout=SETTLE_S)
    self_served = sum(t.self_served for t in floor.ledger.contacts.values())
    assert self_served > 0
    eventually(
        lambda: _equal(
            prometheus.values(f"sum(helpline_contacts_self_served_total{{{where}}})"), [self_served]
        ),
        timeout=SETTLE_S,
    )
    assert len(floor.ledger.tickets) > 0
    with SlaEvents(connections.kafka_bootstrap, tenant) as alerts:
        eventually(lambda: assert_sla_events(alerts, sim), timeout=SETTLE_S)
    progress("the KPIs match the ledger")


def _equal(found: list[float], expected: list[float]) -> None:
    assert found == expected


def test_no_container_restarted_nor_logged_an_error(compose_stack: ComposeStack) -> None:
    """After the run: `restart: unless-stopped` would hide a service that crashed and came back, so
    none may have restarted; and none of the four services logged an error (their JSON lines)."""
    for name in SERVICES:
        if name == "topics":
            continue
        info = inspect(compose_stack.container(name))
        assert info["State"]["Running"], name
        assert info.get("RestartCount", 0) == 0, f"{name} restarted {info['RestartCount']} times"
    errors: list[str] = []
    records = 0
    for name in ("topics", "router", "tickets", "sla", "metrics"):
        logs = compose_stack.compose("logs", "--no-color", "--no-log-prefix", name)
        for line in (logs.stdout + logs.stderr).splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            records += isinstance(record, dict)
            if isinstance(record, dict) and record.get("level") in ("error", "critical"):
                errors.append(f"{name}: {line[:300]}")
    assert records, "no JSON log line read: the check would pass on anything"
    assert not errors, "\n".join(errors)
