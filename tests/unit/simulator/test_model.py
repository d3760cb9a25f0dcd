"""The simulation's arithmetic: arrivals that follow the day's curve, handle times and patience with
the means they were given, and one seed giving one run."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.model import (
    DAY_S,
    HOUR_S,
    DailyCurve,
    Lognormal,
    arrivals,
    patience,
)


def test_a_curve_scales_to_a_mean_of_one_over_the_day() -> None:
    curve = DailyCurve.office()
    factors = [curve.factor(hour * HOUR_S) for hour in range(24)]
    assert math.isclose(statistics.fmean(factors), 1.0)
    assert curve.peak == max(factors) > 2 > 0.1 > min(factors)
    # The next day repeats it.
    assert curve.factor(DAY_S + 10 * HOUR_S) == curve.factor(10 * HOUR_S)


@pytest.mark.parametrize(
    ("weights", "complaint"),
    [
        ((1.0,) * 23, "24 hourly weights"),
        ((1.0,) * 23 + (-1.0,), "not negative"),
        ((1.0,) * 23 + (math.nan,), "finite"),
        ((0.0,) * 24, "at least one hour"),
    ],
)
def test_a_curve_is_24_finite_weights_not_all_zero(weights: tuple[float, ...], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        DailyCurve(weights)


def test_arrivals_come_as_many_as_the_rate_and_curve_say_hour_by_hour() -> None:
    curve = DailyCurve.office()
    per_hour = 600.0
    found = arrivals(random.Random(7), per_hour, curve, 0.0, DAY_S)
    assert found == sorted(found)
    assert 0 <= found[0] < found[-1] < DAY_S
    for hour in range(24):
        expected = per_hour * curve.factor(hour * HOUR_S)
        counted = sum(1 for at in found if hour * HOUR_S <= at < (hour + 1) * HOUR_S)
        # A Poisson count's standard deviation is the square root of its mean.
        assert abs(counted - expected) <= 4 * math.sqrt(expected) + 1, (hour, counted, expected)


def test_no_arrivals_in_an_hour_of_weight_zero_or_at_rate_zero() -> None:
    night_closed = DailyCurve((0.0,) * 8 + (1.0,) * 16)
    found = arrivals(random.Random(1), 1000.0, night_closed, 0.0, DAY_S)
    assert len(found) > 1000
    assert min(found) >= 8 * HOUR_S
    assert arrivals(random.Random(1), 0.0, night_closed, 0.0, DAY_S) == []


def test_one_seed_one_run() -> None:
    def run(seed: int) -> list[float]:
        return arrivals(random.Random(seed), 120.0, DailyCurve.office(), 9 * HOUR_S, 12 * HOUR_S)

    assert run(42) == run(42) != run(43)


@given(
    weights=st.lists(st.floats(0, 10), min_size=24, max_size=24).filter(any),
    per_hour=st.floats(0, 500),
    start=st.floats(0, 2 * DAY_S),
    length=st.floats(0, 4 * HOUR_S),
    seed=st.integers(0, 2**32),
)
def test_arrivals_stay_in_their_window_in_order(
    weights: list[float], per_hour: float, start: float, length: float, seed: int
) -> None:
    found = arrivals(random.Random(seed), per_hour, DailyCurve(tuple(weights)), start, start + length)
    assert found == sorted(found)
    assert all(start <= at < start + length for at in found)
    assert all(DailyCurve(tuple(weights)).factor(at) > 0 for at in found)


def test_bad_rates_and_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="not negative"):
        arrivals(random.Random(1), -1.0, DailyCurve.flat(), 0.0, 1.0)
    with pytest.raises(ValueError, match="before it starts"):
        arrivals(random.Random(1), 1.0, DailyCurve.flat(), 10.0, 5.0)


def test_handle_times_have_the_mean_and_spread_given() -> None:
    handle = Lognormal(mean_s=300.0, cv=0.6)
    rng = random.Random(3)
    draws = [handle.draw(rng) for _ in range(40_000)]
    assert min(draws) > 0
    mean = statistics.fmean(draws)
    assert mean == pytest.approx(300.0, rel=0.02)
    assert statistics.pstdev(draws) / mean == pytest.approx(0.6, rel=0.05)


@pytest.mark.parametrize(("mean", "cv"), [(0.0, 0.5), (-5.0, 0.5), (60.0, 0.0), (math.inf, 0.5)])
def test_a_handle_time_needs_a_positive_mean_and_spread(mean: float, cv: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        Lognormal(mean, cv)


def test_patience_is_exponential_with_its_mean_or_endless() -> None:
    rng = random.Random(5)
    draws = [patience(rng, 90.0) for _ in range(40_000)]
    assert statistics.fmean(draws) == pytest.approx(90.0, rel=0.02)
    # Memoryless: about e^-1 of customers are still waiting after the mean.
    assert sum(d > 90.0 for d in draws) / len(draws) == pytest.approx(math.exp(-1), abs=0.01)
    assert patience(rng, None) == math.inf
    with pytest.raises(ValueError, match="positive"):
        patience(rng, 0.0)
