"""The benchmark report runs a real benchmark end to end: a quick bus_throughput on the session's
broker (bench_stack takes it from the environment), written up as a report. No timing is asserted:
performance is a ratio the benchmarks report, never a test threshold."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bus_throughput import BARE
from bench.report import BENCHES, main
from helpline.kafka.options import BACKENDS

JAVA = {"produce": "ProducerPerformance", "consume": "ConsumerPerformance"}


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
    assert "| backend | path | helpline records/s | baseline | baseline records/s | ratio |" in text
    # Each backend's bus against its own bare loop and against Kafka's Java tool, both ways.
    for backend in BACKENDS:
        for path in ("produce", "consume"):
            assert f"| {backend} | {path} | " in text
            rows = [line for line in text.splitlines() if line.startswith(f"| {backend} | {path} | ")]
            assert [row.split(" | ")[3] for row in rows] == [BARE, f"Java {JAVA[path]}"]
    # Then the backends side by side.
    assert f"| path | {' | '.join(BACKENDS)} | kafka-python / confluent |" in text
    for path in ("helpline produce", "bare produce loop", "helpline consume", "bare consume loop"):
        assert text.count(f"| {path} | ") == 1
    assert list(tmp_path.iterdir()) == [out]
