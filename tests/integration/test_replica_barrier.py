"""The replica barrier (helpline.durability) on a real primary and its replicas: it passes once a
replica holds every write made before it, from any connection, and refuses (a transient error, so
callers answer 503 and consumers wait) while the replicas do not answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from helpline.durability import BARRIER_KEY, ReplicaBarrier, ReplicaLagError
from helpline.failures import is_transient
from tests.integration.sentinel_group import SentinelGroup


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    group = SentinelGroup(tmp_path / "replicas")
    try:
        group.up(sentinels=False)
        yield group
    finally:
        group.down()


def _client(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=5)


def test_the_barrier_passes_once_a_replica_holds_what_another_connection_wrote(group: SentinelGroup) -> None:
    primary, *replicas = group.redis_ports.values()
    writer, barrier_client = (
        _client(primary),
        redis.Redis(port=primary, socket_timeout=5, single_connection_client=True),
    )
    writer.set("ticket", "x" * 100_000)
    ReplicaBarrier(barrier_client, replicas=2, timeout_ms=2000)()
    for port in replicas:
        assert _client(port).get("ticket") == b"x" * 100_000


def test_the_barrier_refuses_while_the_replicas_do_not_answer(group: SentinelGroup) -> None:
    primary, *_ = group.redis_ports.values()
    names = list(group.redis_ports)
    barrier = ReplicaBarrier(_client(primary), replicas=1, timeout_ms=300)
    for name in names[1:]:
        group.freeze(name)
    try:
        _client(primary).set("ticket", "y")
        started = time.monotonic()
        with pytest.raises(ReplicaLagError, match="0 of 1") as refused:
            barrier()
        assert time.monotonic() - started < 2
        assert is_transient(refused.value)
    finally:
        for name in names[1:]:
            group.thaw(name)
    barrier()


def test_without_replicas_to_wait_for_the_barrier_writes_nothing(group: SentinelGroup) -> None:
    primary, *_ = group.redis_ports.values()
    ReplicaBarrier(_client(primary), replicas=0, timeout_ms=300)()
    assert not _client(primary).exists(BARRIER_KEY)
