"""The words of the SLA domain (DOMAIN.md, SLA): metrics, time bases, the ticket statuses the
engine reads, escalation actions, and the ticket fields policies match on.

Values are DOMAIN.md's words (`first_reply`, `on_hold`); a convert module maps them to the
protobuf enums of the contracts. Every type is immutable.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from helpline.domain import DomainError
from helpline.vocabulary import AuthorType, TicketStatus
from helpline.vocabulary import Department as Department
from helpline.vocabulary import Priority as Priority
from helpline.vocabulary import Tier as Tier

# The ticket statuses the engine reads and the authors of comments: the tickets service's words,
# defined once in the shared vocabulary.
Status = TicketStatus
Author = AuthorType


class SlaError(DomainError):
    """A policy, calendar or ticket fact the SLA domain cannot use."""


class Metric(StrEnum):
    FIRST_REPLY = "first_reply"
    NEXT_REPLY = "next_reply"
    PERIODIC_UPDATE = "periodic_update"
    PAUSABLE_UPDATE = "pausable_update"
    REQUESTER_WAIT = "requester_wait"
    AGENT_WORK = "agent_work"


class Basis(StrEnum):
    BUSINESS = "business"
    CALENDAR = "calendar"


class Trigger(StrEnum):
    WARNING = "warning"
    BREACH = "breach"


@dataclass(frozen=True)
class RaisePriority:
    """Raise the ticket to `priority`; the tickets service never lowers one."""

    priority: Priority


@dataclass(frozen=True)
class MoveToGroup:
    group_id: str

    def __post_init__(self) -> None:
        if not self.group_id.strip():
            raise SlaError("invalid_id", "moving a ticket to a group needs the group's id")


@dataclass(frozen=True)
class MoveToTier:
    tier: Tier


@dataclass(frozen=True)
class Notify:
    """Tell people or systems: agent ids, group ids or addresses such as "mailto:lead@example.com".
    An empty template leaves the choice to the notifier."""

    targets: tuple[str, ...]
    template: str = ""


Action = RaisePriority | MoveToGroup | MoveToTier | Notify


@dataclass(frozen=True)
class TicketFacts:
    """The ticket fields policies match on. `type` and `channel` are the tickets service's words
    ("incident", "email"), "" when unset; tags are lower-case, as the tickets service keeps them."""

    priority: Priority
    type: str = ""
    channel: str = ""
    department: Department | None = None
    tags: frozenset[str] = frozenset()
