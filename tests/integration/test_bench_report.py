"""The benchmark report runs a real benchmark end to end: a quick bus_throughput on the session's
broker (bench_stack takes it from the environment), written up as a report. No timing is asserted:
performance is a ratio the benchmarks report, never a test threshold."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import BENCHES, main

pytestmark = pytest.mark.integration


def test_a_quick_report_of_one_benchmark(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPLINE_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("HELPLINE_REDIS_URL", redis_url)
    out = tmp_path / "benchmarks.md"
    assert main(["--only", "bus_throughput", "--quick", "--out", str(out)]) == 0
    text = out.read_text()
    assert "> **Quick run, not representative.**" in text
    assert f"Kafka at {kafka_bootstrap} (HELPLINE_KAFKA_BOOTSTRAP)" in text
    assert BENCHES["bus_throughput"].measures in text
    assert "| path | helpline records/s | baseline | ratio |" in text
    assert text.count("| produce |") == 2
    assert text.count("| consume |") == 2
    assert list(tmp_path.iterdir()) == [out]
