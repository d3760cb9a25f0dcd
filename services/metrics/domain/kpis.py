"""Contact-centre KPIs as pure formulas over counts and sums (DOMAIN.md, KPIs).

The exporter computes these figures from the events it counts and the Prometheus recording rules
compute them from the exported counters; the tests hold both to these functions, so a definition
changes here first. Ratios are fractions in [0, 1] (NPS alone is in points, -100 to 100) and are
None when their denominator is zero: a queue nobody called has no service level, which is not
0 %. Durations are float seconds, as Prometheus carries them. A part larger than its whole (more
answered within X than answered) is refused rather than reported above 100 %, since it means the
caller counted wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from services.metrics.domain.errors import KpiError

FCR_REOPEN_WINDOW = timedelta(days=7)
CSAT_SCALE_MAX = 5
NPS_SCALE_MAX = 10
CES_SCALE_MAX = 7
# Surveys ask effort on 1-5 or 1-7 (SurveyAnswered.scale_max); both land on the 1-7 scale.
CES_SCALES = frozenset({5, 7})

NpsCategory = Literal["promoter", "passive", "detractor"]


@dataclass(frozen=True)
class ServiceLevelRule:
    """How abandoned contacts count in service level X. Three treatments, each over one period's
    contacts that left the queue:

    - `count_abandons`, no threshold (the default, as Amazon Connect):
      answered within X / (answered + abandoned)
    - `count_abandons` with `short_abandon_threshold` T > 0:
      answered within X / (answered + abandoned - short abandons),
      a short abandon being one that left the queue after less than T. A caller who hangs up in
      the first seconds (a misdial, a wrong menu choice) never gave the queue a chance to answer.
    - `count_abandons=False`:
      answered within X / answered; abandoned contacts count nowhere.

    Abandons never count in the numerator.
    """

    count_abandons: bool = True
    short_abandon_threshold: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.short_abandon_threshold < timedelta(0):
            raise KpiError(
                "negative_threshold", f"short-abandon threshold {self.short_abandon_threshold} is negative"
            )
        if self.short_abandon_threshold > timedelta(0) and not self.count_abandons:
            # Dropping short abandons from a denominator that holds no abandons at all says two
            # different things; a setting that cannot matter is more likely a mistake.
            raise KpiError(
                "conflicting_abandon_treatment",
                "a short-abandon threshold only applies when abandons count",
            )

    def is_short_abandon(self, waited: timedelta) -> bool:
        """Whether a contact abandoned after `waited` in queue is left out of the denominator."""
        return waited < self.short_abandon_threshold


def service_level(
    rule: ServiceLevelRule,
    *,
    answered_within: int,
    answered: int,
    abandoned: int,
    short_abandoned: int = 0,
) -> float | None:
    """Service level X under `rule`. `answered_within` counts the answered contacts whose queue
    time was at most X (a contact answered at exactly X is within it, as a Prometheus `le`
    bucket counts it); `short_abandoned` is the part of `abandoned` that `rule.is_short_abandon`
    picks out, so it is zero without a threshold."""
    _part("answered_within", answered_within, "answered", answered)
    _part("short_abandoned", short_abandoned, "abandoned", abandoned)
    if short_abandoned and rule.short_abandon_threshold == timedelta(0):
        raise KpiError(
            "unexpected_short_abandons",
            f"{short_abandoned} short abandons, but the rule sets no short-abandon threshold",
        )
    if not rule.count_abandons:
        return _ratio(answered_within, answered)
    return _ratio(answered_within, answered + abandoned - short_abandoned)


def average_speed_of_answer(queue_seconds: float, answered: int) -> float | None:
    """ASA: the mean queue time of answered contacts, in seconds. `queue_seconds` sums the queue
    time of those `answered` contacts only (a callback's counts from the original enqueue)."""
    _seconds("queue_seconds", queue_seconds)
    _count("answered", answered)
    return _ratio(queue_seconds, answered)


def average_handle_time(
    talk_seconds: float, hold_seconds: float, after_contact_work_seconds: float, handled: int
) -> float | None:
    """AHT: talk + hold + after-contact work, per handled contact, in seconds. The three sums
    cover the same `handled` contacts."""
    for name, value in (
        ("talk_seconds", talk_seconds),
        ("hold_seconds", hold_seconds),
        ("after_contact_work_seconds", after_contact_work_seconds),
    ):
        _seconds(name, value)
    _count("handled", handled)
    return _ratio(talk_seconds + hold_seconds + after_contact_work_seconds, handled)


def abandonment_rate(abandoned: int, queued: int) -> float | None:
    """Abandoned / queued. The caller leaves callback contacts out of both counts: a caller who
    chose a callback hung up on purpose, and the callback itself cannot be abandoned in queue."""
    _part("abandoned", abandoned, "queued", queued)
    return _ratio(abandoned, queued)


def occupancy(handle_seconds: float, available_idle_seconds: float) -> float | None:
    """Handle time / (handle time + idle time while available): the share of the time agents were
    open for contacts that they spent on them. Breaks and offline time are in neither sum."""
    _seconds("handle_seconds", handle_seconds)
    _seconds("available_idle_seconds", available_idle_seconds)
    return _ratio(handle_seconds, handle_seconds + available_idle_seconds)


def first_contact_resolved(
    contacts: int, reopened_after: timedelta | None, window: timedelta = FCR_REOPEN_WINDOW
) -> bool:
    """Whether a solved ticket counts as resolved on its first contact: it was solved with a single
    contact and not reopened within `window` (FCR_REOPEN_WINDOW, 7 days, inclusive) of being
    solved. `reopened_after` is the time from solving to the first reopen, None if it was not
    reopened. The answer is final only once the window has passed without a reopen."""
    _count("contacts", contacts)
    if reopened_after is not None and reopened_after < timedelta(0):
        raise KpiError("invalid_duration", f"reopened {reopened_after} after being solved")
    return contacts == 1 and (reopened_after is None or reopened_after > window)


def first_contact_resolution(resolved: int, first_contacts: int) -> float | None:
    """FCR: contacts whose issue was resolved on the first contact / first contacts.

    Both counts cover the same tickets, e.g. those whose first contact fell in the period:
    `first_contacts` counts each such ticket once (its first contact opened the issue), and
    `resolved` those of them for which `first_contact_resolved` holds. Tickets still open, or
    solved less than 7 days ago, are in the denominator only, so a recent period reads low until
    its reopen windows close. Tickets opened without a contact are in neither count."""
    _part("resolved", resolved, "first_contacts", first_contacts)
    return _ratio(resolved, first_contacts)


def csat_satisfied(score: int) -> bool:
    """Whether a CSAT answer (1-5) is satisfied: 4 or 5."""
    _score("CSAT", score, 1, CSAT_SCALE_MAX)
    return score >= 4


def customer_satisfaction(satisfied: int, responses: int) -> float | None:
    """CSAT: satisfied responses (see `csat_satisfied`) / responses."""
    _part("satisfied", satisfied, "responses", responses)
    return _ratio(satisfied, responses)


def nps_category(score: int) -> NpsCategory:
    """An NPS answer (0-10): 9-10 promoter, 7-8 passive, 0-6 detractor."""
    _score("NPS", score, 0, NPS_SCALE_MAX)
    if score >= 9:
        return "promoter"
    return "passive" if score >= 7 else "detractor"


def net_promoter_score(promoters: int, passives: int, detractors: int) -> float | None:
    """NPS: % promoters - % detractors, in points from -100 to 100. Passives count only in the
    total, which is why they are an argument."""
    for name, value in (("promoters", promoters), ("passives", passives), ("detractors", detractors)):
        _count(name, value)
    share = _ratio(promoters - detractors, promoters + passives + detractors)
    return None if share is None else 100 * share


def effort_score(score: int, scale_max: int) -> float:
    """A CES answer on the 1-7 scale the mean is reported on. An answer on a 1-5 scale is mapped
    linearly (1 -> 1, 3 -> 4, 5 -> 7), so both ends mean the same on either scale and answers
    from both survey versions can share one mean."""
    if scale_max not in CES_SCALES:
        raise KpiError("unknown_scale", f"CES on a 1-{scale_max} scale; Helpline takes 1-5 or 1-7")
    _score("CES", score, 1, scale_max)
    return 1 + (score - 1) * (CES_SCALE_MAX - 1) / (scale_max - 1)


def customer_effort_score(effort_sum: float, responses: int) -> float | None:
    """CES: the mean effort score on the 1-7 scale; `effort_sum` adds up `effort_score` of each
    of the `responses`."""
    _count("responses", responses)
    if not responses <= effort_sum <= CES_SCALE_MAX * responses:
        raise KpiError(
            "score_out_of_range",
            f"{responses} answers on a 1-{CES_SCALE_MAX} scale cannot add up to {effort_sum}",
        )
    return _ratio(effort_sum, responses)


def sla_compliance(fulfilled: int, breached: int) -> float | None:
    """Fulfilled / (fulfilled + breached), for one metric. `fulfilled` counts instances fulfilled
    by their deadline; one fulfilled after it is in `breached` only (SlaFulfilled carries
    `breached` set for it), so no instance counts twice."""
    _count("fulfilled", fulfilled)
    _count("breached", breached)
    return _ratio(fulfilled, fulfilled + breached)


def deflection_rate(self_served: int, contacts: int) -> float | None:
    """Self-served / all contacts, where `contacts` includes the self-served ones (self_service
    and bot channels) and those that reached a queue."""
    _part("self_served", self_served, "contacts", contacts)
    return _ratio(self_served, contacts)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _count(name: str, value: int) -> None:
    if value < 0:
        raise KpiError("negative_count", f"{name} is {value}; a count is never negative", count=name)


def _part(name: str, value: int, whole_name: str, whole: int) -> None:
    _count(name, value)
    _count(whole_name, whole)
    if value > whole:
        raise KpiError(
            "count_exceeds_total",
            f"{name} ({value}) is more than {whole_name} ({whole})",
            count=name,
            total=whole_name,
        )


def _seconds(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise KpiError("invalid_duration", f"{name} is {value}; it must be finite and not negative")


def _score(kind: str, score: int, low: int, high: int) -> None:
    if not low <= score <= high:
        raise KpiError("score_out_of_range", f"{kind} score {score} is not on the {low}-{high} scale")
