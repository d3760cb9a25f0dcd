"""Both latency baselines run on the real broker and report stats that hold together. The bounds are
sanity checks only: performance is something the benchmarks report, never a test threshold."""

from __future__ import annotations

import pytest

from bench.latency_baselines import (
    BaselineError,
    LatencyStats,
    bare_round_trip,
    kafka_end_to_end,
    latency_topic,
    parse_end_to_end,
)

COUNT = 200


def _plausible(measured: LatencyStats) -> None:
    assert measured.count == COUNT
    assert measured.p50_ms <= measured.p99_ms <= measured.max_ms
    assert 0 < measured.mean_ms <= measured.max_ms
    assert measured.p99_ms < 5000


def test_kafka_end_to_end_reports_the_tool_numbers(kafka_bootstrap: str) -> None:
    measured = kafka_end_to_end(kafka_bootstrap, latency_topic(kafka_bootstrap), COUNT)
    _plausible(measured)
    # Whole milliseconds rounded down: a sub-millisecond median reads 0 on a fast machine.
    assert measured.p50_ms >= 0
    assert measured.max_ms > 0


def test_bare_round_trip_times_every_record(kafka_bootstrap: str) -> None:
    measured = bare_round_trip(kafka_bootstrap, COUNT)
    _plausible(measured)
    assert measured.p50_ms > 0


def test_the_tool_report_is_read_with_its_cold_first_record_as_maximum() -> None:
    output = "0\t212.5\nAvg latency: 4,3694 ms\nPercentiles: 50th = 3, 99th = 16, 99.9th = 40\n"
    assert parse_end_to_end(output, 3000) == LatencyStats("java EndToEndLatency", 3000, 3, 16, 212.5, 4.3694)


def test_an_unreadable_report_fails_with_the_tool_output() -> None:
    with pytest.raises(BaselineError, match="no latency report:\nException in thread"):
        parse_end_to_end("Exception in thread main", 10)
