"""docs/reliability.md as tests/chaos/report.py writes it from a run's result."""

from __future__ import annotations

from pathlib import Path

from tests.chaos.faults import Fault, Step
from tests.chaos.report import durability_section, render
from tests.chaos.run import ChaosResult, StepResult
from tests.e2e.ledger_checks import Outage


def result() -> ChaosResult:
    kill = Step((Fault("kill", "router", 2.0),))
    pair = Step((Fault("stall", "sla->redis", 3.0), Fault("freeze", "kafka", 1.5)))
    return ChaosResult(
        seed=4,
        steps=[StepResult(kill, 3.0, Outage(0, 5)), StepResult(pair, 1.0, Outage(9, 12))],
        contacts=120,
        tickets=40,
        comments=55,
        surveys=30,
        offers=99,
        state_changes=400,
        duration_s=600,
    )


def test_the_report_counts_the_faults_and_the_centre_and_gives_the_recovery_times() -> None:
    text = render(result(), "make chaos", "| setup |\n")
    assert "| steps (of them, two faults at once) | 2 (1) |" in text
    assert "| kill: SIGKILL, then restart | 1 |" in text
    assert "| latency: 1 s ± 0.5 s latency on a link | 0 |" in text
    assert "| recovery p50 / max | 2.0 s / 3.0 s |" in text
    assert "| 2 | stall sla->redis for 3.0 s + freeze kafka for 1.5 s | 1.0 |" in text
    assert "SIGKILL of the metrics service" not in text
    assert text.rstrip().endswith("| setup |")


def test_the_durability_table_is_taken_from_the_benchmarks_report(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    report.write_text("# B\n\n## durability\n\nWhat.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n## next\n| x |\n")
    assert durability_section(report) == "| a | b |\n|---|---|\n| 1 | 2 |\n"
    assert "make bench" in durability_section(tmp_path / "missing.md")


def test_the_metrics_kills_are_said_to_have_lost_no_count() -> None:
    kill = Step((Fault("kill", "metrics", 2.0),))
    run = ChaosResult(seed=1, steps=[StepResult(kill, 2.0, Outage(0, 3))], duration_s=60)
    text = render(run, "make chaos", "")
    assert "The SIGKILLs of the metrics service (1) lost no count:" in text
