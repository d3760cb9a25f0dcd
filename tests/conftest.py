"""Fixtures shared by every test: the real Kafka and Redis (see stack_provider) and per-test names."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from helpline.logging import configure_logging
from tests.integration.private_stack import PrivateStack
from tests.integration.sentinel_group import SentinelGroup
from tests.stack_provider import Endpoints, provide

# The checks the end-to-end and chaos tests share live outside test modules: a failed assert there
# shows what it compared only if pytest rewrites those modules too.
pytest.register_assert_rewrite("tests.e2e", "tests.chaos", "tests.compose.centre")

TESTS = Path(__file__).parent
# A test's directory says what it needs, so its markers are set here, once, rather than by a
# `pytestmark` in every module (pyproject registers them). `-m integration` is every test on the
# real Kafka and Redis, the whole-stack and chaos ones included; `-m "not integration"` is what
# needs neither: the unit tests and the static checks of the repository's files.
DIRECTORY_MARKERS: dict[str, tuple[str, ...]] = {
    "unit": ("unit",),
    "static": ("static",),
    "integration": ("integration",),
    "e2e": ("e2e", "integration"),
    "chaos": ("chaos", "integration"),
    # The built image (`make deploy-test`); pytest collects it only when named (pyproject.toml).
    "deploy": ("deploy",),
    # docker-compose.yml under podman (`make compose-test`); collected only when named, as deploy.
    "compose": ("compose",),
    # The dev overlay under `podman kube play` (`make kube-test`); collected only when named, as deploy.
    "kube": ("kube",),
}


# The modules whose tests keep both cores busy for minutes: a whole centre under faults or a soak,
# hundreds of desktops, several routers racing. Under pytest-xdist (`make test`, --dist loadgroup)
# they share one worker, one after the other, so no two run at once and their timings hold; any
# other module goes to a worker whole, as --dist loadfile sends it (its module fixtures set up once).
HEAVY_MODULES = frozenset(
    {
        "chaos/test_chaos.py",
        "e2e/test_outages_under_load.py",
        "e2e/test_redis_failover_under_load.py",
        "integration/test_bench_soak.py",
        "integration/router/test_many_desktops.py",
        "integration/router/test_three_routers.py",
    }
)
HEAVY_GROUP = "heavy"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker, and before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            module = item.path.relative_to(TESTS)
        except ValueError:
            continue
        for marker in DIRECTORY_MARKERS.get(module.parts[0], ()):
            item.add_marker(marker)
        heavy = module.as_posix() in HEAVY_MODULES
        if heavy:
            item.add_marker(pytest.mark.heavy)
        item.add_marker(pytest.mark.xdist_group(HEAVY_GROUP if heavy else module.as_posix()))


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    configure_logging("tests", level="INFO", fmt="console")


# The provider the session's stack came from, for the summary line (empty: no test needed one).
_PROVIDED: list[str] = []


@pytest.fixture(scope="session")
def stack() -> Iterator[Endpoints]:
    """Kafka and Redis for the whole session, from the first provider that can give them."""
    with provide() as endpoints:
        _PROVIDED.append(endpoints.provider)
        yield endpoints


def pytest_sessionfinish(session: pytest.Session) -> None:
    # A pytest-xdist worker hands its providers to the controller, which prints the summary.
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["stack_providers"] = list(_PROVIDED)


def pytest_testnodedown(node: Any) -> None:
    """A pytest-xdist worker's providers (the controller runs no test, so has none of its own)."""
    _PROVIDED.extend(getattr(node, "workeroutput", {}).get("stack_providers", ()))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Which Kafka and Redis the run had (tests/stack_provider.py; HELPLINE_TEST_STACK picks one);
    under pytest-xdist, each worker had its own."""
    for provider in sorted(set(_PROVIDED)):
        workers = _PROVIDED.count(provider)
        each = f" (one for each of {workers} workers)" if workers > 1 else ""
        terminalreporter.write_line(f"Kafka and Redis from: {provider}{each}")


@pytest.fixture
def kafka_bootstrap(stack: Endpoints) -> str:
    return stack.kafka_bootstrap


@pytest.fixture
def redis_url(stack: Endpoints) -> str:
    return stack.redis_url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def unique() -> str:
    """A short random suffix so tests sharing the broker never share a topic, group or key."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[PrivateStack]:
    """A Redis (and, when a test starts one, a Kafka broker) of the test's own, to stop and freeze."""
    stack = PrivateStack(tmp_path / "private-stack")
    try:
        yield stack
    finally:
        stack.down()


@pytest.fixture
def sentinel_group(tmp_path: Path) -> Iterator[SentinelGroup]:
    """A Redis primary, two replicas and three Sentinels of the test's own."""
    group = SentinelGroup(tmp_path / "sentinel-group")
    try:
        group.up()
        yield group
    finally:
        group.down()
