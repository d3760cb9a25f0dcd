"""The KPI formulas, worked by hand: each variant, each zero denominator, each refusal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from services.metrics.domain.errors import KpiError
from services.metrics.domain.kpis import (
    ServiceLevelRule,
    abandonment_rate,
    average_handle_time,
    average_speed_of_answer,
    csat_satisfied,
    customer_effort_score,
    customer_satisfaction,
    deflection_rate,
    effort_score,
    first_contact_resolution,
    first_contact_resolved,
    net_promoter_score,
    nps_category,
    occupancy,
    service_level,
    sla_compliance,
)

SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


def test_service_level_counts_abandons_by_default() -> None:
    # 80 answered, 60 of them within X, 20 abandoned: 60 / (80 + 20).
    rule = ServiceLevelRule()
    assert service_level(rule, answered_within=60, answered=80, abandoned=20) == pytest.approx(0.6)


def test_short_abandons_leave_the_denominator_when_a_threshold_is_set() -> None:
    # Of the 20 abandons, 5 hung up within 5 s: 60 / (80 + 20 - 5).
    rule = ServiceLevelRule(short_abandon_threshold=5 * SECOND)
    level = service_level(rule, answered_within=60, answered=80, abandoned=20, short_abandoned=5)
    assert level == pytest.approx(60 / 95)


def test_service_level_can_leave_abandons_out() -> None:
    # 60 / 80: the 20 abandons count nowhere.
    rule = ServiceLevelRule(count_abandons=False)
    assert service_level(rule, answered_within=60, answered=80, abandoned=20) == pytest.approx(0.75)


def test_service_level_without_contacts_is_none() -> None:
    assert service_level(ServiceLevelRule(), answered_within=0, answered=0, abandoned=0) is None
    # Only abandons: 0 % when they count, nothing to say when they do not.
    assert service_level(ServiceLevelRule(), answered_within=0, answered=0, abandoned=3) == 0.0
    assert (
        service_level(ServiceLevelRule(count_abandons=False), answered_within=0, answered=0, abandoned=3)
        is None
    )
    # Every abandon was short: nothing left in the denominator.
    short = ServiceLevelRule(short_abandon_threshold=5 * SECOND)
    assert service_level(short, answered_within=0, answered=0, abandoned=2, short_abandoned=2) is None


def test_a_short_abandon_is_one_under_the_threshold() -> None:
    rule = ServiceLevelRule(short_abandon_threshold=5 * SECOND)
    assert rule.is_short_abandon(4 * SECOND)
    assert not rule.is_short_abandon(5 * SECOND)
    # Without a threshold no abandon is short.
    assert not ServiceLevelRule().is_short_abandon(timedelta(0))


@pytest.mark.parametrize(
    ("count_abandons", "threshold", "rule_name"),
    [(True, -SECOND, "negative_threshold"), (False, 5 * SECOND, "conflicting_abandon_treatment")],
)
def test_contradictory_service_level_rules_are_refused(
    count_abandons: bool, threshold: timedelta, rule_name: str
) -> None:
    with pytest.raises(KpiError) as refused:
        ServiceLevelRule(count_abandons=count_abandons, short_abandon_threshold=threshold)
    assert refused.value.rule == rule_name


@pytest.mark.parametrize(
    ("within", "answered", "abandoned", "short", "rule_name"),
    [
        (81, 80, 20, 0, "count_exceeds_total"),
        (60, 80, 2, 3, "count_exceeds_total"),
        (-1, 80, 20, 0, "negative_count"),
        (60, 80, 20, 1, "unexpected_short_abandons"),
    ],
)
def test_inconsistent_service_level_counts_are_refused(
    within: int, answered: int, abandoned: int, short: int, rule_name: str
) -> None:
    with pytest.raises(KpiError) as refused:
        service_level(
            ServiceLevelRule(),
            answered_within=within,
            answered=answered,
            abandoned=abandoned,
            short_abandoned=short,
        )
    assert refused.value.rule == rule_name


def test_asa_is_the_mean_queue_time_of_answered_contacts() -> None:
    assert average_speed_of_answer(90.0, 4) == pytest.approx(22.5)
    assert average_speed_of_answer(0.0, 0) is None


def test_aht_adds_talk_hold_and_after_contact_work() -> None:
    # (600 + 60 + 120) s over 4 contacts.
    assert average_handle_time(600.0, 60.0, 120.0, 4) == pytest.approx(195.0)
    assert average_handle_time(0.0, 0.0, 0.0, 0) is None


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_impossible_durations_are_refused(seconds: float) -> None:
    with pytest.raises(KpiError) as refused:
        average_handle_time(600.0, seconds, 0.0, 4)
    assert refused.value.rule == "invalid_duration"


def test_abandonment_rate() -> None:
    assert abandonment_rate(5, 40) == pytest.approx(0.125)
    assert abandonment_rate(0, 0) is None
    with pytest.raises(KpiError):
        abandonment_rate(41, 40)


def test_occupancy_is_handle_time_over_handle_and_available_idle_time() -> None:
    # 45 min handling, 15 min idle while available.
    assert occupancy(2700.0, 900.0) == pytest.approx(0.75)
    assert occupancy(0.0, 3600.0) == 0.0
    assert occupancy(0.0, 0.0) is None


def test_first_contact_resolution_needs_one_contact_and_no_reopen_within_seven_days() -> None:
    assert first_contact_resolved(1, None)
    assert first_contact_resolved(1, 7 * DAY + SECOND)
    assert not first_contact_resolved(1, 7 * DAY)
    assert not first_contact_resolved(1, 2 * DAY)
    assert not first_contact_resolved(2, None)
    with pytest.raises(KpiError):
        first_contact_resolved(1, -SECOND)


def test_a_shorter_reopen_window_ends_sooner() -> None:
    assert first_contact_resolved(1, DAY + SECOND, window=DAY)
    assert not first_contact_resolved(1, DAY, window=DAY)


def test_fcr_ratio() -> None:
    assert first_contact_resolution(70, 100) == pytest.approx(0.7)
    assert first_contact_resolution(0, 0) is None
    with pytest.raises(KpiError):
        first_contact_resolution(101, 100)


@pytest.mark.parametrize(("score", "satisfied"), [(1, False), (3, False), (4, True), (5, True)])
def test_csat_counts_four_and_five_as_satisfied(score: int, satisfied: bool) -> None:
    assert csat_satisfied(score) is satisfied


@pytest.mark.parametrize("score", [0, 6])
def test_csat_scores_off_the_scale_are_refused(score: int) -> None:
    with pytest.raises(KpiError) as refused:
        csat_satisfied(score)
    assert refused.value.rule == "score_out_of_range"


def test_csat_ratio() -> None:
    assert customer_satisfaction(17, 20) == pytest.approx(0.85)
    assert customer_satisfaction(0, 0) is None


@pytest.mark.parametrize(
    ("score", "category"),
    [(0, "detractor"), (6, "detractor"), (7, "passive"), (8, "passive"), (9, "promoter"), (10, "promoter")],
)
def test_nps_categories(score: int, category: str) -> None:
    assert nps_category(score) == category


@pytest.mark.parametrize("score", [-1, 11])
def test_nps_scores_off_the_scale_are_refused(score: int) -> None:
    with pytest.raises(KpiError) as refused:
        nps_category(score)
    assert refused.value.rule == "score_out_of_range"


def test_nps_is_promoter_share_minus_detractor_share_in_points() -> None:
    # 50 % promoters, 20 % detractors: +30.
    assert net_promoter_score(5, 3, 2) == pytest.approx(30.0)
    assert net_promoter_score(0, 0, 4) == pytest.approx(-100.0)
    assert net_promoter_score(0, 0, 0) is None


def test_ces_answers_land_on_the_seven_point_scale() -> None:
    assert [effort_score(score, 7) for score in range(1, 8)] == [1, 2, 3, 4, 5, 6, 7]
    assert [effort_score(score, 5) for score in range(1, 6)] == [1, 2.5, 4, 5.5, 7]


@pytest.mark.parametrize(
    ("score", "scale_max", "rule_name"),
    [
        (0, 7, "score_out_of_range"),
        (8, 7, "score_out_of_range"),
        (6, 5, "score_out_of_range"),
        (3, 10, "unknown_scale"),
    ],
)
def test_ces_answers_off_their_scale_are_refused(score: int, scale_max: int, rule_name: str) -> None:
    with pytest.raises(KpiError) as refused:
        effort_score(score, scale_max)
    assert refused.value.rule == rule_name


def test_ces_is_the_mean_effort_score() -> None:
    # A 6 and a 2 on 1-7, and a 5 on 1-5 (7 on 1-7): 15 / 3.
    total = effort_score(6, 7) + effort_score(2, 7) + effort_score(5, 5)
    assert customer_effort_score(total, 3) == pytest.approx(5.0)
    assert customer_effort_score(0.0, 0) is None


@pytest.mark.parametrize(("total", "responses"), [(2.0, 3), (22.0, 3), (1.0, 0)])
def test_ces_sums_no_answers_could_give_are_refused(total: float, responses: int) -> None:
    with pytest.raises(KpiError) as refused:
        customer_effort_score(total, responses)
    assert refused.value.rule == "score_out_of_range"


def test_sla_compliance() -> None:
    # 45 fulfilled in time, 5 breached (fulfilled late or not at all).
    assert sla_compliance(45, 5) == pytest.approx(0.9)
    assert sla_compliance(0, 3) == 0.0
    assert sla_compliance(0, 0) is None


def test_deflection_is_self_served_over_all_contacts() -> None:
    assert deflection_rate(30, 120) == pytest.approx(0.25)
    assert deflection_rate(0, 0) is None
    with pytest.raises(KpiError):
        deflection_rate(121, 120)


@pytest.mark.parametrize(
    "compute",
    [
        lambda: abandonment_rate(1, -1),
        lambda: sla_compliance(-1, 0),
        lambda: net_promoter_score(1, -1, 0),
        lambda: customer_satisfaction(-1, 0),
        lambda: average_speed_of_answer(1.0, -1),
    ],
)
def test_negative_counts_are_refused(compute: Callable[[], object]) -> None:
    with pytest.raises(KpiError) as refused:
        compute()
    assert refused.value.rule == "negative_count"
