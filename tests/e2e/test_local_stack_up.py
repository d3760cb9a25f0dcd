"""What a user does first: `helpline up` (what `make up` runs), publish an event, tail it decoded,
`helpline down`; and `helpline up --redis-sentinel`, whose services ride out the loss of their
primary. Each runs a whole second stack on shifted ports in its own folder."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import httpx

from devstack.local_stack import REPO_ROOT, port_open
from tests.integration.helpers import wait_until
from tests.integration.sentinel_group import named_primary

BASE_PORTS = (9092, 9093, 9094, 6379, 9090, 8081, 8082, 8083, 8084, 8085, 50051, 50052, 50053)
SENTINEL_PORTS = (6380, 6381, 26379, 26380, 26381)


def _free_offset() -> int:
    for _ in range(50):
        offset = random.randrange(10_000, 14_000, 10)
        if not any(port_open(p + offset) for p in BASE_PORTS + SENTINEL_PORTS):
            return offset
    raise RuntimeError("no free block of ports for a second stack")


def _stack_env(tmp_path: Path, offset: int) -> dict[str, str]:
    return {
        **os.environ,
        "HELPLINE_STACK_DIR": str(tmp_path / "var"),
        "HELPLINE_STACK_PORT_OFFSET": str(offset),
        "HELPLINE_KAFKA_BOOTSTRAP": f"127.0.0.1:{9092 + offset}",
        "HELPLINE_AUTH_REDIS_URL": f"redis://127.0.0.1:{6379 + offset}/0",
        "COLUMNS": "200",
    }


def helpline(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "helpline.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_up_publish_tail_down(tmp_path: Path) -> None:
    offset = _free_offset()
    env = _stack_env(tmp_path, offset)
    try:
        started = helpline(env, "up")
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"127.0.0.1:{9092 + offset}" in started.stdout
        for http in (8081, 8082, 8083, 8084, 8085):
            assert f"http://127.0.0.1:{http + offset}" in started.stdout
            assert httpx.get(f"http://127.0.0.1:{http + offset}/readyz", timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{9090 + offset}/-/ready", timeout=5).status_code == 200

        published = helpline(
            env,
            "publish",
            "helpline.contact.received.v1",
            "--json",
            '{"tenantId": "acme", "contactId": "c-42", "channel": "CHANNEL_CHAT"}',
        )
        assert published.returncode == 0, published.stderr
        assert "helpline.contacts[" in published.stdout

        tailed = helpline(env, "tail", "helpline.contacts", "--from-beginning", "--max", "1", "--idle", "20")
        assert tailed.returncode == 0, tailed.stderr
        assert "helpline.contact.received.v1" in tailed.stdout
        assert "c-42" in tailed.stdout
        assert '"channel": "CHANNEL_CHAT"' in tailed.stdout

        key = helpline(env, "apikey", "create", "acme", "--role", "admin", "--name", "e2e")
        assert key.returncode == 0, key.stderr
        assert key.stdout.strip().startswith("hlk_")

        # A gateway's contact: the ingress takes only events signed by a secret of their tenant.
        secret = helpline(env, "ingress-secret", "create", "acme", "--name", "e2e")
        assert secret.returncode == 0, secret.stderr
        signed = helpline(
            env | {"HELPLINE_INGRESS_KEY": secret.stdout.strip()},
            "publish",
            "helpline.contact.received.v1",
            "--topic",
            "helpline.contacts.ingress",
            "--json",
            '{"tenantId": "acme", "contactId": "c-43", "channel": "CHANNEL_BOT"}',
        )
        assert signed.returncode == 0, signed.stderr
        assert "helpline.contacts.ingress[" in signed.stdout
        routed = helpline(env, "tail", "helpline.contacts", "--from-beginning", "--max", "2", "--idle", "20")
        assert "c-43" in routed.stdout, routed.stdout + routed.stderr

        simulated = helpline(env, "simulate", "--hours", "0.02", "--no-live", "--tenant", "e2e")
        assert simulated.returncode == 0, simulated.stdout + simulated.stderr
        assert "Helpline simulation, tenant e2e" in simulated.stdout
        assert "draining" in simulated.stdout

        assert_make_up_runs_the_simulator_until_ctrl_c(env)
    finally:
        stopped = helpline(env, "down", timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    for port in (9092, 6379, 8081, 8084):
        assert not port_open(port + offset), f"port {port + offset} still answers after down"


def _ctrl_c_delivered() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def assert_make_up_runs_the_simulator_until_ctrl_c(env: dict[str, str]) -> None:
    """`helpline up --simulate` (what `make up` runs) stays in the foreground simulating, and
    Ctrl-C stops the simulator and the whole stack cleanly."""
    with subprocess.Popen(
        [sys.executable, "-m", "helpline.cli", "up", "--simulate", "--no-live"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # As from a terminal: a test run started in the background inherits Ctrl-C ignored.
        preexec_fn=_ctrl_c_delivered,
    ) as up:
        assert up.stdout is not None
        seen = []
        for line in up.stdout:
            seen.append(line)
            if line.startswith("arrivals "):
                break
        assert any("Simulating a contact centre" in line for line in seen), "".join(seen)
        assert any("/graph?g0.expr=" in line for line in seen), "".join(seen)
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=120)
        output = "".join(seen) + rest
        assert up.returncode == 0, output
    # Logs share the output (librdkafka's at exit among them), so the line is looked for, not last.
    assert "stopped" in rest.splitlines(), output
    for port in (9092, 6379, 8081, 8084):
        assert not port_open(port + int(env["HELPLINE_STACK_PORT_OFFSET"])), f"{port} still answers"


def test_up_with_redis_sentinel_follows_a_failover_and_down_stops_it_all(tmp_path: Path) -> None:
    """`helpline up --redis-sentinel`: a primary, two replicas and three Sentinels, which the table
    shows; the services find the primary through the Sentinels, so when it is killed they are ready
    again on the replica promoted, with no restart; `helpline down` stops every process."""
    offset = _free_offset()
    env = _stack_env(tmp_path, offset)
    sentinels = [26379 + offset, 26380 + offset, 26381 + offset]
    services = {name: 8081 + n + offset for n, name in enumerate(("router", "tickets", "sla", "metrics"))}
    run = tmp_path / "var" / "run"
    try:
        started = helpline(env, "up", "--redis-sentinel", "--no-prometheus")
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"redis://127.0.0.1:{6379 + offset} (primary)" in started.stdout
        for port in (6380, 6381):
            assert f"redis://127.0.0.1:{port + offset} (replica of {6379 + offset})" in started.stdout
        assert ",".join(f"127.0.0.1:{port}" for port in sentinels) in started.stdout
        pids = {name: (run / f"{name}.pid").read_text() for name in services}

        os.killpg(int((run / "redis.pid").read_text()), signal.SIGKILL)
        wait_until(lambda: named_primary(sentinels[0]) not in (None, 6379 + offset), what="a failover")
        for name, port in services.items():
            wait_until(partial(_ready, port), timeout=30, what=f"{name} ready on the new primary")
        assert {name: (run / f"{name}.pid").read_text() for name in services} == pids
    finally:
        stopped = helpline(env, "down", timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    for port in (6379, 6380, 6381, *(p - offset for p in sentinels), 8081, 8084):
        assert not port_open(port + offset), f"port {port + offset} still answers after down"


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
