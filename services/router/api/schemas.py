"""The router admin API's request and response bodies (and so its OpenAPI schema): the shared field
types, skills, routing profiles and agents. Queues, the largest, are in `schemas_queue`.

Numbers and booleans are strict: `"5"`, `5.0` for an integer or `1` for a boolean are refused
rather than coerced, so what the spec calls invalid is invalid. The domain checks what the schema
only documents (capacity per channel, routable channels), so its rule reaches the client.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, WithJsonSchema

from helpline.calendar_schema import CalendarOut
from services.router.domain.errors import InvalidConfiguration
from services.router.domain.model import (
    CAPACITY_CHANNEL,
    MAX_CAPACITY,
    MAX_PROFICIENCY,
    MIN_PROFICIENCY,
    AgentState,
    AgentStatus,
    Channel,
    CrossChannelRule,
    QueueMembership,
    RoutingProfile,
)
from services.router.storage.records import AgentRecord, ProfileRecord, SkillRecord
from services.router.usecases.configuration import AgentConfig

# No ':' or '@' in ids and skill names: they become parts of Redis keys and of the requirement
# signatures (`skill:level,...`, `@agent`) the router indexes by.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
SKILL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# Long enough for any wait a queue means (an email may wait for days), short enough that every
# moment computed from it stays a valid datetime and protobuf Duration.
MAX_SECONDS = 30 * 24 * 3600
# Priorities and counts travel as int32 in the events; this keeps them far inside that.
MAX_COUNT = 1000

Id = Annotated[str, Field(pattern=ID_PATTERN)]
SkillName = Annotated[str, Field(pattern=SKILL_PATTERN)]
Text = Annotated[str, Field(max_length=200)]
Proficiency = Annotated[int, Strict(), Field(ge=MIN_PROFICIENCY, le=MAX_PROFICIENCY)]
Seconds = Annotated[float, Strict(), Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False, description="Seconds.")]
Flag = Annotated[bool, Strict()]
RoutableChannel = Annotated[
    Channel,
    WithJsonSchema(
        {
            "type": "string",
            "enum": sorted(CAPACITY_CHANNEL),
            "description": "A channel agents take (self-service and bot contacts never wait for one).",
        }
    ),
]
# Pydantic writes key patterns as `patternProperties` but leaves other keys allowed in the schema,
# though validation refuses them; `additionalProperties: false` makes the spec say what it does.
AgentSkills = Annotated[
    dict[SkillName, Proficiency],
    Field(max_length=100, json_schema_extra={"additionalProperties": False}),
]
Capacity = Annotated[
    dict[Channel, Annotated[int, Strict()]],
    WithJsonSchema(
        {
            "type": "object",
            "description": "Contacts at once per channel; a channel left out is not taken. Callbacks "
            "use the voice line and web forms the email slots.",
            "properties": {
                str(channel): {"type": "integer", "minimum": 1, "maximum": limit}
                for channel, limit in sorted(MAX_CAPACITY.items())
            },
            "additionalProperties": False,
        }
    ),
]


def profile_fields(profile: RoutingProfile) -> dict[str, Any]:
    """A routing profile as the body fields that describe it."""
    return {
        "queues": [
            MembershipIn(queue_id=m.queue_id, priority=m.priority, delay_seconds=m.delay.total_seconds())
            for m in profile.queues
        ],
        "capacity": dict(sorted(profile.capacity.items())),
        "cross_channel": profile.cross_channel,
        "voice_exclusive": profile.voice_exclusive,
    }


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SkillIn(In):
    description: Annotated[str, Field(max_length=1000)] = ""


class SkillOut(BaseModel):
    name: str
    version: int
    description: str

    @classmethod
    def of(cls, record: SkillRecord) -> SkillOut:
        return cls(name=record.name, version=record.version, description=record.description)


class SkillList(BaseModel):
    items: list[SkillOut] = Field(description="By id.")
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; absent on the last."
    )


class MembershipIn(In):
    queue_id: Id
    priority: Annotated[int, Strict(), Field(ge=1, le=MAX_COUNT, description="1 is served first.")] = 1
    delay_seconds: Seconds = Field(
        0,
        description="A contact of this queue waiting longer than this competes at the profile's top "
        "priority.",
    )


class RoutingProfileIn(In):
    """The queues an agent serves and how many contacts of each channel at once."""

    queues: Annotated[list[MembershipIn], Field(max_length=100)] = []
    capacity: Capacity = Field(default_factory=lambda: {Channel.VOICE: 1})
    cross_channel: CrossChannelRule = Field(
        CrossChannelRule.CURRENT_ONLY,
        description="`any`: an agent busy on one channel may be offered another.",
    )
    voice_exclusive: Flag = Field(True, description="A call takes the agent off every other channel.")

    def to_profile(self) -> RoutingProfile:
        return RoutingProfile(
            queues=tuple(
                QueueMembership(m.queue_id, m.priority, timedelta(seconds=m.delay_seconds))
                for m in self.queues
            ),
            capacity=dict(self.capacity),
            cross_channel=self.cross_channel,
            voice_exclusive=self.voice_exclusive,
        )


class ProfileIn(RoutingProfileIn):
    name: Text = ""


class ProfileOut(ProfileIn):
    id: str
    version: int

    @classmethod
    def of(cls, record: ProfileRecord) -> ProfileOut:
        return cls(
            id=record.profile_id, version=record.version, name=record.name, **profile_fields(record.profile)
        )


class ProfileList(BaseModel):
    items: list[ProfileOut] = Field(description="By id.")
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; absent on the last."
    )


class AgentIn(In):
    """Exactly one of `routing_profile_id` (a shared profile the agent follows as it changes) and
    `routing_profile` (the agent's own)."""

    display_name: Text = ""
    skills: AgentSkills = {}
    routing_profile_id: Id | None = None
    routing_profile: RoutingProfileIn | None = None

    def to_config(self, agent_id: str) -> AgentConfig:
        if self.routing_profile_id is not None and self.routing_profile is not None:
            raise InvalidConfiguration(
                "profile_ambiguous", "give routing_profile_id or routing_profile, not both"
            )
        return AgentConfig(
            agent_id=agent_id,
            skills=self.skills,
            display_name=self.display_name,
            profile_id=self.routing_profile_id or "",
            profile=self.routing_profile.to_profile() if self.routing_profile else None,
        )


class AgentOut(BaseModel):
    id: str
    version: int
    display_name: str
    skills: dict[str, int]
    routing_profile_id: str | None = Field(description="Absent when the profile is the agent's own.")
    routing_profile: RoutingProfileIn = Field(description="The profile the agent routes by now.")
    status: AgentStatus
    away_reason: str | None
    state: AgentState
    load: dict[Channel, int] = Field(description="Contacts the agent has now, per capacity channel.")

    @classmethod
    def of(cls, record: AgentRecord) -> AgentOut:
        agent = record.agent
        return cls(
            id=agent.agent_id,
            version=record.version,
            display_name=record.display_name,
            skills=dict(sorted(agent.skills.items())),
            routing_profile_id=record.profile_id or None,
            routing_profile=RoutingProfileIn(**profile_fields(agent.profile)),
            status=agent.status,
            away_reason=agent.away_reason or None,
            state=agent.state,
            load={channel: active for channel, active in sorted(agent.load.items()) if active},
        )


class AgentList(BaseModel):
    items: list[AgentOut] = Field(description="By id.")
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; absent on the last."
    )


class CalendarList(BaseModel):
    items: list[CalendarOut] = Field(description="By id.")
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; absent on the last."
    )
