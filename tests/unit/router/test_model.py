"""What the model refuses to hold, each with its rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.router.domain.errors import InvalidConfiguration
from services.router.domain.model import (
    AgentStatus,
    Channel,
    OverflowStep,
    QueueMembership,
    SkillRequirement,
    Strategy,
)
from tests.unit.router.support import agent, contact, profile, queue

SECOND = timedelta(seconds=1)

REFUSED: list[tuple[str, Callable[[], Any]]] = [
    ("proficiency_out_of_range", lambda: SkillRequirement("billing", 0)),
    ("proficiency_out_of_range", lambda: SkillRequirement("billing", 6)),
    ("proficiency_out_of_range", lambda: agent(skills={"billing": 7})),
    ("proficiency_out_of_range", lambda: OverflowStep(SECOND, min_proficiency=6)),
    ("empty_skill_name", lambda: SkillRequirement(" ")),
    ("impossible_capacity", lambda: profile(capacity={Channel.VOICE: 2})),
    ("impossible_capacity", lambda: profile(capacity={Channel.CHAT: 11})),
    ("impossible_capacity", lambda: profile(capacity={Channel.EMAIL: 0})),
    ("capacity_for_unknown_channel", lambda: profile(capacity={Channel.CALLBACK: 1})),
    ("capacity_for_unknown_channel", lambda: profile(capacity={Channel.BOT: 1})),
    ("duplicate_queue", lambda: profile("q1", "q1")),
    ("queue_priority_out_of_range", lambda: QueueMembership("q1", 0)),
    ("negative_duration", lambda: QueueMembership("q1", 1, -SECOND)),
    ("negative_duration", lambda: OverflowStep(-SECOND)),
    ("negative_duration", lambda: queue(resume_window=-SECOND)),
    ("negative_duration", lambda: queue(max_wait=-SECOND)),
    ("offer_timeout_not_positive", lambda: queue(offer_timeout=timedelta(0))),
    ("negative_max_no_answer", lambda: queue(max_no_answer=-1)),
    ("invalid_service_level_target", lambda: queue(service_level_target=1.0)),
    ("invalid_service_level_target", lambda: queue(service_level_target=0.0)),
    ("queue_without_channel", lambda: queue(channels=frozenset())),
    ("unroutable_channel", lambda: queue(channels=frozenset({Channel.BOT}))),
    ("unroutable_channel", lambda: contact(channel=Channel.SELF_SERVICE)),
    ("fallback_is_preferred_agent", lambda: queue(fallback_strategy=Strategy.PREFERRED_AGENT)),
    ("duplicate_skill", lambda: queue(required_skills=(SkillRequirement("a"), SkillRequirement("a", 2)))),
    (
        "too_many_required_skills",
        lambda: contact(required_skills=tuple(SkillRequirement(f"s{i}") for i in range(33))),
    ),
    (
        "overflow_steps_unsorted",
        lambda: queue(overflow_steps=(OverflowStep(30 * SECOND), OverflowStep(10 * SECOND))),
    ),
    (
        "overflow_steps_unsorted",
        lambda: queue(overflow_steps=(OverflowStep(30 * SECOND), OverflowStep(30 * SECOND))),
    ),
    (
        "overflow_step_after_move",
        lambda: queue(overflow_steps=(OverflowStep(SECOND, move_to_queue_id="q2"), OverflowStep(2 * SECOND))),
    ),
    ("overflow_to_itself", lambda: queue(overflow_steps=(OverflowStep(SECOND, move_to_queue_id="q1"),))),
    ("negative_load", lambda: agent(load={Channel.CHAT: -1})),
    ("reason_without_away", lambda: agent(status=AgentStatus.AVAILABLE, away_reason="lunch")),
    ("naive_datetime", lambda: agent(idle_since=datetime(2026, 1, 1))),
    ("naive_datetime", lambda: contact(enqueued_at=datetime(2026, 1, 1))),
    ("negative_overflow_step", lambda: contact(overflow_step=-1)),
]


@pytest.mark.parametrize(("rule", "build"), REFUSED)
def test_invalid_values_are_refused_with_their_rule(rule: str, build: Callable[[], Any]) -> None:
    with pytest.raises(InvalidConfiguration) as refused:
        build()
    assert refused.value.rule == rule
    assert rule in str(refused.value)


def test_defaults_follow_the_domain() -> None:
    configured = queue()
    assert configured.strategy is Strategy.LONGEST_IDLE
    assert configured.offer_timeout == timedelta(seconds=20)
    assert configured.resume_window == timedelta(seconds=60)
    assert profile().top_priority == 1
    assert profile(capacity={Channel.VOICE: 1, Channel.CHAT: 10}).total_capacity == 11


def test_an_away_agent_carries_its_reason() -> None:
    assert agent(status=AgentStatus.AWAY, away_reason="lunch").away_reason == "lunch"
