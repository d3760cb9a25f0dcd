"""The chaos run's own Kafka, Redis and Toxiproxy, as processes on free loopback ports, and each
service's way to them: every service reaches Kafka and Redis through proxies of its own, so a
network fault cuts one service off and leaves the others be.

Redis runs as production should without replicas: its AOF fsynced before every answer
(`appendfsync always`, docs/operations.md). A SIGKILL of the process would lose nothing even with
`everysec` (Redis writes the AOF to the kernel before it answers; the fsync guards against the
machine dying, which a run on one machine cannot do). Kafka's records are in the broker's page cache
once acknowledged, which a SIGKILL of the process keeps too.

The broker advertises each service's proxy as the address of a listener of that service's own
(StackConfig.kafka_relayed_listeners), so the service's clients, sent on from the bootstrap to
the broker's advertised address, stay behind the proxy. The simulator and the checks use the
broker's own listener, and Redis directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack.local_stack import free_port
from tests.chaos.faults import SERVICES
from tests.chaos.toxiproxy import Toxiproxy
from tests.integration.private_stack import PrivateStack


@dataclass
class ChaosStack:
    dependencies: PrivateStack
    toxiproxy: Toxiproxy
    # Service -> its environment's ways to Kafka and Redis, through its proxies.
    service_env: dict[str, dict[str, str]]

    @property
    def redis_url(self) -> str:
        return self.dependencies.redis_url

    @property
    def kafka_bootstrap(self) -> str:
        return self.dependencies.kafka_bootstrap


@contextmanager
def chaos_stack(folder: Path) -> Iterator[ChaosStack]:
    relayed = {service: (free_port(), free_port()) for service in SERVICES}
    dependencies = PrivateStack(
        folder,
        redis_appendfsync="always",
        kafka_relayed_listeners=tuple(
            (f"CHAOS_{service.upper()}", port, proxied) for service, (port, proxied) in relayed.items()
        ),
    )
    toxiproxy = Toxiproxy(dependencies.stack)
    try:
        dependencies.stack.start(toxiproxy.component())
        env = {}
        for service, (port, proxied) in relayed.items():
            toxiproxy.proxy(f"{service}->kafka", port, listen_port=proxied)
            redis_port = toxiproxy.proxy(f"{service}->redis", dependencies.cfg.redis_port)
            env[service] = {
                "HELPLINE_KAFKA_BOOTSTRAP": f"127.0.0.1:{proxied}",
                "HELPLINE_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                "HELPLINE_AUTH_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            }
        dependencies.start("redis")
        dependencies.start("kafka")
        yield ChaosStack(dependencies, toxiproxy, env)
    finally:
        dependencies.down()
