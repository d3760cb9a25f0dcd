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

import json
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.compose.centre import drive_and_hold_to_ledger
from tests.compose.stack import SERVICES, ComposeStack, gateway, inspect, progress, running_compose

# The stack's start and stop count towards the first test's time (pytest-timeout's default is 300 s).
pytestmark = pytest.mark.timeout(900)


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
    for name in ("kafka", "redis", "router", "tickets", "sla", "metrics", "notify", "prometheus"):
        assert states[name]["Health"]["Status"] == "healthy", name
    finished = _time(topics["FinishedAt"])
    for name in ("router", "tickets", "sla", "metrics", "notify"):
        assert _time(states[name]["StartedAt"]) >= finished, f"{name} started before the topics existed"
    assert _time(topics["StartedAt"]) >= _time(states["kafka"]["StartedAt"])

    for name in ("router", "tickets", "sla", "metrics", "notify"):
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
    """The simulated centre through the published ports, its KPIs held to its ledger (centre.py)."""
    ports = compose_stack.ports
    drive_and_hold_to_ledger(
        tenant=f"compose{compose_stack.project[-8:]}",
        pepper=compose_stack.pepper,
        redis_url=f"redis://127.0.0.1:{ports.redis}/0",
        kafka_bootstrap=f"127.0.0.1:{ports.kafka}",
        router_http=f"http://127.0.0.1:{ports.router_http}",
        router_grpc=f"127.0.0.1:{ports.router_grpc}",
        sla_http=f"http://127.0.0.1:{ports.sla_http}",
        tickets_grpc=f"127.0.0.1:{ports.tickets_grpc}",
        tickets_http=f"http://127.0.0.1:{ports.tickets_http}",
        notify_http=f"http://127.0.0.1:{ports.notify_http}",
        # Compose's default network of the project, which notify's container is on.
        receiver_host=gateway(f"{compose_stack.project}_default"),
        prometheus_url=f"http://127.0.0.1:{ports.prometheus}",
        progress=progress,
    )


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
    for name in ("topics", "router", "tickets", "sla", "metrics", "notify"):
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
