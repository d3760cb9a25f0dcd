"""The short seeded chaos schedule CI runs (tests/chaos/run.py says what is held after each step
and at the end): every kind of fault once, alone: a SIGKILL of a service, of Kafka and of Redis, a
SIGTERM of a service, a SIGSTOP of a service, of Kafka and of Redis, and a second of latency, a
stall and resets on one service's link to Kafka or Redis. `make chaos` runs the long schedule:
every kind on every target, then pairs at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.faults import KINDS, schedule
from tests.chaos.run import run_chaos

# Draws a SIGKILL and a SIGTERM of the metrics service (whose counts must carry on through both),
# a SIGSTOP of the SLA service and latency on notify's link to Redis.
SEED = 12
HOLD_S = (1.0, 4.0)


@pytest.mark.timeout(900)
def test_every_kind_of_fault_once_loses_nothing_and_applies_nothing_twice(
    tmp_path: Path, unique: str
) -> None:
    steps = schedule(SEED, every_target=False, mixed=0, hold_s=HOLD_S)
    assert {fault.kind for step in steps for fault in step.faults} == set(KINDS)
    faults = {(fault.kind, fault.target) for step in steps for fault in step.faults}
    assert {("kill", "metrics"), ("stop", "metrics")} <= faults
    result = run_chaos(steps, tmp_path, seed=SEED, tenant=f"chaos{unique}", pepper=unique)
    assert len(result.steps) == len(steps)
    assert result.offers > 0
