"""The tickets benchmark still runs on the real store and leaves nothing behind. No timing is
asserted: performance is a ratio the benchmark reports, never a test threshold."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
import redis
from rich.progress import Progress

from bench.tickets_throughput import CREATE, OPEN, SOLVE, measure, rows
from services.tickets.store import OUTBOX_STREAM, TENANTS

COUNT = 50


def _outbox_ids(client: redis.Redis) -> set[bytes]:
    entries: Any = client.xrange(OUTBOX_STREAM)
    return {entry_id for entry_id, _ in entries}


def test_tickets_are_measured_and_cleaned_up(redis_url: str, redis_client: redis.Redis) -> None:
    outbox_before = _outbox_ids(redis_client)
    run = measure(redis_url, COUNT, 2, benchmark_binary=None, progress=Progress(disable=True))
    assert list(run.phases) == [CREATE, OPEN, SOLVE]
    for measured in run.phases.values():
        assert measured.ops == COUNT
        assert measured.ops_per_s > 0
        assert 0 < measured.p50_ms <= measured.p99_ms
    assert run.baseline is None
    assert [row["ratio"] for row in rows([run])] == [None, None, None]
    assert not list(redis_client.scan_iter(match="tk:{bench-*"))
    tenants: Any = redis_client.smembers(TENANTS)
    assert not any(tenant.startswith(b"bench-") for tenant in tenants)
    assert _outbox_ids(redis_client) <= outbox_before


@pytest.mark.skipif(
    shutil.which("redis-benchmark") is None, reason="redis-benchmark is not installed (`make deps`)"
)
def test_the_baseline_runs_beside_and_gives_a_ratio(redis_url: str, redis_client: redis.Redis) -> None:
    binary = shutil.which("redis-benchmark")
    run = measure(redis_url, COUNT, 1, benchmark_binary=binary, progress=Progress(disable=True))
    assert run.baseline is not None
    assert run.baseline.ops == COUNT
    assert run.baseline.ops_per_s > 0
    assert 0 < run.baseline.p50_ms <= run.baseline.p99_ms
    assert all(row["ratio"] > 0 for row in rows([run]))
    assert not list(redis_client.scan_iter(match="tk:{bench-*"))
