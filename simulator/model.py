"""The simulated contact centre's arithmetic, without I/O: when contacts arrive through the day, how
long a customer waits before hanging up, how long an agent takes. Every draw comes from the
`random.Random` the caller seeds, so a scenario replays exactly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

HOURS = 24
HOUR_S = 3600.0
DAY_S = HOURS * HOUR_S


@dataclass(frozen=True)
class DailyCurve:
    """How arrivals spread over the day: one relative weight an hour, from midnight. Only the shape
    counts; `factor` scales it to a mean of 1 over the day, so a channel's rate an hour is its daily
    mean however the weights are written."""

    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.weights) != HOURS:
            raise ValueError(f"a daily curve has {HOURS} hourly weights, not {len(self.weights)}")
        if any(not math.isfinite(w) or w < 0 for w in self.weights):
            raise ValueError(f"hourly weights must be finite and not negative: {self.weights}")
        if not any(self.weights):
            raise ValueError("a daily curve needs at least one hour with arrivals")

    @classmethod
    def flat(cls) -> DailyCurve:
        return cls((1.0,) * HOURS)

    @classmethod
    def office(cls) -> DailyCurve:
        """A service desk's day: quiet nights, a peak mid-morning, a smaller one after lunch."""
        morning = (0.1, 0.05, 0.05, 0.05, 0.05, 0.1, 0.3, 0.8, 1.6, 2.2, 2.4, 2.1)
        afternoon = (1.6, 1.7, 2.0, 1.9, 1.6, 1.2, 0.8, 0.6, 0.4, 0.3, 0.2, 0.15)
        return cls((*morning, *afternoon))

    def factor(self, at_s: float) -> float:
        """The rate's multiple at `at_s` seconds from a midnight (any day: the curve repeats)."""
        hour = int((at_s % DAY_S) // HOUR_S)
        return self.weights[hour] * HOURS / sum(self.weights)

    @property
    def peak(self) -> float:
        return max(self.weights) * HOURS / sum(self.weights)


def arrivals(
    rng: random.Random, per_hour: float, curve: DailyCurve, start_s: float, end_s: float
) -> list[float]:
    """The instants in [start_s, end_s) of a Poisson process whose rate is `per_hour` times the
    curve's factor, by thinning (Lewis and Shedler): candidates come at the peak rate and each is
    kept with the ratio of the rate at its instant to the peak."""
    if per_hour < 0 or not math.isfinite(per_hour):
        raise ValueError(f"an arrival rate is finite and not negative, not {per_hour}")
    if end_s < start_s:
        raise ValueError(f"the window ends ({end_s}) before it starts ({start_s})")
    peak_per_s = per_hour * curve.peak / HOUR_S
    found: list[float] = []
    if peak_per_s == 0:
        return found
    at = start_s
    while True:
        at += rng.expovariate(peak_per_s)
        if at >= end_s:
            return found
        if rng.random() * curve.peak < curve.factor(at):
            found.append(at)


@dataclass(frozen=True)
class Lognormal:
    """Handle times: right-skewed, never negative, given as the mean and the coefficient of
    variation (standard deviation over mean) that a contact centre reports."""

    mean_s: float
    cv: float

    def __post_init__(self) -> None:
        if not (self.mean_s > 0 and math.isfinite(self.mean_s)):
            raise ValueError(f"a mean duration is positive, not {self.mean_s}")
        if not (self.cv > 0 and math.isfinite(self.cv)):
            raise ValueError(f"a coefficient of variation is positive, not {self.cv}")

    @property
    def sigma(self) -> float:
        return math.sqrt(math.log1p(self.cv**2))

    @property
    def mu(self) -> float:
        return math.log(self.mean_s) - self.sigma**2 / 2

    def draw(self, rng: random.Random) -> float:
        return rng.lognormvariate(self.mu, self.sigma)


def patience(rng: random.Random, mean_s: float | None) -> float:
    """How long a customer waits in queue before giving up: exponential with the channel's mean, or
    forever where customers do not hang up (email, web forms)."""
    if mean_s is None:
        return math.inf
    if not (mean_s > 0 and math.isfinite(mean_s)):
        raise ValueError(f"a mean patience is positive, not {mean_s}")
    return rng.expovariate(1 / mean_s)
