"""The pure parts of the store's indexes: signatures read back, entries and timers of records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.router.domain import arrival
from services.router.domain.model import (
    Agent,
    AgentStatus,
    Channel,
    Department,
    OverflowStep,
    Queue,
    QueueMembership,
    RoutingProfile,
    SkillRequirement,
)
from services.router.domain.routing import Requirements
from services.router.storage.indexes import agent_entries, contact_entries, contact_timers, parse_signature
from services.router.storage.records import ContactRecord
from services.router.storage.store import Keys
from services.router.usecases.configuration import queue_signatures

NOW = datetime(2031, 1, 1, tzinfo=UTC)
names = st.text(st.characters(codec="ascii", exclude_characters=",:@"), min_size=1, max_size=8).filter(
    str.strip
)


@given(st.dictionaries(names, st.integers(1, 5), max_size=5))
def test_a_signature_reads_back_as_its_requirements(skills: dict[str, int]) -> None:
    requirements = Requirements(tuple(SkillRequirement(n, level) for n, level in sorted(skills.items())))
    assert parse_signature(requirements.signature) == requirements


def test_the_signatures_of_a_queue_follow_its_overflow_steps() -> None:
    queue = Queue(
        "q",
        "t",
        "Q",
        frozenset({Channel.CHAT}),
        required_skills=(SkillRequirement("de", 4),),
        overflow_steps=(
            OverflowStep(timedelta(seconds=30), min_proficiency=2),
            OverflowStep(timedelta(seconds=60), accept_any_agent=True),
        ),
    )
    assert queue_signatures(queue, NOW) == {Channel.CHAT: {"de:4", "de:2", ""}}


def _queue() -> Queue:
    return Queue("q", "t", "Q", frozenset({Channel.VOICE, Channel.CHAT}), max_wait=timedelta(minutes=5))


def test_an_available_agent_is_in_the_ready_sets_it_meets_and_an_offline_one_only_a_member() -> None:
    keys = Keys("t")
    profile = RoutingProfile((QueueMembership("q"),), {Channel.VOICE: 1})
    agent = Agent("a", "t", profile, skills={"de": 3}, status=AgentStatus.AVAILABLE, idle_since=NOW)
    registry = {("q", Channel.VOICE): {"", "de:3", "de:4"}, ("q", Channel.CHAT): {""}}
    entries = agent_entries(agent, {"q": _queue()}, registry)
    assert set(entries) == {
        keys.members("q"),
        keys.in_state("q", agent.state),
        keys.staffed("q", Channel.VOICE),
        keys.staffed("q", Channel.CALLBACK),
        keys.ready("q", Channel.VOICE, ""),
        keys.ready("q", Channel.VOICE, "de:3"),
    }
    offline = Agent("a", "t", profile, skills={"de": 3})
    assert set(agent_entries(offline, {"q": _queue()}, registry)) == {keys.members("q")}


def test_a_queued_contact_waits_in_its_signatures_set_with_its_timers() -> None:
    received = arrival.receive(
        contact_id="c", tenant_id="t", channel=Channel.VOICE, department=Department.SERVICE, now=NOW
    )
    queued = arrival.enqueue(received.contact, "q", NOW).contact
    record = ContactRecord(1, queued)
    keys = Keys("t")
    assert set(contact_entries(record, _queue(), NOW)) == {
        keys.depth("q", Channel.VOICE),
        keys.waiting("q", Channel.VOICE, ""),
    }
    assert contact_timers(record, _queue(), NOW) == {
        "maxwait|c": int((NOW + timedelta(minutes=5)).timestamp() * 1000)
    }
