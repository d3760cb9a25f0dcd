"""A Helpline service run as its own process, as an orchestrator runs it: started, checked
ready over HTTP, killed or stopped with SIGTERM; its log kept for a failure's post-mortem."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from devstack.local_stack import REPO_ROOT, free_port
from tests.integration.helpers import wait_until


class ServiceProcess:
    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.env = env
        self.port = int(env["HELPLINE_HTTP_PORT"])
        self.grpc_port = int(env["HELPLINE_GRPC_PORT"])
        # Readiness is served where the operations endpoints are: their own port, when it has one.
        self.ops_port = int(env.get("HELPLINE_OPS_PORT") or self.port)
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, wait_ready: bool = True) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"],
                env=self.env,
                cwd=REPO_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        if wait_ready:
            wait_until(self.ready, timeout=60, what=f"the {self.name} service to be ready")

    def ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.ops_port}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int | None:
        """SIGTERM, as an orchestrator stops it; the exit code, once it stopped within the grace."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(30)


@contextmanager
def running(name: str, env: dict[str, str], log: Path) -> Iterator[ServiceProcess]:
    """The service started and ready for the block, stopped with SIGTERM after it."""
    process = ServiceProcess(name, env, log)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def service_env(name: str, redis_url: str, kafka_bootstrap: str, pepper: str, **extra: str) -> dict[str, str]:
    """The environment of one replica on free ports, sharing the given Redis and Kafka."""
    return os.environ | {
        "HELPLINE_SERVICE_NAME": name,
        "HELPLINE_REDIS_URL": redis_url,
        "HELPLINE_AUTH_REDIS_URL": redis_url,
        "HELPLINE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "HELPLINE_HTTP_HOST": "127.0.0.1",
        "HELPLINE_HTTP_PORT": str(free_port()),
        "HELPLINE_GRPC_PORT": str(free_port()),
        "HELPLINE_API_KEY_PEPPER": pepper,
        # A restarted relay takes over what a killed one left pending without a long wait.
        "HELPLINE_OUTBOX_CLAIM_IDLE_MS": "1000",
        # One key plays a whole centre here: the rate a key is held to has tests of its own.
        "HELPLINE_API_KEY_RATE_PER_SECOND": "1000000",
        "HELPLINE_API_KEY_RATE_BURST": "1000000",
        **extra,
    }
