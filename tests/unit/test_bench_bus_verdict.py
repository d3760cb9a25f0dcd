"""bench.bus_throughput's verdict: the bus's produce and consume ratios to its bare loop, each the
median of the rounds' ratios, against the 0.8 target, naming what missed it."""

from __future__ import annotations

from bench.bus_throughput import Measured, Rates, verdict


def _round(produce: float, consume: float) -> Rates:
    # The bare loops at 100 records/s, the bus at `produce` and `consume` of them.
    return Rates(100 * produce, 100.0, 100 * consume, 50.0, 100.0)


def test_the_verdict_takes_the_median_round_ratio_of_each_path() -> None:
    measured = Measured("confluent", [_round(0.9, 0.95), _round(0.5, 0.9), _round(0.85, 0.99)])
    assert verdict(measured) == (
        "confluent: the bus produces at 0.85 and consumes at 0.95 of its bare loop, target >= 0.8: met"
    )


def test_the_verdict_names_each_path_under_the_target() -> None:
    measured = Measured("kafka-python", [_round(0.75, 0.7)])
    assert verdict(measured).endswith("target >= 0.8: MISSED (produce, consume)")
