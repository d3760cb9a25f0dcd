"""docker-compose.yml run for real, under podman: Compose v2 (the binary scripts/install_docker_compose.sh
installs) against podman's Docker-compatible API, on a socket of a `podman system service` this module
starts and stops itself. docs/operations.md, "The compose stack under podman", says why this runner and
not Debian's podman-compose.

Three things of this machine the module supplies, each with the least it takes:

- the podman service runs with runc, cgroupfs and fixed rlimits (a containers.conf of its own): crun
  fails on this kernel's hybrid cgroups and the sandbox cannot raise rlimits;
- healthchecks: podman schedules a container's checks with systemd timers, and no systemd runs here,
  so a health would stay `starting` and every `depends_on: condition: service_healthy` would wait
  forever. `HealthDriver` runs `podman healthcheck run` for each container of the project that has
  a check, as the timer would: every 2 s until it is healthy (so the stack comes up without waiting a
  whole interval at each step), then at the check's own interval. podman itself counts the retries
  and honours the start period;
- images: the services' image from `make image` and the local stand-ins for Kafka, Redis and
  Prometheus (`make compose-images`), named in the env file the run writes.

Each run is its own Compose project (a unique name), on free host ports, and is always brought down
with its volumes. Containers, volumes and the network are removed through Compose, by project; the
podman service by the process id this module started.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devstack.local_stack import REPO_ROOT, free_port

PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
# What the compose test starts: everything but Grafana (no Debian package, no image to pull here:
# docs/operations.md) and the compose file's own simulator (the test runs the simulated centre on
# the host, to hold the KPIs to its ledger; a second centre would add contacts the ledger never saw).
SERVICES = ("kafka", "redis", "topics", "router", "tickets", "sla", "metrics", "notify", "prometheus")
HELPLINE_IMAGE = os.environ.get("COMPOSE_HELPLINE_IMAGE", "localhost/helpline:dev")

# The file the podman service reads instead of the machine's containers.conf.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""


def _print(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# Where progress lines go: standard error, or past pytest's capture (tests/compose/conftest.py).
progress_sink: Callable[[str], None] = _print


def progress(message: str) -> None:
    """A line on the terminal as the run goes: the long steps say what they wait for."""
    progress_sink(f"[compose {time.strftime('%H:%M:%S')}] {message}")


def compose_cli() -> list[str]:
    for candidate in (REPO_ROOT / ".tools" / "bin" / "docker-compose", shutil.which("docker-compose")):
        if candidate and Path(candidate).is_file():
            return [str(candidate)]
    raise RuntimeError("no Docker Compose v2: `make deps` installs it (scripts/install_docker_compose.sh)")


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False)


def gateway(network: str) -> str:
    """The host's address on a podman network: where the network's containers reach a server the
    test runs on the host (the simulator's webhook receiver)."""
    found = podman("network", "inspect", network, "--format", "{{range .Subnets}}{{.Gateway}} {{end}}")
    if found.returncode != 0 or not found.stdout.split():
        raise RuntimeError(f"no gateway of podman network {network}: {found.stderr.strip()}")
    return found.stdout.split()[0]


def local_images() -> dict[str, str]:
    """KAFKA_IMAGE, REDIS_IMAGE and PROMETHEUS_IMAGE as scripts/build_compose_images.sh builds them."""
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "build_compose_images.sh"), "--print-env"],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if line)


@contextmanager
def podman_service(folder: Path) -> Iterator[str]:
    """`podman system service` on a unix socket in `folder`, for as long as the block runs: its
    DOCKER_HOST."""
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    socket = folder / "podman.sock"
    log = (folder / "podman-service.log").open("w")
    process = subprocess.Popen(
        [*PODMAN, "system", "service", "--time=0", f"unix://{socket}"],
        env=os.environ | {"CONTAINERS_CONF": str(conf)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        transport = httpx.HTTPTransport(uds=str(socket))
        deadline = time.monotonic() + 30
        while True:
            try:
                with httpx.Client(transport=transport, timeout=2) as client:
                    if client.get("http://podman/_ping").status_code == 200:
                        break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"podman system service did not answer; see {log.name}")
            time.sleep(0.2)
        yield f"unix://{socket}"
    finally:
        stop(process, timeout_s=15)
        log.close()


def stop(process: subprocess.Popen[Any], timeout_s: float) -> None:
    """Stop a process this test started, by its pid: SIGTERM, then SIGKILL after `timeout_s`."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


@dataclass
class _Check:
    interval_s: float
    next_at: float = 0.0
    healthy: bool = False


@dataclass
class HealthDriver:
    """Runs the project's containers' healthchecks, as podman's systemd timers would (module doc)."""

    project: str
    until_healthy_s: float = 2.0
    checks: dict[str, _Check] = field(default_factory=dict)
    runs: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"health-{self.project}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _containers(self) -> list[str]:
        listed = podman(
            "ps", "--filter", f"label=com.docker.compose.project={self.project}", "--format", "json"
        )
        if listed.returncode != 0:
            return []
        return [entry["Id"] for entry in json.loads(listed.stdout or "[]")]

    def _check_of(self, container: str) -> _Check | None:
        found = podman(
            "inspect", "--type", "container", "--format", "{{json .Config.Healthcheck}}", container
        )
        if found.returncode != 0:
            return None
        check = json.loads(found.stdout or "null")
        if not check or not check.get("Test") or check["Test"][0] == "NONE":
            return None
        return _Check(interval_s=(check.get("Interval") or 30_000_000_000) / 1e9)

    def _loop(self) -> None:
        unchecked: set[str] = set()
        while not self._stop.is_set():
            now = time.monotonic()
            for container in self._containers():
                if container in unchecked:
                    continue
                if container not in self.checks:
                    check = self._check_of(container)
                    if check is None:
                        unchecked.add(container)
                        continue
                    self.checks[container] = check
                check = self.checks[container]
                if now < check.next_at:
                    continue
                # 0 healthy; 1 unhealthy or still in its start period; 125 gone or stopped.
                result = podman("healthcheck", "run", container, timeout=120)
                self.runs += 1
                check.healthy = result.returncode == 0
                check.next_at = time.monotonic() + (
                    check.interval_s if check.healthy else self.until_healthy_s
                )
            self._stop.wait(0.5)


@dataclass
class Ports:
    """The host ports the run publishes on: free ones, so a run never meets another stack."""

    kafka: int = field(default_factory=free_port)
    redis: int = field(default_factory=free_port)
    router_http: int = field(default_factory=free_port)
    router_grpc: int = field(default_factory=free_port)
    tickets_http: int = field(default_factory=free_port)
    tickets_grpc: int = field(default_factory=free_port)
    sla_http: int = field(default_factory=free_port)
    sla_grpc: int = field(default_factory=free_port)
    metrics_http: int = field(default_factory=free_port)
    notify_http: int = field(default_factory=free_port)
    prometheus: int = field(default_factory=free_port)

    def env(self) -> dict[str, str]:
        return {
            "KAFKA_PORT": str(self.kafka),
            "REDIS_PORT": str(self.redis),
            "ROUTER_HTTP_PORT": str(self.router_http),
            "ROUTER_GRPC_PORT": str(self.router_grpc),
            "TICKETS_HTTP_PORT": str(self.tickets_http),
            "TICKETS_GRPC_PORT": str(self.tickets_grpc),
            "SLA_HTTP_PORT": str(self.sla_http),
            "SLA_GRPC_PORT": str(self.sla_grpc),
            "METRICS_HTTP_PORT": str(self.metrics_http),
            "NOTIFY_HTTP_PORT": str(self.notify_http),
            "PROMETHEUS_PORT": str(self.prometheus),
        }


@dataclass
class ComposeStack:
    """One Compose project of docker-compose.yml: its env file (images, ports, the pepper), and
    `compose` to run Compose on it through the podman service at `docker_host`."""

    folder: Path
    docker_host: str
    project: str = field(default_factory=lambda: f"helpline-ct-{uuid.uuid4().hex[:8]}")
    ports: Ports = field(default_factory=Ports)
    # The operator's secret, as .env holds it (docs/operations.md, section 3); new for every run.
    pepper: str = field(default_factory=lambda: secrets.token_hex(32))

    def __post_init__(self) -> None:
        self.env_file = self.folder / "compose.env"
        image, _, tag = HELPLINE_IMAGE.rpartition(":")
        values = {
            "HELPLINE_API_KEY_PEPPER": self.pepper,
            "HELPLINE_IMAGE": image,
            "HELPLINE_TAG": tag,
            "HELPLINE_BIND_ADDRESS": "127.0.0.1",
            **local_images(),
            **self.ports.env(),
        }
        self.env_file.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
        self.images = [HELPLINE_IMAGE, *local_images().values()]

    def missing_images(self) -> list[str]:
        return [image for image in self.images if podman("image", "exists", image).returncode != 0]

    def compose(
        self, *args: str, timeout: float = 600, log: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = [
            *compose_cli(),
            "--project-name", self.project,
            "--project-directory", str(REPO_ROOT),
            "--file", str(COMPOSE_FILE),
            "--env-file", str(self.env_file),
            "--progress", "plain",
            *args,
        ]  # fmt: skip
        # Only what Compose needs: the caller's own variables would override the env file's.
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.folder), "DOCKER_HOST": self.docker_host}
        result = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
        if log:
            (self.folder / log).write_text(result.stdout + result.stderr)
        return result

    def up(self, services: Sequence[str] = SERVICES, wait_s: int = 300) -> None:
        """`up --wait`: every service started in the order its depends_on conditions set, and every
        healthcheck passing (the topic creator exited 0). Compose pulls and builds nothing here: the
        images exist (make image, make compose-images)."""
        result = self.compose(
            "up", "--detach", "--wait", "--wait-timeout", str(wait_s), "--pull", "never", "--no-build",
            *services, timeout=wait_s + 120, log="up.log",
        )  # fmt: skip
        if result.returncode != 0:
            raise AssertionError(
                f"compose up failed ({result.returncode}):\n{_tail(result.stderr + result.stdout)}\n"
                f"{self.states()}\n{self.logs()}"
            )

    def down(self) -> subprocess.CompletedProcess[str]:
        """Containers, network and named volumes of the project, removed."""
        return self.compose("down", "--volumes", "--remove-orphans", timeout=300, log="down.log")

    def states(self) -> str:
        result = self.compose("ps", "--all", "--format", "{{.Service}}: {{.Status}}")
        return result.stdout + result.stderr

    def logs(self, tail: int = 40) -> str:
        result = self.compose("logs", "--no-color", "--tail", str(tail))
        (self.folder / "containers.log").write_text(result.stdout + result.stderr)
        return _tail(result.stdout + result.stderr, 200)

    def container(self, service: str) -> str:
        """The id of the service's container (the one-shot's too, once it exited)."""
        result = self.compose("ps", "--all", "--quiet", service)
        ids = result.stdout.split()
        assert len(ids) == 1, f"{service}: {result.stdout}{result.stderr}"
        return ids[0]

    def leftovers(self) -> list[str]:
        """The project's containers and volumes podman still has."""
        label = f"label=com.docker.compose.project={self.project}"
        containers = podman("ps", "--all", "--filter", label, "--format", "{{.Names}}").stdout.split()
        volumes = podman("volume", "ls", "--filter", label, "--format", "{{.Name}}").stdout.split()
        return containers + volumes


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def running_compose(folder: Path) -> Iterator[ComposeStack]:
    """The platform of docker-compose.yml up and healthy; down with its volumes afterwards, whatever
    happened, and checked gone."""
    started = time.monotonic()
    with podman_service(folder / "podman") as docker_host:
        stack = ComposeStack(folder, docker_host)
        missing = stack.missing_images()
        assert not missing, f"no image {missing}: `make image` and `make compose-images` build them"
        driver = HealthDriver(stack.project)
        driver.start()
        failed = True
        try:
            progress(f"up: project {stack.project}, {', '.join(SERVICES)} (waits for every healthcheck)")
            stack.up()
            progress(f"up and healthy in {time.monotonic() - started:.0f} s ({driver.runs} healthchecks run)")
            yield stack
            failed = False
        finally:
            if failed:
                stack.logs()
                progress(f"failed: the containers' logs are in {folder / 'containers.log'}")
            took = time.monotonic()
            progress("down --volumes")
            result = stack.down()
            driver.stop()
            left = stack.leftovers()
            progress(f"down in {time.monotonic() - took:.0f} s")
        # Checked only after a run that went well: an assertion here would hide why a run failed.
        assert result.returncode == 0, f"compose down failed:\n{_tail(result.stderr)}"
        assert not left, f"compose down left {left}"


def inspect(container: str) -> dict[str, Any]:
    found = podman("inspect", "--type", "container", container)
    assert found.returncode == 0, found.stderr
    (info,) = json.loads(found.stdout)
    return dict(info)
