"""What the router keeps in Redis, and its JSON form.

Every record starts with its `version`, which the commit script checks with a prefix match
(`{"version":N`) instead of decoding the whole JSON. A record also remembers the index entries and
timers it put in Redis (`entries`, `timers`), so the next change removes exactly those, whatever
the configuration says by then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from helpline.business_hours import Calendar
from helpline.codec import Codec
from services.router.domain.contact import Contact
from services.router.domain.model import Agent, Queue, RoutingProfile

# index key -> score (an integer as text: Redis scores are doubles, Lua numbers print 14 digits)
Entries = Mapping[str, str]
EMPTY: Mapping[str, str] = {}


@dataclass(frozen=True)
class QueueRecord:
    version: int
    queue: Queue


@dataclass(frozen=True)
class CalendarRecord:
    """A business-hours calendar a queue's hours of operation follow."""

    version: int
    calendar: Calendar


@dataclass(frozen=True)
class SkillRecord:
    version: int
    name: str
    description: str = ""


@dataclass(frozen=True)
class ProfileRecord:
    version: int
    profile_id: str
    name: str
    profile: RoutingProfile


@dataclass(frozen=True)
class PendingOffer:
    contact_id: str
    offer_id: str


@dataclass(frozen=True)
class AgentRecord:
    version: int
    agent: Agent
    display_name: str = ""
    # The named routing profile the agent follows; empty when the profile is the agent's own.
    profile_id: str = ""
    offer: PendingOffer | None = None
    # The contacts the agent has (accepted, connected, held or in after-contact work).
    contacts: tuple[str, ...] = ()
    entries: Entries = field(default_factory=dict)


@dataclass(frozen=True)
class ContactRecord:
    version: int
    contact: Contact
    # How many of the queue's overflow steps the current requirements include.
    overflow_step: int = 0
    preferred_agent_id: str = ""
    entries: Entries = field(default_factory=dict)
    # timer member -> due, in ms since the Unix epoch
    timers: Mapping[str, int] = field(default_factory=dict)


QUEUES = Codec(QueueRecord)
CALENDARS = Codec(CalendarRecord)
SKILLS = Codec(SkillRecord)
PROFILES = Codec(ProfileRecord)
AGENTS = Codec(AgentRecord)
CONTACTS = Codec(ContactRecord)
