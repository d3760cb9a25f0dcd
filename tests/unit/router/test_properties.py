"""Properties: contact order is priority then age; index walks equal the brute-force oracle;
no sequence of assignments puts an agent over capacity."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.router.domain import routing
from services.router.domain.errors import RoutingRefused
from services.router.domain.model import (
    CAPACITY_CHANNEL,
    MAX_CAPACITY,
    Agent,
    AgentState,
    AgentStatus,
    Channel,
    CrossChannelRule,
    OverflowStep,
    Priority,
    Queue,
    QueueMembership,
    RoutingProfile,
    SkillRequirement,
    Strategy,
    WaitingContact,
)
from services.router.domain.routing import QueueHead
from tests.unit.router.oracle import best_agent, best_contact
from tests.unit.router.support import at, queue

NOW = at(600)
SKILLS = ("billing", "spanish", "tech")
ROUTED = (Channel.VOICE, Channel.CHAT, Channel.EMAIL, Channel.CALLBACK)
# Few distinct moments, so ties (and their tie-breaks) are common; some sub-second, some not.
moments = st.builds(at, st.sampled_from([0, 0.25, 0.5, 1, 1.75, 30, 300, 301, 599]))
requirements = st.lists(
    st.builds(SkillRequirement, st.sampled_from(SKILLS), st.integers(1, 5)),
    max_size=2,
    unique_by=lambda s: s.name,
).map(tuple)


@st.composite
def contacts(
    draw: st.DrawFn, queue_ids: tuple[str, ...] = ("q1",), agent_ids: tuple[str, ...] = ()
) -> WaitingContact:
    return WaitingContact(
        contact_id=f"c{draw(st.integers(0, 10_000))}",
        tenant_id="acme",
        queue_id=draw(st.sampled_from(queue_ids)),
        channel=draw(st.sampled_from([Channel.VOICE, Channel.CHAT, *ROUTED])),
        enqueued_at=draw(moments),
        priority=draw(st.sampled_from(list(Priority))),
        vip=draw(st.booleans()),
        required_skills=draw(requirements),
        preferred_agent_id=draw(st.sampled_from(("", *agent_ids))),
        declined_by=frozenset(draw(st.lists(st.sampled_from(agent_ids), max_size=2)))
        if agent_ids
        else frozenset(),
    )


@st.composite
def routing_profiles(draw: st.DrawFn, queue_ids: tuple[str, ...] = ("q1",)) -> RoutingProfile:
    # Voice or chat always, so most drawn contacts are on a channel the agent takes.
    channels = {draw(st.sampled_from([Channel.VOICE, Channel.CHAT]))}
    channels |= draw(st.sets(st.sampled_from(sorted(set(CAPACITY_CHANNEL.values())))))
    return RoutingProfile(
        queues=tuple(
            QueueMembership(
                queue_id, draw(st.integers(1, 3)), timedelta(seconds=draw(st.sampled_from([0, 30, 400])))
            )
            for queue_id in queue_ids
        ),
        capacity={channel: draw(st.integers(1, MAX_CAPACITY[channel])) for channel in channels},
        cross_channel=draw(st.sampled_from(list(CrossChannelRule))),
        voice_exclusive=draw(st.booleans()),
    )


@st.composite
def agents(draw: st.DrawFn, agent_id: str, queue_ids: tuple[str, ...] = ("q1",)) -> Agent:
    profile = draw(routing_profiles(queue_ids))
    # Mostly free and available, so that choices are often possible and tie-breaks decide.
    load = {
        channel: draw(st.sampled_from([0, 0, capacity])) for channel, capacity in profile.capacity.items()
    }
    status = draw(st.sampled_from([AgentStatus.AVAILABLE] * 4 + [AgentStatus.AWAY, AgentStatus.OFFLINE]))
    return Agent(
        agent_id=agent_id,
        tenant_id=draw(st.sampled_from(["acme"] * 5 + ["globex"])),
        profile=profile,
        skills=draw(st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), min_size=2)),
        status=status,
        away_reason="break" if status is AgentStatus.AWAY else "",
        state=draw(st.sampled_from([AgentState.IDLE] * 3 + [AgentState.BUSY, AgentState.OFFERED])),
        load=load,
        idle_since=draw(st.none() | moments),
        last_offered=draw(st.dictionaries(st.just("q1"), moments)),
    )


@st.composite
def teams(draw: st.DrawFn) -> list[Agent]:
    count = draw(st.integers(0, 8))
    return [draw(agents(f"a{index}")) for index in range(count)]


queues = st.builds(
    queue,
    strategy=st.sampled_from(list(Strategy)),
    fallback_strategy=st.sampled_from([s for s in Strategy if s is not Strategy.PREFERRED_AGENT]),
    preferred_agent_window=st.sampled_from([timedelta(0), timedelta(seconds=400), timedelta(seconds=900)]),
    overflow_steps=st.sampled_from(
        [
            (),
            (OverflowStep(timedelta(seconds=100), min_proficiency=2),),
            (
                OverflowStep(timedelta(seconds=200), drop_skills=frozenset({"tech"})),
                OverflowStep(timedelta(seconds=500), accept_any_agent=True),
            ),
        ]
    ),
)


@given(contacts(), contacts())
def test_contact_scores_order_by_priority_then_vip_then_age(
    first: WaitingContact, second: WaitingContact
) -> None:
    def meaning(waiting: WaitingContact) -> tuple[object, ...]:
        urgency = [Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW].index(waiting.priority)
        return (urgency, not waiting.vip, waiting.enqueued_at)

    assert (routing.contact_score(first) < routing.contact_score(second)) == (
        meaning(first) < meaning(second)
    )
    assert (routing.contact_score(first) == routing.contact_score(second)) == (
        meaning(first) == meaning(second)
    )
    low, high = routing.band_range(routing.contact_band(first))
    assert low <= routing.contact_score(first) < high < 2**53


@given(queues, teams(), st.data())
def test_choose_agent_over_the_score_index_equals_the_brute_force_best(
    configured: Queue, team: list[Agent], data: st.DataObject
) -> None:
    waiting = data.draw(contacts(agent_ids=tuple(one.agent_id for one in team) or ("nobody",)))
    needs = routing.overflow(configured, waiting, NOW).requirements
    index = sorted(team, key=lambda one: (routing.agent_score(configured, one, needs), one.agent_id))
    assert routing.choose_agent(configured, waiting, index, NOW) == best_agent(configured, waiting, team, NOW)


@given(st.data())
def test_choose_contact_over_band_heads_equals_the_brute_force_best(data: st.DataObject) -> None:
    queue_ids = ("q1", "q2", "q3")
    configured = {queue_id: replace(data.draw(queues), queue_id=queue_id) for queue_id in queue_ids}
    drawn = data.draw(agents("a1", queue_ids))
    # An agent who just became free; the contacts' skills, channels and declines still vary.
    free = replace(
        drawn, tenant_id="acme", status=AgentStatus.AVAILABLE, away_reason="", state=AgentState.IDLE, load={}
    )
    waiting = data.draw(
        st.lists(contacts(queue_ids, ("a1", "a2")), max_size=20, unique_by=lambda c: c.contact_id)
    )
    everything = [QueueHead(configured[one.queue_id], one) for one in waiting]
    # The store: one sorted set per (queue, channel, signature); it reads each band's first entry
    # this agent has not declined.
    buckets: dict[tuple[str, Channel, str, int], list[WaitingContact]] = defaultdict(list)
    for one in waiting:
        signature = routing.overflow(configured[one.queue_id], one, NOW).requirements.signature
        buckets[(one.queue_id, one.channel, signature, routing.contact_band(one))].append(one)
    heads = []
    for bucket in buckets.values():
        ordered = sorted(bucket, key=lambda one: (routing.contact_score(one), one.contact_id))
        head = next((one for one in ordered if free.agent_id not in one.declined_by), None)
        if head is not None:
            heads.append(QueueHead(configured[head.queue_id], head))
    assert routing.choose_contact(free, heads, NOW) == best_contact(free, everything, NOW)


@given(
    agents("a1"),
    st.lists(st.tuples(st.sampled_from(["take", "end", "wrap"]), st.sampled_from(ROUTED)), max_size=40),
)
def test_no_sequence_of_assignments_goes_over_capacity(
    start: Agent, steps: list[tuple[str, Channel]]
) -> None:
    current = replace(start, load={}, state=AgentState.IDLE, status=AgentStatus.AVAILABLE, away_reason="")
    for action, channel in steps:
        try:
            if action == "take" and routing.can_take(current, channel):
                current = routing.offer_accepted(routing.offer_made(current, "q1", NOW), channel, NOW)
            elif action == "take":
                continue
            else:
                current = routing.contact_released(current, channel, NOW, wrap_up=action == "wrap")
                if current.state is AgentState.AFTER_CONTACT_WORK:
                    current = routing.wrap_up_ended(current, NOW)
        except RoutingRefused:
            continue
        for slot, active in current.load.items():
            assert active <= current.profile.capacity[slot]
        busy_on = {slot for slot, active in current.load.items() if active}
        if current.profile.cross_channel is CrossChannelRule.CURRENT_ONLY:
            assert len(busy_on) <= 1
        if current.profile.voice_exclusive and Channel.VOICE in busy_on:
            assert busy_on == {Channel.VOICE}
