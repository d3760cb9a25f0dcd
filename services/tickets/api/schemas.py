"""The REST API's request and response bodies (and so its OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from helpline.limits import FIELD_KEY, FIELD_VALUE, ID, LISTS, LONG_TEXT, MAPS, SUBJECT, TAG, TEXT, limited
from services.tickets.domain.model import (
    AuthorType,
    Channel,
    Comment,
    Department,
    Priority,
    Status,
    SurveyAnswer,
    SurveyKind,
    Ticket,
    TicketType,
    Tier,
)
from services.tickets.domain.survey_settings import MAX_THROTTLE_DAYS, SurveySettings

# The limits are helpline.limits', which gRPC and the Kafka ingress hold requests to as well.
Tag = Annotated[str, limited(TAG, description="Normalised to lower case.")]
Tags = Annotated[list[Tag], Field(max_length=LISTS["tags"])]
FieldKey = Annotated[str, limited(FIELD_KEY)]
Id = Annotated[str, limited(ID, min_length=1)]
Subject = Annotated[str, limited(SUBJECT, min_length=1)]
Body = Annotated[str, limited(LONG_TEXT, min_length=1)]
Description = Annotated[str, limited(LONG_TEXT)]
Reason = Annotated[str, limited(TEXT)]
# Pydantic writes key patterns as `patternProperties` but leaves other keys allowed in the schema,
# though validation refuses them; `additionalProperties: false` makes the spec say what it does.
CustomFields = Annotated[
    dict[FieldKey, Annotated[str, limited(FIELD_VALUE)]],
    Field(max_length=MAPS["custom_fields"].max_entries, json_schema_extra={"additionalProperties": False}),
]


# JSON's true or false only: pydantic's lax mode would take 1, "yes" or "off" for a boolean.
Flag = Annotated[bool, Strict()]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TicketCreate(_In):
    subject: Subject
    description: Description = ""
    requester_id: Id | None = None
    channel: Channel = Channel.API
    type: TicketType = TicketType.QUESTION
    priority: Priority = Priority.NORMAL
    department: Department = Department.SERVICE
    tier: Tier = Tier.L1
    group_id: Id | None = None
    assignee_id: Id | None = None
    tags: Tags = []
    custom_fields: CustomFields = {}
    contact_id: Id | None = None


class TicketPatch(_In):
    """Only the fields present change; a field set to its current value changes nothing."""

    subject: Subject | None = None
    description: Description | None = None
    requester_id: Id | None = None
    type: TicketType | None = None
    priority: Priority | None = None
    group_id: Id | None = None
    tags: Tags | None = None
    custom_fields: CustomFields | None = None


class TransitionIn(_In):
    status: Status


class AssignIn(_In):
    assignee_id: Id | None = None
    group_id: Id | None = None


class CommentIn(_In):
    body: Body
    public: Flag = True
    author_type: AuthorType = AuthorType.AGENT
    author_id: Id | None = None
    contact_id: Id | None = None


class LinkIn(_In):
    contact_id: Id


class EscalateIn(_In):
    tier: Tier
    group_id: Id | None = None
    reason: Reason = ""


class HandOffIn(_In):
    department: Department
    group_id: Id | None = None
    reason: Reason = ""


class SurveyOut(BaseModel):
    survey_id: str
    kind: SurveyKind
    score: int
    scale_max: int
    comment: str | None
    agent_id: str | None
    answered_at: datetime

    @classmethod
    def of(cls, a: SurveyAnswer) -> SurveyOut:
        return cls(
            survey_id=a.survey_id,
            kind=a.kind,
            score=a.score,
            scale_max=a.scale_max,
            comment=a.comment or None,
            agent_id=a.agent_id or None,
            answered_at=a.answered_at,
        )


class TicketOut(BaseModel):
    id: str
    version: int
    subject: str
    description: str
    status: Status
    type: TicketType
    priority: Priority
    channel: Channel
    department: Department
    tier: Tier
    group_id: str | None
    assignee_id: str | None
    requester_id: str | None
    tags: list[str]
    custom_fields: dict[str, str]
    contact_ids: list[str]
    follow_up_of: str | None
    follow_up_ids: list[str]
    reopen_count: int
    comment_count: int
    created_at: datetime
    updated_at: datetime
    first_agent_reply_at: datetime | None
    solved_at: datetime | None
    closed_at: datetime | None
    surveys: list[SurveyOut] = Field(
        [], description="The customer's survey answers (CSAT, NPS, CES), one per survey and kind."
    )

    @classmethod
    def of(cls, t: Ticket) -> TicketOut:
        return cls(
            id=t.ticket_id,
            version=t.version,
            subject=t.subject,
            description=t.description,
            status=t.status,
            type=t.type,
            priority=t.priority,
            channel=t.channel,
            department=t.department,
            tier=t.tier,
            group_id=t.group_id or None,
            assignee_id=t.assignee_id or None,
            requester_id=t.requester_id or None,
            tags=list(t.tags),
            custom_fields=dict(t.custom_fields),
            contact_ids=list(t.contact_ids),
            follow_up_of=t.follow_up_of or None,
            follow_up_ids=list(t.follow_up_ids),
            reopen_count=t.reopen_count,
            comment_count=t.comment_count,
            created_at=t.created_at,
            updated_at=t.updated_at,
            first_agent_reply_at=t.first_agent_reply_at,
            solved_at=t.solved_at,
            closed_at=t.closed_at,
            surveys=[SurveyOut.of(a) for a in t.surveys],
        )


class CommentOut(BaseModel):
    id: str
    public: bool
    author_type: AuthorType
    author_id: str | None
    body: str
    contact_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, c: Comment) -> CommentOut:
        return cls(
            id=c.comment_id,
            public=c.public,
            author_type=c.author.type,
            author_id=c.author.id or None,
            body=c.body,
            contact_id=c.contact_id or None,
            created_at=c.created_at,
        )


class CommentCreated(BaseModel):
    ticket: TicketOut
    comment: CommentOut
    follow_up: TicketOut | None = Field(
        None,
        description="Set when the comment was a customer reply to a closed ticket: the new linked ticket.",
    )


class TicketPage(BaseModel):
    items: list[TicketOut]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; absent on the last."
    )


class CommentPage(BaseModel):
    items: list[CommentOut] = Field(description="Oldest first.")
    next_cursor: str | None = Field(
        None,
        description="Pass as `cursor` for the next page; absent on the last. A page may hold fewer "
        "comments than `page_size` before the last (it stops at 1 MiB of comments).",
    )


class SurveySettingsBody(_In):
    """A tenant's survey settings: what a solved ticket's requester is asked, and how often at most."""

    kinds: list[SurveyKind] = Field(
        max_length=len(SurveyKind),
        description="The questions a solve asks, each at most once; empty: no surveys are sent.",
    )
    # Strict: pydantic would take JSON's true as 1 day.
    throttle_days: int = Field(
        strict=True,
        ge=0,
        le=MAX_THROTTLE_DAYS,
        description="At most one survey per requester in this many days; 0: no throttle. A ticket "
        "without a requester is surveyed only when this is 0.",
    )

    def to_settings(self) -> SurveySettings:
        return SurveySettings(tuple(self.kinds), self.throttle_days)

    @classmethod
    def of(cls, settings: SurveySettings) -> SurveySettingsBody:
        return cls(kinds=list(settings.kinds), throttle_days=settings.throttle_days)
