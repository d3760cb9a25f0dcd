"""A Helpline service as a benchmark's child process, configured by environment like a pod: started,
checked ready on its /readyz, stopped with SIGTERM as an orchestrator stops it; its stderr (the JSON
log) kept in a file for a post-mortem."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from devstack.local_stack import REPO_ROOT

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
_POLL_S = 0.2


def cpu_seconds_of(pid: int) -> float:
    """User plus system time of a running process (every thread) so far."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name in parentheses may hold spaces; utime and stime are fields 14 and 15.
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServiceError(RuntimeError):
    """The service exited or never became ready; the message names its log."""


class ServiceProcess:
    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.env = env
        self.log_path = log_path
        self.http_port = int(env["HELPLINE_HTTP_PORT"])
        self.grpc_port = int(env["HELPLINE_GRPC_PORT"])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"],
                env=self.env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            self.check_alive()
            if time.monotonic() > deadline:
                raise ServiceError(f"{self.name} was not ready within {timeout_s:.0f} s; see {self.log_path}")
            time.sleep(_POLL_S)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/readyz", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise ServiceError(f"{self.name} exited with {code}; see {self.log_path}")

    def cpu_seconds(self) -> float:
        """User plus system time of the whole process (every thread) so far."""
        return 0.0 if self.process is None else cpu_seconds_of(self.process.pid)

    def stop(self) -> int | None:
        """SIGTERM; its exit code, or None if it was never started."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)
