"""Erlang C staffing: what N agents give for a traffic of A Erlangs, and the fewest agents that
meet a service-level target (DOMAIN.md, KPIs).

Erlang C models one queue with Poisson arrivals, exponential handle times, N interchangeable agents
and callers who never abandon; since nobody abandons, it errs towards more agents. With
A = lambda x AHT and N > A:

    P_wait    = (A^N/N! x N/(N-A)) / (sum_{k<N} A^k/k! + A^N/N! x N/(N-A))
    SL(t)     = 1 - P_wait x e^(-(N-A) x t/AHT)
    ASA       = P_wait x AHT / (N-A)
    occupancy = A / N

A^N/N! overflows a float from N = 171, so the sums are taken in log space: each term is
exp(k ln A - lgamma(k+1)), added relative to the largest one (log-sum-exp). The terms form a
Poisson bell of width sqrt(A) around A, and those more than _NEGLIGIBLE_NATS below its peak vanish
in float rounding, even a million of them together; summing only the rest makes one P_wait cost
O(sqrt(A)), so staffing for tens of thousands of Erlangs takes milliseconds.

With N <= A the queue grows without bound: every contact waits (P_wait 1), none is answered
within any time (SL 0), ASA has no finite value (None) and the agents never idle (occupancy 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from services.metrics.domain.errors import KpiError

# e^-50 is about 2e-22: below the last bit of a double even summed over a million terms.
_NEGLIGIBLE_NATS = 50.0


@dataclass(frozen=True)
class Staffing:
    """The fewest agents that meet a target, and what they give."""

    agents: int
    p_wait: float
    service_level: float
    asa: timedelta
    occupancy: float


def traffic(arrivals_per_interval: float, interval: timedelta, aht: timedelta) -> float:
    """The offered load in Erlangs, A = lambda x AHT: how many agents would be busy all the time."""
    if not (math.isfinite(arrivals_per_interval) and arrivals_per_interval >= 0):
        raise KpiError("invalid_arrivals", f"{arrivals_per_interval} arrivals per interval")
    _positive("invalid_interval", "interval", interval)
    _positive("invalid_aht", "average handle time", aht)
    return arrivals_per_interval * (aht / interval)


def p_wait(agents: int, traffic: float) -> float:
    """The probability that a contact waits at all (Erlang C)."""
    _check_load(agents, traffic)
    if agents <= traffic:
        return 1.0
    if traffic == 0:
        return 0.0
    log_a = math.log(traffic)
    log_waiting = _log_term(agents, log_a) + math.log(agents / (agents - traffic))
    # P_wait = W / (H + W) with H the head sum: a logistic of log H - log W, written so that
    # neither branch can overflow exp.
    excess = _log_head_sum(agents, traffic, log_a) - log_waiting
    if excess > 0:
        odds = math.exp(-excess)
        return odds / (1 + odds)
    return 1 / (1 + math.exp(excess))


def service_level(agents: int, traffic: float, target_answer_time: timedelta, aht: timedelta) -> float:
    """The share of contacts answered within `target_answer_time`."""
    _check_load(agents, traffic)
    _not_negative("invalid_answer_time", "target answer time", target_answer_time)
    _positive("invalid_aht", "average handle time", aht)
    if agents <= traffic:
        return 0.0
    return 1 - p_wait(agents, traffic) * math.exp(-(agents - traffic) * (target_answer_time / aht))


def asa(agents: int, traffic: float, aht: timedelta) -> timedelta | None:
    """The mean wait over all contacts, those answered at once included; None without a bound."""
    _check_load(agents, traffic)
    _positive("invalid_aht", "average handle time", aht)
    if agents <= traffic:
        return None
    return aht * (p_wait(agents, traffic) / (agents - traffic))


def occupancy(agents: int, traffic: float) -> float:
    """The share of their time the agents spend handling contacts."""
    _check_load(agents, traffic)
    return min(1.0, traffic / agents)


def required_agents(
    arrivals_per_interval: float,
    interval: timedelta,
    aht: timedelta,
    target_answer_time: timedelta,
    target_service_level: float,
    max_occupancy: float | None = None,
) -> Staffing:
    """The fewest agents N > A whose service level within `target_answer_time` is at least
    `target_service_level` and, when `max_occupancy` is given, whose occupancy is at most it.
    These agents are on the phones; `scheduled_agents` adds the shrinkage."""
    load = traffic(arrivals_per_interval, interval, aht)
    _not_negative("invalid_answer_time", "target answer time", target_answer_time)
    if not 0 < target_service_level < 1:
        raise KpiError(
            "invalid_target", f"target service level {target_service_level}; it must lie strictly in (0, 1)"
        )
    if max_occupancy is not None and not 0 < max_occupancy <= 1:
        raise KpiError("invalid_occupancy_cap", f"occupancy cap {max_occupancy}; it must lie in (0, 1]")

    def meets(agents: int) -> bool:
        if max_occupancy is not None and load / agents > max_occupancy:
            return False
        return service_level(agents, load, target_answer_time, aht) >= target_service_level

    # Service level and occupancy only get better with more agents, so gallop up from the fewest
    # with a steady state to a count that meets the target, then bisect the gap: O(log(N - A))
    # evaluations, where stepping by one would take O(sqrt(A)) of them.
    short, step = math.floor(load), 1
    while not meets(short + step):
        short += step
        step *= 2
    enough = short + step
    while enough - short > 1:
        middle = (short + enough) // 2
        if meets(middle):
            enough = middle
        else:
            short = middle
    waits = p_wait(enough, load)
    return Staffing(
        agents=enough,
        p_wait=waits,
        service_level=service_level(enough, load, target_answer_time, aht),
        asa=aht * (waits / (enough - load)),
        occupancy=occupancy(enough, load),
    )


def scheduled_agents(required: int, shrinkage: float) -> int:
    """The agents to schedule so that `required` are on the phones when the share `shrinkage` of
    paid time goes to breaks, training, meetings and absence: ceil(required / (1 - shrinkage))."""
    if required < 0:
        raise KpiError("negative_count", f"{required} required agents", count="required")
    if not 0 <= shrinkage < 1:
        raise KpiError("invalid_shrinkage", f"shrinkage {shrinkage}; it must lie in [0, 1)")
    # Shrinkage is a planning figure of a few decimals, so 14 / (1 - 0.3) must give 20, not the
    # 21 that its float rounding error above 20 would round up to.
    return math.ceil(round(required / (1 - shrinkage), 9))


def _log_term(k: int, log_a: float) -> float:
    """ln(A^k / k!)."""
    return k * log_a - math.lgamma(k + 1)


def _log_head_sum(agents: int, traffic: float, log_a: float) -> float:
    """ln(sum_{k<N} A^k/k!), from the terms within _NEGLIGIBLE_NATS of the largest, at k = floor(A)
    (which is below N since N > A); the terms fall away on both sides of it."""
    mode = math.floor(traffic)
    peak = _log_term(mode, log_a)
    total = 0.0
    for side in (range(mode, -1, -1), range(mode + 1, agents)):
        for k in side:
            below_peak = _log_term(k, log_a) - peak
            if below_peak < -_NEGLIGIBLE_NATS:
                break
            total += math.exp(below_peak)
    return peak + math.log(total)


def _check_load(agents: int, traffic: float) -> None:
    if agents < 1:
        raise KpiError("invalid_agents", f"{agents} agents; Erlang C needs at least one")
    if not (math.isfinite(traffic) and traffic >= 0):
        raise KpiError("invalid_traffic", f"traffic of {traffic} Erlangs")


def _positive(rule: str, name: str, duration: timedelta) -> None:
    if duration <= timedelta(0):
        raise KpiError(rule, f"{name} is {duration}; it must be positive")


def _not_negative(rule: str, name: str, duration: timedelta) -> None:
    if duration < timedelta(0):
        raise KpiError(rule, f"{name} is {duration}; it must not be negative")
