"""Brute-force routing choices, written from DOMAIN.md's words rather than from the scores.

The property tests check that walking the score-ordered indexes (what the store does) picks what
these pick by looking at every agent or every waiting contact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from fractions import Fraction

from services.router.domain.model import Agent, Priority, Queue, Strategy, WaitingContact
from services.router.domain.routing import QueueHead, agent_refusal, contact_refusal, overflow

_URGENCY = [Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW]


def _idle(agent: Agent) -> float:
    # Never idle-stamped counts as idle the longest.
    return agent.idle_since.timestamp() if agent.idle_since else float("-inf")


def _semantic_key(
    strategy: Strategy, queue: Queue, contact: WaitingContact, agent: Agent, now: datetime
) -> tuple[object, ...]:
    if strategy is Strategy.LONGEST_IDLE:
        return (_idle(agent), agent.agent_id)
    if strategy is Strategy.LEAST_OCCUPIED:
        occupancy = Fraction(agent.total_load, agent.profile.total_capacity)
        # Documented resolution of the tie-break: whole seconds.
        seconds = math.floor(_idle(agent)) if agent.idle_since else float("-inf")
        return (occupancy, seconds, agent.agent_id)
    if strategy is Strategy.BEST_SKILL:
        skills = overflow(queue, contact, now).requirements.skills
        proficiency = sum(agent.skills.get(skill.name, 0) for skill in skills)
        return (-proficiency, _idle(agent), agent.agent_id)
    if strategy is Strategy.ROUND_ROBIN:
        offered = agent.last_offered.get(queue.queue_id)
        return (offered.timestamp() if offered else float("-inf"), agent.agent_id)
    return _semantic_key(queue.fallback_strategy, queue, contact, agent, now)


def best_agent(queue: Queue, contact: WaitingContact, agents: Iterable[Agent], now: datetime) -> Agent | None:
    eligible = [agent for agent in agents if agent_refusal(queue, contact, agent, now) is None]
    return min(
        eligible, key=lambda agent: _semantic_key(queue.strategy, queue, contact, agent, now), default=None
    )


def best_contact(agent: Agent, heads: Iterable[QueueHead], now: datetime) -> QueueHead | None:
    """Every waiting contact considered: profile priority after the delay rule, then priority,
    VIP, age and id."""

    def key(head: QueueHead) -> tuple[object, ...]:
        waiting = head.contact
        membership = agent.profile.membership(waiting.queue_id)
        assert membership is not None
        waited = now - waiting.enqueued_at
        top = min(member.priority for member in agent.profile.queues)
        queue_priority = top if waited > membership.delay else membership.priority
        return (
            queue_priority,
            _URGENCY.index(waiting.priority),
            not waiting.vip,
            waiting.enqueued_at,
            waiting.contact_id,
        )

    eligible = [head for head in heads if contact_refusal(agent, head, now) is None]
    return min(eligible, key=key, default=None)
