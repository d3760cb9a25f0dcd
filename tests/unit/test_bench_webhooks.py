"""bench.webhooks' pure parts: what the receiver's records say of a phase (first arrivals, repeats,
bad signatures, latencies), the table and the verdict against the 0.5 target."""

from __future__ import annotations

import pytest

from bench.latency_baselines import stats
from bench.webhooks import (
    Arrived,
    BenchError,
    Phase,
    Report,
    Round,
    latency_text,
    markdown,
    phase_of,
    tally,
    verdicts,
)


def test_a_tally_keeps_each_ids_first_arrival_and_counts_repeats_and_bad_signatures() -> None:
    arrivals = [
        Arrived("msg_a", 10.5, True),
        Arrived("msg_other_phase", 10.6, False),
        Arrived("msg_b", 11.0, False),
        Arrived("msg_a", 10.2, True),
    ]
    got = tally(arrivals, {"msg_a": 10.0, "msg_b": 10.5})
    assert (got.delivered, got.repeats, got.bad_signatures) == (2, 1, 1)
    assert (got.first_at, got.last_at) == (10.2, 11.0)
    assert got.latencies_s == pytest.approx([0.2, 0.5])


def test_a_phase_runs_from_its_start_to_its_last_arrival_and_refuses_a_missing_delivery() -> None:
    got = tally([Arrived("a", 101.0, True), Arrived("b", 102.0, True)], {"a": 100.0, "b": 100.0})
    phase = phase_of(got, 2, 100.0, receiver_cpu=0.2, sender_cpu=1.0)
    assert (phase.seconds, phase.first_s, phase.rate) == (2.0, 1.0, 1.0)
    assert (phase.receiver_cores, phase.sender_cores) == (0.1, 0.5)
    assert phase.latency is not None
    assert phase.latency.p99_ms == pytest.approx(2000)
    assert phase_of(got, 2, 100.0, 0.0, 0.0, latency=False).latency is None
    with pytest.raises(BenchError, match="holds 2 of 3"):
        phase_of(got, 3, 100.0, 0.0, 0.0)


def _phase(events: int, seconds: float, latencies_ms: list[float] | None = None, bad: int = 0) -> Phase:
    latency = stats("deliveries", latencies_ms) if latencies_ms else None
    return Phase(events, seconds, 1.5, latency, 0, bad, 0.1, 0.9)


def _round(service_rate: float, bare_rate: float = 2_000.0, consumed_s: float = 1.0) -> Round:
    return Round(
        bare=_phase(5_000, 5_000 / bare_rate),
        backlog=_phase(5_000, 5_000 / service_rate, [900.0, 2_500.0]),
        consumed_s=consumed_s,
    )


def _report(service_rate: float, bad: int = 0, consumed_s: float = 1.0) -> Report:
    return Report(
        tenant="bench-t",
        workers=8,
        rounds=[_round(service_rate, consumed_s=consumed_s)],
        paced=_phase(3_000, 6.0, [40.0, 180.0], bad=bad),
        paced_rate=service_rate / 2,
        poll_s=0.2,
        exit_codes=[0, 0],
    )


def test_the_ratio_is_the_median_of_the_rounds_ratios_and_its_round_is_detailed() -> None:
    report = Report(
        tenant="bench-t",
        workers=8,
        rounds=[_round(1_000.0, 1_000.0), _round(600.0, 2_000.0), _round(1_100.0, 2_000.0)],
        paced=_phase(3_000, 6.0, [40.0, 180.0]),
        paced_rate=500.0,
        poll_s=0.2,
        exit_codes=[0, 0, 0, 0],
    )
    # Ratios 1.00, 0.30 and 0.55: the median is 0.55, not the 0.50 of the median rates.
    assert report.ratio == pytest.approx(0.55)
    assert (report.backlog_rate, report.bare_rate) == (1_000.0, 2_000.0)
    assert report.median_round is report.rounds[2]
    assert verdicts(report)[1] == (
        "the rounds: 1,000 against 1,000/s (1.00); 600 against 2,000/s (0.30); 1,100 against 2,000/s (0.55)"
    )


def test_the_table_gives_each_sender_its_rate_and_latencies() -> None:
    table = markdown(_report(1_500.0)).splitlines()
    assert table[0] == "| sender | deliveries | deliveries/s | service / bare | latency p50 | latency p99 |"
    assert "median of 1 rounds" in table[2]
    assert table[2].endswith("| 5,000 | 1,500 | 0.75 | 900 ms | 2.50 s |")
    assert table[3].endswith("| 3,000 | 750 offered |  | 40 ms | 180 ms |")
    assert table[4].startswith("| bare httpx client, 8 threads")
    assert table[4].endswith("| 5,000 | 2,000 | 1.00 |  |  |")


def test_the_verdict_is_the_ratio_to_the_bare_client_against_half() -> None:
    met = verdicts(_report(1_000.0))
    assert met[0] == (
        "notify delivers 1,000/s, 0.50 of the bare httpx client's 2,000/s to the same receiver, "
        "target >= 0.5: met"
    )
    assert met[2].startswith("paced at 500 events/s: p50 40 ms, p99 180 ms")
    assert met[3] == "all 13,000 signatures valid (every request checked with the subscription's secret)"
    assert met[4] == "every delivery arrived once"
    assert met[5].endswith(
        "CPU per delivery: the service 0.90 ms (0.90 cores), the bare client's process 0.45 ms (0.90 cores)"
    )
    assert met[7].endswith("the service exited with 0 each time it was stopped (2 times)")
    missed = verdicts(_report(900.0, bad=3))
    assert missed[0].endswith(
        "0.45 of the bare httpx client's 2,000/s to the same receiver, target >= 0.5: MISSED"
    )
    assert missed[3] == "3 BAD SIGNATURES of 13,000 requests"


def test_the_verdict_says_whether_the_consumer_or_the_workers_set_the_pace() -> None:
    workers = verdicts(_report(1_000.0, consumed_s=1.0))[6]
    assert workers == (
        "in the median round, the service's consumer had handled the 5,000 events 1.0 s after its "
        "start, the last delivery arrived 5.0 s after it: the delivery workers set the pace"
    )
    assert verdicts(_report(1_000.0, consumed_s=4.0))[6].endswith(
        "the consumer, not the delivery workers, set the pace"
    )


def test_latencies_read_in_milliseconds_below_a_second() -> None:
    assert latency_text(999.4) == "999 ms"
    assert latency_text(1_234.0) == "1.23 s"
