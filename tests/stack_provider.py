"""Where the tests' Kafka and Redis come from: one provider chain behind one fixture.

1. `HELPLINE_KAFKA_BOOTSTRAP` / `HELPLINE_REDIS_URL` when set (a stack someone already runs);
2. testcontainers when a Docker engine answers: Docker, or podman's `podman system service`
   (tests/container_stack.py; the images: HELPLINE_TEST_KAFKA_IMAGE, HELPLINE_TEST_REDIS_IMAGE);
3. otherwise the project's own local processes (deploy/local), on free loopback ports under var/test-stack.

`HELPLINE_TEST_STACK` picks one of them instead of the chain: `environment`, `testcontainers` or
`local` (`auto`, or unset, is the chain). A pick that cannot be met fails the session rather than
falling back, so a run is on the stack it asked for. `make test` picks `local`, what CI runs whatever
engine a machine has (docs/operations.md, "The tests on containers").
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devstack.local_stack import REPO_ROOT, LocalStack, StackConfig, free_port

CHOICES = ("auto", "environment", "testcontainers", "local")


class StackChoiceError(RuntimeError):
    """HELPLINE_TEST_STACK names a stack this machine cannot give."""


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    redis_url: str
    provider: str
    # Our own processes can be killed and restarted by tests; a borrowed stack cannot.
    local_stack: LocalStack | None = None


def docker_engine_answers() -> bool:
    """An engine answers at DOCKER_HOST, or, when it is unset, at Docker's default socket
    (/var/run/docker.sock): an installed podman answers there only if its socket service runs."""
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
    # Imported here: a session on the local processes never loads testcontainers nor docker.
    from tests.container_stack import images, kafka_and_redis

    with kafka_and_redis() as (kafka_bootstrap, redis_url):
        yield Endpoints(kafka_bootstrap, redis_url, f"testcontainers ({', '.join(images())})")


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


def _environment_set() -> bool:
    return bool(os.environ.get("HELPLINE_KAFKA_BOOTSTRAP") and os.environ.get("HELPLINE_REDIS_URL"))


def choice() -> str:
    chosen = os.environ.get("HELPLINE_TEST_STACK", "").strip().lower() or "auto"
    if chosen not in CHOICES:
        raise StackChoiceError(f"HELPLINE_TEST_STACK={chosen!r}: one of {', '.join(CHOICES)}")
    return chosen


def provide() -> contextlib.AbstractContextManager[Endpoints]:
    chosen = choice()
    if chosen == "environment" and not _environment_set():
        raise StackChoiceError(
            "HELPLINE_TEST_STACK=environment needs HELPLINE_KAFKA_BOOTSTRAP and HELPLINE_REDIS_URL"
        )
    if chosen == "testcontainers" and not docker_engine_answers():
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock (DOCKER_HOST is unset)"
        raise StackChoiceError(f"HELPLINE_TEST_STACK=testcontainers, but no Docker engine answers at {where}")
    if chosen == "environment" or (chosen == "auto" and _environment_set()):
        return _from_environment()
    if chosen == "testcontainers" or (chosen == "auto" and docker_engine_answers()):
        return _from_testcontainers()
    return _from_local_processes()
