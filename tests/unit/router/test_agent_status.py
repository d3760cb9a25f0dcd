"""Status changes, withdrawn offers and forced overflow steps, as pure functions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.router.domain.errors import InvalidConfiguration
from services.router.domain.model import (
    Agent,
    AgentState,
    AgentStatus,
    Channel,
    OverflowStep,
    Queue,
    QueueMembership,
    RoutingProfile,
    SkillRequirement,
    WaitingContact,
)
from services.router.domain.routing import offer_withdrawn, overflow, status_set

NOW = datetime(2031, 1, 1, tzinfo=UTC)
AGENT = Agent("a", "t", RoutingProfile((QueueMembership("q"),)))


def test_becoming_available_starts_the_idle_time_and_ends_missed() -> None:
    missed = replace(AGENT, status=AgentStatus.AWAY, away_reason="missed", state=AgentState.MISSED)
    available = status_set(missed, AgentStatus.AVAILABLE, NOW)
    assert available.status is AgentStatus.AVAILABLE
    assert available.state is AgentState.IDLE
    assert available.idle_since == NOW
    assert available.away_reason == ""
    assert available.consecutive_no_answers == 0


def test_away_needs_a_reason_and_only_away_has_one() -> None:
    with pytest.raises(InvalidConfiguration) as no_reason:
        status_set(AGENT, AgentStatus.AWAY, NOW)
    assert no_reason.value.rule == "away_needs_reason"
    with pytest.raises(InvalidConfiguration) as stray:
        status_set(AGENT, AgentStatus.AVAILABLE, NOW, reason="lunch")
    assert stray.value.rule == "reason_without_away"
    assert status_set(AGENT, AgentStatus.AWAY, NOW, reason="lunch").away_reason == "lunch"


def test_the_same_status_again_changes_nothing() -> None:
    assert status_set(AGENT, AgentStatus.OFFLINE, NOW) is AGENT


def test_a_withdrawn_offer_puts_the_agent_back_as_before() -> None:
    offered = replace(AGENT, status=AgentStatus.AVAILABLE, state=AgentState.OFFERED)
    assert offer_withdrawn(offered).state is AgentState.IDLE
    busy = replace(offered, load={Channel.CHAT: 1})
    assert offer_withdrawn(busy).state is AgentState.BUSY


def test_forced_overflow_steps_apply_before_their_time() -> None:
    queue = Queue(
        "q",
        "t",
        "Q",
        frozenset({Channel.CHAT}),
        required_skills=(SkillRequirement("de", 5),),
        overflow_steps=(OverflowStep(timedelta(minutes=10), accept_any_agent=True),),
    )
    contact = WaitingContact("c", "t", "q", Channel.CHAT, enqueued_at=NOW)
    assert overflow(queue, contact, NOW).requirements.skills == (SkillRequirement("de", 5),)
    forced = overflow(queue, replace(contact, overflow_step=1), NOW)
    assert forced.steps_due == 1
    assert forced.requirements.skills == ()
