"""Where the tests' Kafka and Redis come from: one provider chain behind one fixture.

1. `HELPLINE_KAFKA_BOOTSTRAP` / `HELPLINE_REDIS_URL` when set (a stack someone already runs);
2. testcontainers when a Docker engine answers;
3. otherwise the project's own local processes (deploy/local), on free loopback ports under var/test-stack.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devstack.local_stack import REPO_ROOT, LocalStack, StackConfig, free_port

KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.0"
REDIS_IMAGE = "redis:7.4"


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    redis_url: str
    provider: str
    # Our own processes can be killed and restarted by tests; a borrowed stack cannot.
    local_stack: LocalStack | None = None


def docker_engine_answers() -> bool:
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=3)
        return bool(client.ping())
    except Exception:  # any failure to reach an engine means "no Docker here"
        return False


@contextlib.contextmanager
def _from_environment() -> Iterator[Endpoints]:
    yield Endpoints(os.environ["HELPLINE_KAFKA_BOOTSTRAP"], os.environ["HELPLINE_REDIS_URL"], "environment")


@contextlib.contextmanager
def _from_testcontainers() -> Iterator[Endpoints]:
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.redis import RedisContainer

    with KafkaContainer(KAFKA_IMAGE).with_kraft() as kafka, RedisContainer(REDIS_IMAGE) as redis_c:
        host = redis_c.get_container_host_ip()
        port = redis_c.get_exposed_port(6379)
        yield Endpoints(kafka.get_bootstrap_server(), f"redis://{host}:{port}/0", "testcontainers")


def _reap_abandoned_stacks(root: Path) -> None:
    """Stop and remove the stacks of earlier runs whose pytest process is gone (killed hard)."""
    for old in root.glob("*"):
        if old.is_dir() and old.name.isdigit() and not Path(f"/proc/{old.name}").exists():
            LocalStack(StackConfig(var_dir=old)).down()
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _from_local_processes() -> Iterator[Endpoints]:
    # One folder per pytest process, so two runs on one machine never stop each other's broker.
    root = Path(os.environ.get("HELPLINE_TEST_VAR", REPO_ROOT / "var" / "test-stack"))
    _reap_abandoned_stacks(root)
    cfg = StackConfig(
        var_dir=root / str(os.getpid()),
        kafka_port=free_port(),
        controller_port=free_port(),
        sasl_port=free_port(),
        redis_port=free_port(),
        prometheus_port=free_port(),
    )
    stack = LocalStack(cfg)
    stack.up()
    try:
        yield Endpoints(cfg.kafka_bootstrap, cfg.redis_url, "local processes", stack)
    finally:
        stack.down()
        shutil.rmtree(cfg.var_dir, ignore_errors=True)


def provide() -> contextlib.AbstractContextManager[Endpoints]:
    if os.environ.get("HELPLINE_KAFKA_BOOTSTRAP") and os.environ.get("HELPLINE_REDIS_URL"):
        return _from_environment()
    if docker_engine_answers():
        return _from_testcontainers()
    return _from_local_processes()
