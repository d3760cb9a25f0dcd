"""A Redis and a Kafka broker of a test's own, to stop, freeze and start again under the code being
tested, without touching the session's shared stack. Each is a real process from the local stack
(devstack.local_stack), signalled by its own pid only."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable
from pathlib import Path

from devstack.local_stack import LocalStack, StackConfig, free_port


class Signalled:
    """Signals a LocalStack's processes by their own pids (each leads its process group)."""

    stack: LocalStack

    def freeze(self, name: str) -> None:
        """SIGSTOP: the process keeps its sockets and answers nothing, as a stalled server does."""
        os.killpg(self._pid(name), signal.SIGSTOP)

    def thaw(self, name: str) -> None:
        os.killpg(self._pid(name), signal.SIGCONT)

    def kill(self, name: str) -> None:
        """SIGKILL, as the kernel kills a process: no shutdown, nothing flushed that it held itself."""
        os.killpg(self._pid(name), signal.SIGKILL)

    def thaw_all(self, names: Iterable[str]) -> None:
        """Before stopping: a frozen process ignores SIGTERM until it runs again."""
        for name in names:
            pid = self.stack.running_pid(name)
            if pid is not None:
                os.killpg(pid, signal.SIGCONT)

    def _pid(self, name: str) -> int:
        pid = self.stack.running_pid(name)
        assert pid is not None, f"{name} is not running"
        return pid


class PrivateStack(Signalled):
    """Redis and (when asked) Kafka on free loopback ports under `directory`."""

    def __init__(
        self,
        directory: Path,
        *,
        redis_appendfsync: str = "everysec",
        kafka_relayed_listeners: tuple[tuple[str, int, int], ...] = (),
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.cfg = StackConfig(
            redis_appendfsync=redis_appendfsync,
            kafka_relayed_listeners=kafka_relayed_listeners,
            var_dir=directory,
            kafka_port=free_port(),
            controller_port=free_port(),
            sasl_port=free_port(),
            redis_port=free_port(),
            prometheus_port=free_port(),
            # A second broker beside the session's: a smaller heap is plenty for one test.
            kafka_heap="-Xms256m -Xmx512m",
        )
        self.stack = LocalStack(self.cfg)

    @property
    def redis_url(self) -> str:
        return self.cfg.redis_url

    def db_url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.cfg.redis_port}/{db}"

    @property
    def kafka_bootstrap(self) -> str:
        return self.cfg.kafka_bootstrap

    def start(self, name: str) -> None:
        component = self.stack.redis() if name == "redis" else self.stack.kafka()
        self.stack.start(component)

    def stop(self, name: str) -> None:
        self.stack.stop(name)

    def down(self) -> None:
        self.thaw_all(("kafka", "redis"))
        self.stack.down()
