"""Queues, agents, routing profiles and waiting contacts, as the router reasons about them.

Values are DOMAIN.md's words (`after_contact_work`, `least_occupied`); `convert` maps them to the
protobuf enums of the contracts. Every type is immutable and validates itself on construction, so
a value that exists is one the routing functions can use. Durations are `timedelta`, moments are
timezone-aware `datetime`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from helpline.vocabulary import Channel as Channel
from helpline.vocabulary import Department as Department
from helpline.vocabulary import Priority as Priority
from helpline.vocabulary import Tier as Tier
from services.router.domain.errors import InvalidConfiguration

# DOMAIN.md gives capacity to these channels only (Channel is helpline.vocabulary's, shared with
# tickets). The others borrow a slot: a callback is a phone
# call, so it takes the voice line; a web form is answered like an email. Self-service and bot
# contacts never reach an agent.
CAPACITY_CHANNEL: Mapping[Channel, Channel] = {
    Channel.VOICE: Channel.VOICE,
    Channel.CALLBACK: Channel.VOICE,
    Channel.CHAT: Channel.CHAT,
    Channel.EMAIL: Channel.EMAIL,
    Channel.WEB_FORM: Channel.EMAIL,
    Channel.SMS: Channel.SMS,
    Channel.SOCIAL: Channel.SOCIAL,
    Channel.TASK: Channel.TASK,
}
MAX_CAPACITY: Mapping[Channel, int] = {channel: 10 for channel in set(CAPACITY_CHANNEL.values())} | {
    Channel.VOICE: 1
}


class AgentStatus(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    AWAY = "away"


class AgentState(StrEnum):
    IDLE = "idle"
    OFFERED = "offered"
    BUSY = "busy"
    AFTER_CONTACT_WORK = "after_contact_work"
    MISSED = "missed"


class Strategy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    LEAST_OCCUPIED = "least_occupied"
    BEST_SKILL = "best_skill"
    ROUND_ROBIN = "round_robin"
    PREFERRED_AGENT = "preferred_agent"


class CrossChannelRule(StrEnum):
    ANY = "any"
    CURRENT_ONLY = "current_only"


class TimeoutAction(StrEnum):
    CALLBACK = "callback"
    VOICEMAIL = "voicemail"
    TICKET = "ticket"


class SlaReaction(StrEnum):
    """What the queue does for a waiting contact the SLA service warns of or reports breached."""

    NONE = "none"
    RAISE_PRIORITY = "raise_priority"
    OVERFLOW = "overflow"


MIN_PROFICIENCY = 1
MAX_PROFICIENCY = 5
# Bounds the best-skill score (see routing.agent_score) and keeps requirements readable.
MAX_REQUIRED_SKILLS = 32
MISSED_REASON = "missed"
# Bounds that keep every configured value inside the contracts' int32 fields and the routing
# epoch's arithmetic: a month is longer than any wait, timeout or window a queue needs.
MAX_DURATION = timedelta(days=31)
MAX_COUNT = 1000
# The industry's customary "80/20": 80% answered within the threshold.
DEFAULT_SERVICE_LEVEL_TARGET = 0.8


def _check_proficiency(name: str, proficiency: int) -> None:
    if not name.strip():
        raise InvalidConfiguration("empty_skill_name", "a skill needs a name")
    if not MIN_PROFICIENCY <= proficiency <= MAX_PROFICIENCY:
        raise InvalidConfiguration(
            "proficiency_out_of_range",
            f"skill {name!r} has proficiency {proficiency}; it must be 1 to 5",
            skill=name,
        )


def _check_not_negative(what: str, duration: timedelta) -> None:
    if duration < timedelta(0):
        raise InvalidConfiguration("negative_duration", f"{what} is negative ({duration})", field=what)
    if duration > MAX_DURATION:
        raise InvalidConfiguration(
            "duration_too_long", f"{what} is {duration}; at most {MAX_DURATION.days} days", field=what
        )


def _check_count(what: str, value: int, low: int) -> None:
    if not low <= value <= MAX_COUNT:
        raise InvalidConfiguration(
            f"{what}_out_of_range", f"{what} is {value}; it must be {low} to {MAX_COUNT}", field=what
        )


def _check_aware(what: str, moment: datetime) -> None:
    if moment.tzinfo is None:
        raise InvalidConfiguration("naive_datetime", f"{what} has no time zone", field=what)


@dataclass(frozen=True)
class SkillRequirement:
    """A skill a contact needs, at `min_proficiency` or better."""

    name: str
    min_proficiency: int = MIN_PROFICIENCY

    def __post_init__(self) -> None:
        _check_proficiency(self.name, self.min_proficiency)


@dataclass(frozen=True)
class OverflowStep:
    """After `after` (from the contact's effective enqueue time), widen or move.

    `min_proficiency` lowers every remaining requirement to at most that level; 0 keeps them.
    """

    after: timedelta
    drop_skills: frozenset[str] = frozenset()
    min_proficiency: int = 0
    move_to_queue_id: str = ""
    accept_any_agent: bool = False

    def __post_init__(self) -> None:
        _check_not_negative("overflow step after", self.after)
        if self.min_proficiency != 0:
            _check_proficiency("overflow step", self.min_proficiency)


@dataclass(frozen=True)
class Queue:
    queue_id: str
    tenant_id: str
    name: str
    channels: frozenset[Channel]
    department: Department = Department.SERVICE
    tier: Tier = Tier.L1
    strategy: Strategy = Strategy.LONGEST_IDLE
    # Only read by preferred_agent: who takes the contact once the window has passed.
    fallback_strategy: Strategy = Strategy.LONGEST_IDLE
    preferred_agent_window: timedelta = timedelta(0)
    required_skills: tuple[SkillRequirement, ...] = ()
    overflow_steps: tuple[OverflowStep, ...] = ()
    service_level_threshold: timedelta = timedelta(seconds=20)
    # The share answered within the threshold that the queue aims at: "80/20" is 0.8 within 20 s.
    service_level_target: float = DEFAULT_SERVICE_LEVEL_TARGET
    # Zero: a contact waits for as long as it takes.
    max_wait: timedelta = timedelta(0)
    timeout_action: TimeoutAction = TimeoutAction.TICKET
    # Zero: never offer a callback.
    callback_threshold: timedelta = timedelta(0)
    offer_timeout: timedelta = timedelta(seconds=20)
    # Zero: offer timeouts never send an agent away.
    max_no_answer: int = 3
    after_contact_work_timeout: timedelta = timedelta(seconds=60)
    resume_window: timedelta = timedelta(seconds=60)
    sla_warning_reaction: SlaReaction = SlaReaction.NONE
    sla_breach_reaction: SlaReaction = SlaReaction.NONE
    # The router's business-hours calendar of the queue's hours of operation; empty: always open.
    calendar_id: str = ""
    # What a contact gets while the queue is closed (DOMAIN.md, Hours of operation).
    closed_action: TimeoutAction = TimeoutAction.TICKET
    version: int = 1

    def __post_init__(self) -> None:
        if not self.channels:
            raise InvalidConfiguration("queue_without_channel", f"queue {self.queue_id!r} serves no channel")
        unroutable = sorted(channel for channel in self.channels if channel not in CAPACITY_CHANNEL)
        if unroutable:
            raise InvalidConfiguration(
                "unroutable_channel",
                f"queue {self.queue_id!r} lists {', '.join(unroutable)}, which no agent handles",
                queue_id=self.queue_id,
            )
        if self.fallback_strategy is Strategy.PREFERRED_AGENT:
            raise InvalidConfiguration(
                "fallback_is_preferred_agent", "the fallback of preferred_agent must be another strategy"
            )
        for what, duration in (
            ("preferred_agent_window", self.preferred_agent_window),
            ("service_level_threshold", self.service_level_threshold),
            ("max_wait", self.max_wait),
            ("callback_threshold", self.callback_threshold),
            ("after_contact_work_timeout", self.after_contact_work_timeout),
            ("resume_window", self.resume_window),
        ):
            _check_not_negative(what, duration)
        if not 0 < self.service_level_target < 1:
            raise InvalidConfiguration(
                "invalid_service_level_target",
                f"service level target {self.service_level_target}; it must lie strictly between 0 and 1",
            )
        if self.offer_timeout <= timedelta(0):
            raise InvalidConfiguration("offer_timeout_not_positive", "an offer must stay open for some time")
        if self.max_no_answer < 0:
            raise InvalidConfiguration("negative_max_no_answer", "max_no_answer must be 0 or more")
        _check_count("max_no_answer", self.max_no_answer, 0)
        _check_not_negative("offer_timeout", self.offer_timeout)
        _check_unique_skills(self.required_skills)
        self._check_overflow_steps()

    @property
    def routed_channels(self) -> frozenset[Channel]:
        """The channels of the contacts it routes: a voice queue also calls its callers back."""
        if Channel.VOICE in self.channels:
            return self.channels | {Channel.CALLBACK}
        return self.channels

    def _check_overflow_steps(self) -> None:
        previous: OverflowStep | None = None
        for step in self.overflow_steps:
            if previous is not None and step.after <= previous.after:
                raise InvalidConfiguration(
                    "overflow_steps_unsorted",
                    f"overflow step at {step.after} does not come after the one at {previous.after}",
                    queue_id=self.queue_id,
                )
            if previous is not None and previous.move_to_queue_id:
                # The contact has left the queue by then, so the step would silently never apply.
                raise InvalidConfiguration(
                    "overflow_step_after_move",
                    f"overflow step at {step.after} follows a move to another queue",
                    queue_id=self.queue_id,
                )
            if step.move_to_queue_id == self.queue_id:
                raise InvalidConfiguration(
                    "overflow_to_itself", f"queue {self.queue_id!r} overflows to itself"
                )
            previous = step


def _check_unique_skills(skills: tuple[SkillRequirement, ...]) -> None:
    names = [skill.name for skill in skills]
    if len(set(names)) != len(names):
        raise InvalidConfiguration("duplicate_skill", f"a skill is required twice in {sorted(names)}")
    if len(names) > MAX_REQUIRED_SKILLS:
        raise InvalidConfiguration(
            "too_many_required_skills", f"{len(names)} required skills; at most {MAX_REQUIRED_SKILLS}"
        )


@dataclass(frozen=True)
class QueueMembership:
    """One queue of a routing profile: `priority` 1 is served first."""

    queue_id: str
    priority: int = 1
    # A contact of this queue that has waited longer than this competes at the profile's top priority.
    delay: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.priority < 1:
            raise InvalidConfiguration(
                "queue_priority_out_of_range", "queue priority starts at 1 (served first)"
            )
        _check_count("queue_priority", self.priority, 1)
        _check_not_negative("delay", self.delay)


@dataclass(frozen=True)
class RoutingProfile:
    """The queues an agent serves, and how many contacts of each channel at once."""

    queues: tuple[QueueMembership, ...]
    # Keyed by capacity channel (see CAPACITY_CHANNEL); a channel absent here is not taken.
    capacity: Mapping[Channel, int] = field(default_factory=lambda: {Channel.VOICE: 1})
    cross_channel: CrossChannelRule = CrossChannelRule.CURRENT_ONLY
    # DOMAIN.md: voice excludes the other channels unless the profile says otherwise.
    voice_exclusive: bool = True

    def __post_init__(self) -> None:
        ids = [membership.queue_id for membership in self.queues]
        if len(set(ids)) != len(ids):
            raise InvalidConfiguration("duplicate_queue", "a queue appears twice in the routing profile")
        for channel, capacity in self.capacity.items():
            limit = MAX_CAPACITY.get(channel)
            if limit is None:
                raise InvalidConfiguration(
                    "capacity_for_unknown_channel",
                    f"{channel} has no capacity of its own; it uses {CAPACITY_CHANNEL.get(channel, 'none')}",
                    channel=str(channel),
                )
            if not 1 <= capacity <= limit:
                raise InvalidConfiguration(
                    "impossible_capacity",
                    f"capacity {capacity} for {channel}; it must be 1 to {limit}",
                    channel=str(channel),
                )

    def membership(self, queue_id: str) -> QueueMembership | None:
        return next((member for member in self.queues if member.queue_id == queue_id), None)

    @property
    def top_priority(self) -> int:
        return min((member.priority for member in self.queues), default=1)

    @property
    def total_capacity(self) -> int:
        return sum(self.capacity.values())


@dataclass(frozen=True)
class Agent:
    agent_id: str
    tenant_id: str
    profile: RoutingProfile
    skills: Mapping[str, int] = field(default_factory=dict)
    status: AgentStatus = AgentStatus.OFFLINE
    # Why the agent is away ("break", "lunch", "missed"...); empty unless away.
    away_reason: str = ""
    state: AgentState = AgentState.IDLE
    # Active contacts per capacity channel; a channel at zero may be absent.
    load: Mapping[Channel, int] = field(default_factory=dict)
    # When the agent last became available, or last started or finished a contact (longest_idle).
    idle_since: datetime | None = None
    # When each queue last offered this agent a contact (round_robin).
    last_offered: Mapping[str, datetime] = field(default_factory=dict)
    consecutive_no_answers: int = 0

    def __post_init__(self) -> None:
        for name, proficiency in self.skills.items():
            _check_proficiency(name, proficiency)
        for channel, active in self.load.items():
            if active < 0:
                raise InvalidConfiguration(
                    "negative_load", f"load {active} on {channel}", channel=str(channel)
                )
        if self.idle_since is not None:
            _check_aware("idle_since", self.idle_since)
        if self.status is not AgentStatus.AWAY and self.away_reason:
            raise InvalidConfiguration("reason_without_away", "only an away agent has an away reason")

    def active(self, channel: Channel) -> int:
        return self.load.get(channel, 0)

    @property
    def total_load(self) -> int:
        return sum(self.load.values())


@dataclass(frozen=True)
class WaitingContact:
    """What routing needs to know of a queued contact (contact.py owns the whole contact)."""

    contact_id: str
    tenant_id: str
    queue_id: str
    channel: Channel
    # Includes time waited before a transfer, a callback request or an abandon within the resume window.
    enqueued_at: datetime
    priority: Priority = Priority.NORMAL
    vip: bool = False
    required_skills: tuple[SkillRequirement, ...] = ()
    # The agent who last served this customer (preferred_agent).
    preferred_agent_id: str = ""
    # How many of the queue's overflow steps apply whatever the wait (an SLA reaction forced them).
    overflow_step: int = 0
    # Agents who rejected this contact or let its offer time out: never offered it again.
    declined_by: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.channel not in CAPACITY_CHANNEL:
            raise InvalidConfiguration(
                "unroutable_channel",
                f"a {self.channel} contact never waits for an agent",
                channel=str(self.channel),
            )
        _check_aware("enqueued_at", self.enqueued_at)
        _check_unique_skills(self.required_skills)
        if self.overflow_step < 0:
            raise InvalidConfiguration("negative_overflow_step", "overflow_step counts applied steps from 0")
