"""SLA policies: conditions, validation, targets, escalations and the order of selection."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from services.sla.domain.model import (
    Basis,
    Department,
    Metric,
    MoveToGroup,
    MoveToTier,
    Notify,
    Priority,
    RaisePriority,
    SlaError,
    TicketFacts,
    Tier,
    Trigger,
)
from services.sla.domain.policy import Conditions, Escalation, Policy, Target, select
from tests.unit.sla.engine_support import FACTS, escalation, h, policy, target

FR = Metric.FIRST_REPLY


def test_empty_conditions_match_every_ticket() -> None:
    assert Conditions().matches(FACTS)
    assert Conditions().matches(TicketFacts(Priority.LOW))


@pytest.mark.parametrize(
    ("conditions", "matches"),
    [
        (Conditions(priorities=frozenset({Priority.NORMAL, Priority.HIGH})), True),
        (Conditions(priorities=frozenset({Priority.URGENT})), False),
        (Conditions(types=frozenset({"incident"})), True),
        (Conditions(types=frozenset({"question"})), False),
        (Conditions(channels=frozenset({"email", "chat"})), True),
        (Conditions(channels=frozenset({"voice"})), False),
        (Conditions(departments=frozenset({Department.SUPPORT})), True),
        (Conditions(departments=frozenset({Department.SERVICE})), False),
        (Conditions(tags=frozenset({"vip"})), True),
        (Conditions(tags=frozenset({"vip", "gold"})), False),
        (Conditions(priorities=frozenset({Priority.NORMAL}), channels=frozenset({"voice"})), False),
    ],
)
def test_each_condition(conditions: Conditions, matches: bool) -> None:
    assert conditions.matches(FACTS) is matches


def test_tags_must_all_be_carried_and_compare_lower_case() -> None:
    facts = replace(FACTS, tags=frozenset({"vip", "gold", "de"}))
    assert Conditions(tags=frozenset({"VIP", " gold"})).matches(facts)
    assert not Conditions(tags=frozenset({"vip", "silver"})).matches(facts)


def test_unset_fields_match_only_empty_conditions() -> None:
    bare = TicketFacts(Priority.NORMAL)
    assert not Conditions(types=frozenset({"incident"})).matches(bare)
    assert not Conditions(channels=frozenset({"email"})).matches(bare)
    assert not Conditions(departments=frozenset({Department.SUPPORT})).matches(bare)
    assert not Conditions(tags=frozenset({"vip"})).matches(bare)


def test_target_for_and_actions() -> None:
    normal = target(FR, h(2))
    urgent = target(FR, timedelta(minutes=30), priority=Priority.URGENT)
    notify = Notify(("group:leads",), "sla-warning")
    raise_it = RaisePriority(Priority.URGENT)
    move = MoveToTier(Tier.L2)
    chosen = policy(
        normal,
        urgent,
        escalations=(
            escalation(FR, Trigger.WARNING, notify),
            escalation(FR, Trigger.BREACH, raise_it),
            escalation(Metric.AGENT_WORK, Trigger.BREACH, MoveToGroup("g-2")),
            escalation(FR, Trigger.BREACH, move),
        ),
    )
    assert chosen.target_for(FR, Priority.NORMAL) == normal
    assert chosen.target_for(FR, Priority.URGENT) == urgent
    assert chosen.target_for(FR, Priority.LOW) is None
    assert chosen.target_for(Metric.NEXT_REPLY, Priority.NORMAL) is None
    assert chosen.actions(FR, Trigger.WARNING) == (notify,)
    assert chosen.actions(FR, Trigger.BREACH) == (raise_it, move)
    assert chosen.actions(Metric.NEXT_REPLY, Trigger.BREACH) == ()


def test_default_warn_percent_is_75() -> None:
    assert policy(target(FR, h(1))).warn_percent == 75


@pytest.mark.parametrize("duration", [timedelta(0), timedelta(minutes=-5)])
def test_a_target_must_be_positive(duration: timedelta) -> None:
    with pytest.raises(SlaError) as refused:
        Target(FR, Priority.NORMAL, duration, Basis.CALENDAR)
    assert refused.value.rule == "negative_target"


def test_one_target_per_metric_and_priority() -> None:
    with pytest.raises(SlaError) as refused:
        policy(target(FR, h(1)), target(FR, h(2)))
    assert refused.value.rule == "duplicate_target"
    assert refused.value.detail == {"policy_id": "std", "metric": "first_reply", "priority": "normal"}
    # The same metric for another priority, or another metric for the same priority, is fine.
    policy(target(FR, h(1)), target(FR, h(2), priority=Priority.HIGH), target(Metric.NEXT_REPLY, h(2)))


@pytest.mark.parametrize("percent", [0, 100, -1, 150])
def test_warn_percent_is_1_to_99(percent: int) -> None:
    with pytest.raises(SlaError) as refused:
        policy(target(FR, h(1)), warn_percent=percent)
    assert refused.value.rule == "invalid_warn_percent"


@pytest.mark.parametrize("percent", [1, 99])
def test_warn_percent_bounds_are_allowed(percent: int) -> None:
    assert policy(target(FR, h(1)), warn_percent=percent).warn_percent == percent


def test_business_targets_need_a_calendar() -> None:
    with pytest.raises(SlaError) as refused:
        policy(target(FR, h(1), Basis.BUSINESS), calendar_id=" ")
    assert refused.value.rule == "missing_calendar"
    # Calendar time needs none.
    assert policy(target(FR, h(1)), calendar_id="").calendar_id == ""


@pytest.mark.parametrize("policy_id", ["", "  "])
def test_a_policy_needs_an_id(policy_id: str) -> None:
    with pytest.raises(SlaError) as refused:
        policy(target(FR, h(1)), policy_id=policy_id)
    assert refused.value.rule == "invalid_id"


def test_moving_to_a_group_needs_its_id() -> None:
    with pytest.raises(SlaError) as refused:
        MoveToGroup("")
    assert refused.value.rule == "invalid_id"


def _named(policy_id: str, position: int, **conditions: Any) -> Policy:
    return policy(
        target(FR, h(1)), policy_id=policy_id, position=position, conditions=Conditions(**conditions)
    )


def test_select_takes_the_first_match_by_position() -> None:
    catch_all = _named("catch-all", 100)
    vip = _named("vip", 5, tags=frozenset({"vip"}))
    urgent = _named("urgent", 1, priorities=frozenset({Priority.URGENT}))
    policies = [catch_all, vip, urgent]
    assert select(policies, FACTS) == vip
    assert select(policies, replace(FACTS, priority=Priority.URGENT)) == urgent
    assert select(policies, replace(FACTS, tags=frozenset())) == catch_all


def test_equal_positions_are_ordered_by_id() -> None:
    b = _named("b", 1)
    a = _named("a", 1)
    assert select([b, a], FACTS) == a
    assert select([a, b], FACTS) == a


def test_select_without_a_match_is_none() -> None:
    assert select([_named("voice", 1, channels=frozenset({"voice"}))], FACTS) is None
    assert select([], FACTS) is None


def test_escalation_holds_its_actions_in_order() -> None:
    actions = (Notify(("a-1", "mailto:lead@example.com")), MoveToGroup("g-1"))
    assert Escalation(FR, Trigger.BREACH, actions).actions == actions
