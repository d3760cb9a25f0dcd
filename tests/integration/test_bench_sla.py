"""The SLA timers benchmark still runs on the real store: among the timers it holds, every one that
comes due fires once through the real worker and handlers, and it leaves nothing behind. No timing
is asserted: performance is a ratio the benchmark reports, never a test threshold."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import redis
from rich.progress import Progress

from bench.latency_baselines import LatencyStats
from bench.sla_timers import (
    BURST_THRESHOLD,
    HELD_FROM,
    Baseline,
    Load,
    Report,
    TimerRun,
    baseline,
    cleanup,
    last_outbox_id,
    load_held,
    markdown,
    measure,
    plan,
    verdicts,
)
from services.sla.store import OUTBOX_STREAM, SEP, TIMERS, Keys, Subject, TimerKey, epoch_ms
from services.sla.watches import BREACH, WARNING
from tests.integration.outbox_events import outbox_events

HELD = 5_000
# 150 contacts, each warning and breaching inside the window: their 300 timers come due over 2 s.
PACED = Load(300, timedelta(seconds=2), threshold=timedelta(seconds=4))
BURST = Load(200, timedelta(0), BURST_THRESHOLD)
START = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)


def _members(client: redis.Redis, tenant: str) -> list[tuple[bytes, float]]:
    return list(client.zscan_iter(TIMERS, match=f"{tenant}{SEP}*", count=1000))


def _alerts(client: redis.Redis, tenant: str) -> Counter[tuple[str, str]]:
    """How many times each (contact id, trigger) was alerted in the outbox."""
    triggers = {"SlaQueueWarning": WARNING, "SlaQueueBreached": BREACH}
    return Counter(
        (event.queued_contact.contact_id, triggers[type(event).__name__])
        for event in outbox_events(client, OUTBOX_STREAM, tenant)
        if type(event).__name__ in triggers
    )


def _nothing_left(client: redis.Redis, tenant: str) -> bool:
    keys = list(client.scan_iter(match=f"{Keys(tenant).base}:*"))
    return not _members(client, tenant) and not keys and not _alerts(client, tenant)


def test_every_due_timer_fires_once_and_nothing_is_left(
    redis_url: str, redis_client: redis.Redis, unique: str
) -> None:
    tenant = f"bench-{unique}"
    outbox_after = last_outbox_id(redis_client)
    progress = Progress(disable=True)
    try:
        assert load_held(redis_client, tenant, HELD, progress) > 0
        held = _members(redis_client, tenant)
        paced = measure(redis_client, redis_url, tenant, PACED, 1, progress)
        burst = measure(redis_client, redis_url, tenant, BURST, 2, progress)
        alerts = _alerts(redis_client, tenant)
    finally:
        cleanup(redis_client, tenant, outbox_after)
    assert len(held) == HELD
    hours_ahead = epoch_ms(datetime.now(UTC) + HELD_FROM) - 60_000
    assert all(score >= hours_ahead for _, score in held)
    assert {TimerKey.parse(member).subject for member, _ in held} == {Subject.CONTACT}
    # Every timer that came due, and no other, alerted exactly once: warnings and breaches of the
    # paced contacts, warnings only of the burst's (their breaches were still an hour away).
    assert sum(alerts.values()) == len(alerts) == PACED.timers + BURST.timers
    assert Counter(trigger for _, trigger in alerts) == {
        WARNING: PACED.timers // 2 + BURST.timers,
        BREACH: PACED.timers // 2,
    }
    for run, load, workers in ((paced, PACED, 1), (burst, BURST, 2)):
        assert (run.load, run.workers, run.due, run.repeated) == (load.label, workers, load.timers, 0)
        assert run.held >= HELD + load.timers
        assert run.lag.count == load.timers
        assert run.lag.p50_ms <= run.lag.p99_ms <= run.lag.max_ms
        assert run.fired_per_s > 0
    assert (paced.rate, burst.rate) == (150.0, None)
    assert _nothing_left(redis_client, tenant)


def test_a_paced_load_spreads_both_timers_and_a_burst_warns_at_one_instant() -> None:
    paced = plan(PACED, "q-paced", START)
    assert len(paced.since) == PACED.timers // 2
    assert len(paced.due) == PACED.timers
    assert min(paced.due.values()) == START
    assert max(paced.due.values()) == START + PACED.window
    burst = plan(BURST, "q-burst", START)
    assert len(burst.since) == len(burst.due) == BURST.timers
    assert set(burst.due.values()) == {START}
    assert {trigger for _, trigger in burst.due} == {WARNING}


@pytest.mark.skipif(
    shutil.which("redis-benchmark") is None, reason="redis-benchmark is not installed (`make deps`)"
)
def test_the_baselines_run_on_the_same_set_and_leave_nothing(
    redis_url: str, redis_client: redis.Redis, unique: str
) -> None:
    tenant = f"bench-{unique}"
    outbox_after = last_outbox_id(redis_client)
    binary = shutil.which("redis-benchmark")
    assert binary is not None
    try:
        measured = baseline(binary, redis_url, tenant, 500, 2)
        written = len(_members(redis_client, tenant))
    finally:
        cleanup(redis_client, tenant, outbox_after)
    assert measured.clients == 2
    assert measured.zadd_per_s > 0
    assert measured.evalsha_per_s > 0
    assert 0 < written <= 500
    assert _nothing_left(redis_client, tenant)


def test_the_report_gives_ratios_for_bursts_and_a_verdict_per_paced_run() -> None:
    def run(load: str, workers: int, p99: float, fired: float, rate: float | None) -> TimerRun:
        lag = LatencyStats(load, 20_000, 60.0, p99, p99 + 20, 70.0)
        return TimerRun(load, workers, 1_020_000, 20_000, 0, lag, fired, rate)

    report = Report(
        1_000_000,
        250_000.0,
        [
            run("paced 667/s", 1, 120.0, 665.0, 667.0),
            run("burst", 1, 9000.0, 2000.0, None),
            run("paced 667/s", 2, 1500.0, 400.0, 667.0),
        ],
        {1: Baseline(1, 50_000.0, 40_000.0), 2: Baseline(2, 80_000.0, 64_000.0)},
        forks=0,
    )
    table = markdown(report)
    assert "| paced 667/s | 1 | 1,020,000 | 20,000 | 0 | 60 | 120 | 140 | 665 | - | - |" in table
    assert "| burst | 1 | 1,020,000 | 20,000 | 0 | 60 | 9000 | 9020 | 2,000 | 0.040 | 0.050 |" in table
    assert "| redis-benchmark ZADD sla:timers | 2 | 80,000 |" in table
    assert "| redis-benchmark EVALSHA (HGET + HSET + ZREM + XADD) | 1 | 40,000 |" in table
    loaded, first, second = verdicts(report)
    assert loaded == "loaded 1,000,000 timers at 250,000 timers/s"
    assert first == (
        "p99 lag with 1,020,000 timers held (paced 667/s, 1 worker): 120 ms, target < 1,000 ms: met "
        "(the workers kept up)"
    )
    assert second.startswith("p99 lag with 1,020,000 timers held (paced 667/s, 2 workers): 1500 ms")
    assert second.endswith("MISSED (the workers fired 400/s of the 667/s coming due: mostly queueing)")
    assert (
        verdicts(Report(10, 1.0, [run("burst", 1, 1.0, 1.0, None)], {}, 0))[1] == "no paced run: no verdict"
    )
