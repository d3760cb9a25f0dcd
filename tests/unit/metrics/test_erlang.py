"""Erlang C: the DOMAIN.md reference case, exact and independent implementations to check the
log-space one against, a load large enough to overflow a naive one, and the properties staffing
relies on."""

from __future__ import annotations

import math
from datetime import timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.metrics.domain import erlang
from services.metrics.domain.errors import KpiError

SECOND = timedelta(seconds=1)
HALF_HOUR = timedelta(minutes=30)
AHT = 180 * SECOND
ANSWER_TIME = 20 * SECOND


def exact_p_wait(agents: int, traffic: float) -> Fraction:
    """Erlang C straight from the formula, in exact rationals: no overflow, no rounding."""
    load = Fraction(traffic)
    head = sum(load**k / math.factorial(k) for k in range(agents))
    waiting = load**agents / math.factorial(agents) * agents / (agents - load)
    return waiting / (head + waiting)


def erlang_b_p_wait(agents: int, traffic: float) -> float:
    """Erlang C from the Erlang B recursion, B(k) = A B(k-1) / (k + A B(k-1)): O(N), but stable in
    floats at any size, so an independent check for large loads."""
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return agents * blocking / (agents - traffic * (1 - blocking))


def test_the_reference_case() -> None:
    # DOMAIN.md: 100 contacts per 30 min, AHT 180 s, answer 80 % within 20 s.
    load = erlang.traffic(100, HALF_HOUR, AHT)
    assert load == pytest.approx(10.0)
    staffing = erlang.required_agents(100, HALF_HOUR, AHT, ANSWER_TIME, 0.8)
    assert staffing.agents == 14
    assert staffing.p_wait == pytest.approx(0.1741, abs=5e-5)
    assert staffing.service_level == pytest.approx(0.8884, abs=5e-5)
    assert staffing.asa.total_seconds() == pytest.approx(7.8359, abs=5e-5)
    assert staffing.occupancy == pytest.approx(0.7143, abs=5e-5)
    assert erlang.scheduled_agents(staffing.agents, 0.3) == 20
    # 13 agents fall short of the target.
    assert erlang.service_level(13, load, ANSWER_TIME, AHT) < 0.8


def test_the_figures_of_a_given_staffing() -> None:
    assert erlang.p_wait(14, 10.0) == pytest.approx(0.1741, abs=5e-5)
    assert erlang.service_level(14, 10.0, ANSWER_TIME, AHT) == pytest.approx(0.8884, abs=5e-5)
    asa = erlang.asa(14, 10.0, AHT)
    assert asa is not None
    assert asa.total_seconds() == pytest.approx(7.8359, abs=5e-5)
    assert erlang.occupancy(14, 10.0) == pytest.approx(10 / 14)


@pytest.mark.parametrize(
    ("agents", "traffic"), [(1, 0.5), (2, 1.9), (14, 10.0), (30, 12.3), (60, 59.5), (150, 120.0), (170, 3.0)]
)
def test_log_space_agrees_with_the_exact_formula(agents: int, traffic: float) -> None:
    assert erlang.p_wait(agents, traffic) == pytest.approx(float(exact_p_wait(agents, traffic)), rel=1e-12)


@given(st.integers(min_value=1, max_value=120), st.floats(min_value=0.01, max_value=1.0))
def test_log_space_agrees_with_the_exact_formula_anywhere_small(agents: int, share: float) -> None:
    traffic = agents * share * 0.999
    assert erlang.p_wait(agents, traffic) == pytest.approx(float(exact_p_wait(agents, traffic)), rel=1e-11)


@pytest.mark.parametrize("traffic", [5_000.0, 20_000.0])
def test_large_loads_neither_overflow_nor_lose_precision(traffic: float) -> None:
    # A^N/N! is far beyond a float here (20,000^20,000 has 86,000 digits).
    staffing = erlang.required_agents(traffic, AHT, AHT, ANSWER_TIME, 0.8)
    assert traffic < staffing.agents < traffic + 3 * math.sqrt(traffic)
    assert staffing.p_wait == pytest.approx(erlang_b_p_wait(staffing.agents, traffic), rel=1e-9)
    assert staffing.service_level >= 0.8
    assert erlang.service_level(staffing.agents - 1, traffic, ANSWER_TIME, AHT) < 0.8
    assert 0.99 < staffing.occupancy < 1


def test_without_a_steady_state_everyone_waits_for_ever() -> None:
    for agents in (9, 10):
        assert erlang.p_wait(agents, 10.0) == 1.0
        assert erlang.service_level(agents, 10.0, ANSWER_TIME, AHT) == 0.0
        assert erlang.asa(agents, 10.0, AHT) is None
        assert erlang.occupancy(agents, 10.0) == 1.0


def test_without_traffic_nobody_waits() -> None:
    assert erlang.p_wait(1, 0.0) == 0.0
    staffing = erlang.required_agents(0, HALF_HOUR, AHT, ANSWER_TIME, 0.8)
    assert staffing == erlang.Staffing(
        agents=1, p_wait=0.0, service_level=1.0, asa=timedelta(0), occupancy=0.0
    )


def test_an_occupancy_cap_can_call_for_more_agents_than_the_service_level() -> None:
    # 14 agents meet 80 % in 20 s at 71 % occupancy; a 65 % cap needs ceil(10 / 0.65) = 16.
    staffing = erlang.required_agents(100, HALF_HOUR, AHT, ANSWER_TIME, 0.8, max_occupancy=0.65)
    assert staffing.agents == 16
    assert staffing.occupancy <= 0.65
    assert erlang.required_agents(100, HALF_HOUR, AHT, ANSWER_TIME, 0.8, max_occupancy=0.9).agents == 14


@pytest.mark.parametrize(
    ("required", "shrinkage", "scheduled"),
    [(14, 0.3, 20), (14, 0.0, 14), (10, 0.5, 20), (0, 0.3, 0), (7, 0.35, 11)],
)
def test_scheduled_agents_add_shrinkage(required: int, shrinkage: float, scheduled: int) -> None:
    assert erlang.scheduled_agents(required, shrinkage) == scheduled


@pytest.mark.parametrize(
    ("arrivals", "interval", "aht", "answer_time", "target", "cap", "rule_name"),
    [
        (-1.0, HALF_HOUR, AHT, ANSWER_TIME, 0.8, None, "invalid_arrivals"),
        (math.nan, HALF_HOUR, AHT, ANSWER_TIME, 0.8, None, "invalid_arrivals"),
        (100.0, timedelta(0), AHT, ANSWER_TIME, 0.8, None, "invalid_interval"),
        (100.0, HALF_HOUR, timedelta(0), ANSWER_TIME, 0.8, None, "invalid_aht"),
        (100.0, HALF_HOUR, AHT, -SECOND, 0.8, None, "invalid_answer_time"),
        (100.0, HALF_HOUR, AHT, ANSWER_TIME, 0.0, None, "invalid_target"),
        (100.0, HALF_HOUR, AHT, ANSWER_TIME, 1.0, None, "invalid_target"),
        (100.0, HALF_HOUR, AHT, ANSWER_TIME, 0.8, 0.0, "invalid_occupancy_cap"),
        (100.0, HALF_HOUR, AHT, ANSWER_TIME, 0.8, 1.5, "invalid_occupancy_cap"),
    ],
)
def test_impossible_staffing_questions_are_refused(
    arrivals: float,
    interval: timedelta,
    aht: timedelta,
    answer_time: timedelta,
    target: float,
    cap: float | None,
    rule_name: str,
) -> None:
    with pytest.raises(KpiError) as refused:
        erlang.required_agents(arrivals, interval, aht, answer_time, target, max_occupancy=cap)
    assert refused.value.rule == rule_name


@pytest.mark.parametrize(("shrinkage", "required"), [(-0.1, 10), (1.0, 10), (0.3, -1)])
def test_impossible_shrinkage_is_refused(shrinkage: float, required: int) -> None:
    with pytest.raises(KpiError):
        erlang.scheduled_agents(required, shrinkage)


@pytest.mark.parametrize(
    ("agents", "traffic", "rule_name"), [(0, 1.0, "invalid_agents"), (5, -1.0, "invalid_traffic")]
)
def test_impossible_loads_are_refused(agents: int, traffic: float, rule_name: str) -> None:
    with pytest.raises(KpiError) as refused:
        erlang.p_wait(agents, traffic)
    assert refused.value.rule == rule_name


traffics = st.floats(min_value=0.0, max_value=2_000.0, allow_nan=False)


@given(st.integers(min_value=1, max_value=3_000), traffics)
def test_p_wait_is_a_probability(agents: int, traffic: float) -> None:
    assert 0.0 <= erlang.p_wait(agents, traffic) <= 1.0


@given(traffics, st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=600))
def test_service_level_never_falls_with_more_agents(traffic: float, extra: int, answer_seconds: int) -> None:
    agents = math.floor(traffic) + 1 + extra
    answer_time = answer_seconds * SECOND
    fewer = erlang.service_level(agents, traffic, answer_time, AHT)
    more = erlang.service_level(agents + 1, traffic, answer_time, AHT)
    assert 0.0 <= fewer <= more <= 1.0


@given(
    st.floats(min_value=0.0, max_value=5_000.0, allow_nan=False),
    st.integers(min_value=10, max_value=1_200),
    st.integers(min_value=0, max_value=300),
    st.floats(min_value=0.05, max_value=0.99),
    st.none() | st.floats(min_value=0.5, max_value=1.0),
)
def test_required_agents_are_the_fewest_that_meet_the_target(
    arrivals: float, aht_seconds: int, answer_seconds: int, target: float, cap: float | None
) -> None:
    aht, answer_time = aht_seconds * SECOND, answer_seconds * SECOND
    staffing = erlang.required_agents(arrivals, HALF_HOUR, aht, answer_time, target, max_occupancy=cap)
    load = erlang.traffic(arrivals, HALF_HOUR, aht)
    assert staffing.agents > load
    assert staffing.service_level >= target
    assert cap is None or staffing.occupancy <= cap
    fewer = staffing.agents - 1
    assert (
        fewer <= load
        or erlang.service_level(fewer, load, answer_time, aht) < target
        or (cap is not None and erlang.occupancy(fewer, load) > cap)
    )
