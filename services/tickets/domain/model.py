"""A ticket and its comments, as the tickets service reasons about them (DOMAIN.md, Tickets).

Values are the words DOMAIN.md uses (`on_hold`, `field_service`, `L2`); `convert` maps them to the
protobuf enums of the contracts. A ticket is immutable: every command returns a new one with its
version one higher.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from helpline.vocabulary import AuthorType as AuthorType
from helpline.vocabulary import Channel as Channel
from helpline.vocabulary import Department as Department
from helpline.vocabulary import Priority as Priority
from helpline.vocabulary import TicketStatus
from helpline.vocabulary import TicketType as TicketType
from helpline.vocabulary import Tier as Tier

# A ticket's status, in the vocabulary the SLA service shares.
Status = TicketStatus


@dataclass(frozen=True)
class Actor:
    """Who did something: an agent, the customer, or the system (a rule, a timer, another service)."""

    type: AuthorType
    id: str = ""


SYSTEM = Actor(AuthorType.SYSTEM, "tickets")


class SurveyKind(StrEnum):
    CSAT = "csat"
    NPS = "nps"
    CES = "ces"


@dataclass(frozen=True)
class SurveyAnswer:
    """A customer's answer to one question of a follow-up survey (DOMAIN.md, KPIs: CSAT, NPS, CES),
    credited to `agent_id`."""

    survey_id: str
    kind: SurveyKind
    score: int
    scale_max: int
    answered_at: datetime
    comment: str = ""
    agent_id: str = ""
    contact_id: str = ""


@dataclass(frozen=True)
class Comment:
    comment_id: str
    ticket_id: str
    public: bool
    author: Actor
    body: str
    created_at: datetime
    contact_id: str = ""


@dataclass(frozen=True)
class Ticket:
    ticket_id: str
    tenant_id: str
    subject: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    requester_id: str = ""
    channel: Channel = Channel.API
    type: TicketType = TicketType.QUESTION
    priority: Priority = Priority.NORMAL
    status: Status = Status.NEW
    department: Department = Department.SERVICE
    tier: Tier = Tier.L1
    group_id: str = ""
    assignee_id: str = ""
    tags: tuple[str, ...] = ()
    custom_fields: Mapping[str, str] = field(default_factory=dict)
    contact_ids: tuple[str, ...] = ()
    follow_up_of: str = ""
    follow_up_ids: tuple[str, ...] = ()
    first_agent_reply_at: datetime | None = None
    solved_at: datetime | None = None
    closed_at: datetime | None = None
    reopen_count: int = 0
    comment_count: int = 0
    surveys: tuple[SurveyAnswer, ...] = ()
    version: int = 1

    def evolve(self, now: datetime, **changes: Any) -> Ticket:
        """The next version of this ticket, with `changes` applied."""
        return replace(self, updated_at=now, version=self.version + 1, **changes)

    # -- storage form: plain JSON types, so the store (and its Lua scripts) need not know the model --

    def to_json(self) -> dict[str, Any]:
        return {
            "ticket_id": self.ticket_id,
            "tenant_id": self.tenant_id,
            "subject": self.subject,
            "description": self.description,
            "requester_id": self.requester_id,
            "channel": self.channel.value,
            "type": self.type.value,
            "priority": self.priority.value,
            "status": self.status.value,
            "department": self.department.value,
            "tier": self.tier.value,
            "group_id": self.group_id,
            "assignee_id": self.assignee_id,
            "tags": list(self.tags),
            "custom_fields": dict(self.custom_fields),
            "contact_ids": list(self.contact_ids),
            "follow_up_of": self.follow_up_of,
            "follow_up_ids": list(self.follow_up_ids),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "first_agent_reply_at": _iso(self.first_agent_reply_at),
            "solved_at": _iso(self.solved_at),
            "closed_at": _iso(self.closed_at),
            "reopen_count": self.reopen_count,
            "comment_count": self.comment_count,
            "surveys": [survey_to_json(answer) for answer in self.surveys],
            "version": self.version,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Ticket:
        return cls(
            ticket_id=data["ticket_id"],
            tenant_id=data["tenant_id"],
            subject=data["subject"],
            description=data.get("description", ""),
            requester_id=data.get("requester_id", ""),
            channel=Channel(data.get("channel", Channel.API)),
            type=TicketType(data.get("type", TicketType.QUESTION)),
            priority=Priority(data.get("priority", Priority.NORMAL)),
            status=Status(data.get("status", Status.NEW)),
            department=Department(data.get("department", Department.SERVICE)),
            tier=Tier(data.get("tier", Tier.L1)),
            group_id=data.get("group_id", ""),
            assignee_id=data.get("assignee_id", ""),
            tags=tuple(data.get("tags", ())),
            custom_fields=dict(data.get("custom_fields", {})),
            contact_ids=tuple(data.get("contact_ids", ())),
            follow_up_of=data.get("follow_up_of", ""),
            follow_up_ids=tuple(data.get("follow_up_ids", ())),
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
            first_agent_reply_at=_dt(data.get("first_agent_reply_at")),
            solved_at=_dt(data.get("solved_at")),
            closed_at=_dt(data.get("closed_at")),
            reopen_count=int(data.get("reopen_count", 0)),
            comment_count=int(data.get("comment_count", 0)),
            surveys=tuple(survey_from_json(answer) for answer in data.get("surveys", ())),
            version=int(data.get("version", 1)),
        )


def comment_to_json(comment: Comment) -> dict[str, Any]:
    return {
        "comment_id": comment.comment_id,
        "ticket_id": comment.ticket_id,
        "public": comment.public,
        "author_type": comment.author.type.value,
        "author_id": comment.author.id,
        "body": comment.body,
        "created_at": comment.created_at.isoformat(),
        "contact_id": comment.contact_id,
    }


def comment_from_json(data: Mapping[str, Any]) -> Comment:
    return Comment(
        comment_id=data["comment_id"],
        ticket_id=data["ticket_id"],
        public=bool(data["public"]),
        author=Actor(AuthorType(data["author_type"]), data.get("author_id", "")),
        body=data["body"],
        created_at=datetime.fromisoformat(data["created_at"]),
        contact_id=data.get("contact_id", ""),
    )


def survey_to_json(answer: SurveyAnswer) -> dict[str, Any]:
    return {
        "survey_id": answer.survey_id,
        "kind": answer.kind.value,
        "score": answer.score,
        "scale_max": answer.scale_max,
        "answered_at": answer.answered_at.isoformat(),
        "comment": answer.comment,
        "agent_id": answer.agent_id,
        "contact_id": answer.contact_id,
    }


def survey_from_json(data: Mapping[str, Any]) -> SurveyAnswer:
    return SurveyAnswer(
        survey_id=data["survey_id"],
        kind=SurveyKind(data["kind"]),
        score=int(data["score"]),
        scale_max=int(data["scale_max"]),
        answered_at=datetime.fromisoformat(data["answered_at"]),
        comment=data.get("comment", ""),
        agent_id=data.get("agent_id", ""),
        contact_id=data.get("contact_id", ""),
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
