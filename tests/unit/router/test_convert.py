"""The router model in the contracts' terms, and back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

import pytest

from helpline.v1 import agent_events_pb2, common_pb2, queue_events_pb2
from services.router.domain import convert
from services.router.domain.errors import InvalidConfiguration
from services.router.domain.model import (
    AgentState,
    AgentStatus,
    Channel,
    CrossChannelRule,
    Department,
    OverflowStep,
    Priority,
    QueueMembership,
    SkillRequirement,
    SlaReaction,
    Strategy,
    Tier,
    TimeoutAction,
)
from tests.unit.router.support import queue

ROUND_TRIPS: list[tuple[type[StrEnum], Mapping[Any, int], Callable[..., Any]]] = [
    (Channel, convert.CHANNEL_TO_PROTO, convert.channel_from_proto),
    (AgentStatus, convert.AGENT_STATUS_TO_PROTO, convert.agent_status_from_proto),
    (AgentState, convert.AGENT_STATE_TO_PROTO, convert.agent_state_from_proto),
    (Strategy, convert.STRATEGY_TO_PROTO, convert.strategy_from_proto),
    (CrossChannelRule, convert.CROSS_CHANNEL_TO_PROTO, convert.cross_channel_from_proto),
    (Priority, convert.PRIORITY_TO_PROTO, convert.priority_from_proto),
    (Department, convert.DEPARTMENT_TO_PROTO, convert.department_from_proto),
    (Tier, convert.TIER_TO_PROTO, convert.tier_from_proto),
    (TimeoutAction, convert.TIMEOUT_ACTION_TO_PROTO, convert.timeout_action_from_proto),
    (SlaReaction, convert.SLA_REACTION_TO_PROTO, convert.sla_reaction_from_proto),
]


# Channel.API (a ticket opened through the tickets API) is no contact's channel: the router never
# holds it, so its table leaves it out.
NOT_ROUTER_WORDS = {Channel.API}


@pytest.mark.parametrize(("enum", "to_proto", "from_proto"), ROUND_TRIPS)
def test_every_member_maps_to_a_distinct_value_and_back(
    enum: type[StrEnum], to_proto: Mapping[Any, int], from_proto: Callable[..., Any]
) -> None:
    members = [member for member in enum if member not in NOT_ROUTER_WORDS]
    assert set(to_proto) == set(members)
    assert len(set(to_proto.values())) == len(members)
    for member in members:
        assert from_proto(to_proto[member]) is member


def test_an_unspecified_channel_is_no_channel_not_api() -> None:
    assert (
        convert.channel_from_proto(common_pb2.CHANNEL_UNSPECIFIED, Channel.SELF_SERVICE)
        is Channel.SELF_SERVICE
    )
    with pytest.raises(InvalidConfiguration):
        convert.channel_from_proto(common_pb2.CHANNEL_UNSPECIFIED)


def test_unset_and_unknown_values_are_refused_unless_defaulted() -> None:
    with pytest.raises(InvalidConfiguration) as unset:
        convert.strategy_from_proto(0)
    assert unset.value.rule == "unspecified_enum"
    with pytest.raises(InvalidConfiguration) as unknown:
        convert.channel_from_proto(99)
    assert unknown.value.rule == "unknown_enum"
    assert convert.strategy_from_proto(0, Strategy.LONGEST_IDLE) is Strategy.LONGEST_IDLE


def test_a_queue_survives_the_round_trip() -> None:
    configured = queue(
        strategy=Strategy.PREFERRED_AGENT,
        fallback_strategy=Strategy.BEST_SKILL,
        preferred_agent_window=timedelta(seconds=45),
        required_skills=(SkillRequirement("billing", 3),),
        overflow_steps=(
            OverflowStep(timedelta(seconds=30), drop_skills=frozenset({"billing"}), min_proficiency=2),
            OverflowStep(timedelta(seconds=90), move_to_queue_id="q2", accept_any_agent=True),
        ),
        callback_threshold=timedelta(minutes=3),
        max_no_answer=2,
        service_level_target=0.9,
        version=7,
    )
    assert convert.queue_from_proto(convert.queue_to_proto(configured)) == configured


def test_unset_queue_fields_take_the_domain_defaults() -> None:
    event = queue_events_pb2.QueueConfigured(
        tenant_id="acme", queue_id="q1", name="Sales", channels=[common_pb2.CHANNEL_CHAT]
    )
    read = convert.queue_from_proto(event)
    assert (read.strategy, read.offer_timeout, read.resume_window, read.service_level_target) == (
        Strategy.LONGEST_IDLE,
        timedelta(seconds=20),
        timedelta(seconds=60),
        0.8,
    )


def test_an_agent_configuration_gives_its_profile_and_skills() -> None:
    event = agent_events_pb2.AgentConfigured(
        agent_id="a1",
        skills=[common_pb2.Skill(name="billing", proficiency=4)],
        queues=[agent_events_pb2.QueueMembership(queue_id="q1", priority=2)],
        capacities=[agent_events_pb2.ChannelCapacity(channel=common_pb2.CHANNEL_CHAT, capacity=3)],
    )
    event.queues[0].delay.FromTimedelta(timedelta(seconds=30))
    read = convert.profile_from_proto(event)
    assert read.queues == (QueueMembership("q1", 2, timedelta(seconds=30)),)
    assert dict(read.capacity) == {Channel.CHAT: 3}
    assert read.cross_channel is CrossChannelRule.CURRENT_ONLY
    assert convert.agent_skills_from_proto(event) == {"billing": 4}
    event.skills.append(common_pb2.Skill(name="billing", proficiency=2))
    with pytest.raises(InvalidConfiguration):
        convert.agent_skills_from_proto(event)
