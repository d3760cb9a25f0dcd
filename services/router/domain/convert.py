"""The router model in the contracts' terms (protobuf), and back.

The contracts' enums use zero for "not set". Reading a zero back is an error unless the caller
names a default, because the domain never holds an unknown channel, status or strategy. Reading
a whole QueueConfigured or AgentConfigured applies DOMAIN.md's defaults (longest_idle, a 20 s
offer timeout, a 60 s resume window, voice capacity 1) to the fields left unset.
"""

from __future__ import annotations

from datetime import timedelta

from google.protobuf.duration_pb2 import Duration

from helpline.domain import EnumReader, duration, enum_map
from helpline.v1 import agent_events_pb2, common_pb2, queue_events_pb2
from helpline.vocabulary import CONTACT_CHANNEL_TO_PROTO
from helpline.vocabulary import DEPARTMENT_TO_PROTO as DEPARTMENT_TO_PROTO
from helpline.vocabulary import PRIORITY_TO_PROTO as PRIORITY_TO_PROTO
from helpline.vocabulary import TIER_TO_PROTO as TIER_TO_PROTO
from services.router.domain.errors import InvalidConfiguration
from services.router.domain.model import (
    AgentState,
    AgentStatus,
    Channel,
    CrossChannelRule,
    OverflowStep,
    Queue,
    QueueMembership,
    RoutingProfile,
    SkillRequirement,
    SlaReaction,
    Strategy,
    TimeoutAction,
)

# Contacts only: the router never holds Channel.API (a ticket opened through the API), so
# CHANNEL_UNSPECIFIED reads as the caller's default or is refused.
CHANNEL_TO_PROTO = CONTACT_CHANNEL_TO_PROTO
AGENT_STATUS_TO_PROTO = enum_map(AgentStatus, common_pb2.AgentStatus, "AGENT_STATUS_")
AGENT_STATE_TO_PROTO = enum_map(AgentState, common_pb2.AgentState, "AGENT_STATE_")
STRATEGY_TO_PROTO = enum_map(Strategy, common_pb2.RoutingStrategy, "ROUTING_STRATEGY_")
CROSS_CHANNEL_TO_PROTO = enum_map(CrossChannelRule, common_pb2.CrossChannelRule, "CROSS_CHANNEL_RULE_")
TIMEOUT_ACTION_TO_PROTO = enum_map(TimeoutAction, common_pb2.TimeoutAction, "TIMEOUT_ACTION_")
SLA_REACTION_TO_PROTO = enum_map(SlaReaction, common_pb2.SlaReaction, "SLA_REACTION_")

channel_from_proto = EnumReader(CHANNEL_TO_PROTO, "Channel", InvalidConfiguration)
agent_status_from_proto = EnumReader(AGENT_STATUS_TO_PROTO, "AgentStatus", InvalidConfiguration)
agent_state_from_proto = EnumReader(AGENT_STATE_TO_PROTO, "AgentState", InvalidConfiguration)
strategy_from_proto = EnumReader(STRATEGY_TO_PROTO, "RoutingStrategy", InvalidConfiguration)
cross_channel_from_proto = EnumReader(CROSS_CHANNEL_TO_PROTO, "CrossChannelRule", InvalidConfiguration)
priority_from_proto = EnumReader(PRIORITY_TO_PROTO, "Priority", InvalidConfiguration)
department_from_proto = EnumReader(DEPARTMENT_TO_PROTO, "Department", InvalidConfiguration)
tier_from_proto = EnumReader(TIER_TO_PROTO, "Tier", InvalidConfiguration)
timeout_action_from_proto = EnumReader(TIMEOUT_ACTION_TO_PROTO, "TimeoutAction", InvalidConfiguration)
sla_reaction_from_proto = EnumReader(SLA_REACTION_TO_PROTO, "SlaReaction", InvalidConfiguration)


def _or_default(message: Duration, is_set: bool, default: timedelta) -> timedelta:
    return message.ToTimedelta() if is_set else default


def skills_from_proto(skills: list[common_pb2.Skill]) -> tuple[SkillRequirement, ...]:
    return tuple(SkillRequirement(skill.name, skill.proficiency) for skill in skills)


def overflow_step_from_proto(step: queue_events_pb2.OverflowStep) -> OverflowStep:
    return OverflowStep(
        after=step.after.ToTimedelta(),
        drop_skills=frozenset(step.drop_skills),
        min_proficiency=step.min_proficiency,
        move_to_queue_id=step.move_to_queue_id,
        accept_any_agent=step.accept_any_agent,
    )


def overflow_step_to_proto(step: OverflowStep) -> queue_events_pb2.OverflowStep:
    return queue_events_pb2.OverflowStep(
        after=duration(step.after),
        drop_skills=sorted(step.drop_skills),
        min_proficiency=step.min_proficiency,
        move_to_queue_id=step.move_to_queue_id,
        accept_any_agent=step.accept_any_agent,
    )


def queue_from_proto(event: queue_events_pb2.QueueConfigured) -> Queue:
    defaults = Queue(event.queue_id, event.tenant_id, event.name, frozenset({Channel.VOICE}))
    return Queue(
        queue_id=event.queue_id,
        tenant_id=event.tenant_id,
        name=event.name,
        channels=frozenset(channel_from_proto(channel) for channel in event.channels),
        department=department_from_proto(event.department, defaults.department),
        tier=tier_from_proto(event.tier, defaults.tier),
        strategy=strategy_from_proto(event.strategy, defaults.strategy),
        fallback_strategy=strategy_from_proto(event.fallback_strategy, defaults.fallback_strategy),
        preferred_agent_window=event.preferred_agent_window.ToTimedelta(),
        required_skills=skills_from_proto(list(event.required_skills)),
        overflow_steps=tuple(overflow_step_from_proto(step) for step in event.overflow_steps),
        service_level_threshold=_or_default(
            event.service_level_threshold,
            event.HasField("service_level_threshold"),
            defaults.service_level_threshold,
        ),
        service_level_target=event.service_level_target or defaults.service_level_target,
        max_wait=event.max_wait.ToTimedelta(),
        timeout_action=timeout_action_from_proto(event.timeout_action, defaults.timeout_action),
        callback_threshold=event.callback_threshold.ToTimedelta(),
        offer_timeout=_or_default(
            event.offer_timeout, event.HasField("offer_timeout"), defaults.offer_timeout
        ),
        max_no_answer=event.max_no_answer,
        after_contact_work_timeout=_or_default(
            event.after_contact_work_timeout,
            event.HasField("after_contact_work_timeout"),
            defaults.after_contact_work_timeout,
        ),
        resume_window=_or_default(
            event.resume_window, event.HasField("resume_window"), defaults.resume_window
        ),
        sla_warning_reaction=sla_reaction_from_proto(event.sla_warning_reaction, SlaReaction.NONE),
        sla_breach_reaction=sla_reaction_from_proto(event.sla_breach_reaction, SlaReaction.NONE),
        calendar_id=event.calendar_id,
        closed_action=timeout_action_from_proto(event.closed_action, defaults.closed_action),
        version=event.version,
    )


def queue_to_proto(queue: Queue) -> queue_events_pb2.QueueConfigured:
    """Every field of the configuration; `configured_at` is the caller's (the domain reads no clock)."""
    return queue_events_pb2.QueueConfigured(
        tenant_id=queue.tenant_id,
        queue_id=queue.queue_id,
        name=queue.name,
        channels=sorted(CHANNEL_TO_PROTO[channel] for channel in queue.channels),
        department=DEPARTMENT_TO_PROTO[queue.department],
        tier=TIER_TO_PROTO[queue.tier],
        strategy=STRATEGY_TO_PROTO[queue.strategy],
        fallback_strategy=STRATEGY_TO_PROTO[queue.fallback_strategy],
        preferred_agent_window=duration(queue.preferred_agent_window),
        required_skills=[
            common_pb2.Skill(name=s.name, proficiency=s.min_proficiency) for s in queue.required_skills
        ],
        overflow_steps=[overflow_step_to_proto(step) for step in queue.overflow_steps],
        service_level_threshold=duration(queue.service_level_threshold),
        service_level_target=queue.service_level_target,
        max_wait=duration(queue.max_wait),
        timeout_action=TIMEOUT_ACTION_TO_PROTO[queue.timeout_action],
        callback_threshold=duration(queue.callback_threshold),
        offer_timeout=duration(queue.offer_timeout),
        max_no_answer=queue.max_no_answer,
        after_contact_work_timeout=duration(queue.after_contact_work_timeout),
        resume_window=duration(queue.resume_window),
        sla_warning_reaction=SLA_REACTION_TO_PROTO[queue.sla_warning_reaction],
        sla_breach_reaction=SLA_REACTION_TO_PROTO[queue.sla_breach_reaction],
        calendar_id=queue.calendar_id,
        closed_action=TIMEOUT_ACTION_TO_PROTO[queue.closed_action],
        version=queue.version,
    )


def profile_from_proto(event: agent_events_pb2.AgentConfigured) -> RoutingProfile:
    capacity = {channel_from_proto(entry.channel): entry.capacity for entry in event.capacities}
    return RoutingProfile(
        queues=tuple(
            QueueMembership(member.queue_id, member.priority or 1, member.delay.ToTimedelta())
            for member in event.queues
        ),
        capacity=capacity or {Channel.VOICE: 1},
        cross_channel=cross_channel_from_proto(event.cross_channel, CrossChannelRule.CURRENT_ONLY),
    )


def agent_skills_from_proto(event: agent_events_pb2.AgentConfigured) -> dict[str, int]:
    skills = {skill.name: skill.proficiency for skill in event.skills}
    if len(skills) != len(event.skills):
        raise InvalidConfiguration("duplicate_skill", f"agent {event.agent_id!r} lists a skill twice")
    return skills
