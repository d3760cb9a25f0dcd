"""Each routing rule on hand-worked cases: capacity, ordering and the delay rule, overflow,
the strategies and their tie-breaks, and offers."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from services.router.domain import routing
from services.router.domain.errors import RoutingRefused
from services.router.domain.model import (
    Agent,
    AgentState,
    AgentStatus,
    Channel,
    CrossChannelRule,
    OverflowStep,
    Priority,
    QueueMembership,
    RoutingProfile,
    SkillRequirement,
    Strategy,
    WaitingContact,
)
from services.router.domain.routing import QueueHead, Requirements
from tests.unit.router.support import T0, agent, at, contact, profile, queue

# -- capacity and the cross-channel rule --------------------------------------------------------


def test_voice_takes_one_contact() -> None:
    busy = agent(load={Channel.VOICE: 1}, state=AgentState.BUSY)
    assert routing.can_take(agent(), Channel.VOICE)
    assert not routing.can_take(busy, Channel.VOICE)
    assert routing.capacity_refusal(busy, Channel.VOICE) == "at capacity on voice (1)"


def test_chat_runs_concurrently_up_to_capacity() -> None:
    assert routing.can_take(agent(load={Channel.CHAT: 2}, state=AgentState.BUSY), Channel.CHAT)
    assert not routing.can_take(agent(load={Channel.CHAT: 3}, state=AgentState.BUSY), Channel.CHAT)


def test_current_only_refuses_another_channel_while_busy() -> None:
    chatting = agent(
        load={Channel.CHAT: 1},
        state=AgentState.BUSY,
        profile=profile(cross_channel=CrossChannelRule.CURRENT_ONLY),
    )
    assert routing.can_take(chatting, Channel.CHAT)
    assert not routing.can_take(chatting, Channel.EMAIL)


def test_any_lets_a_chatting_agent_take_email_but_voice_stays_exclusive() -> None:
    chatting = agent(load={Channel.CHAT: 1}, state=AgentState.BUSY)
    on_a_call = agent(load={Channel.VOICE: 1}, state=AgentState.BUSY)
    assert routing.can_take(chatting, Channel.EMAIL)
    assert routing.capacity_refusal(chatting, Channel.VOICE) == "voice excludes the other channels"
    assert not routing.can_take(on_a_call, Channel.CHAT)


def test_a_profile_may_let_voice_share() -> None:
    on_a_call = agent(load={Channel.VOICE: 1}, state=AgentState.BUSY, profile=profile(voice_exclusive=False))
    assert routing.can_take(on_a_call, Channel.CHAT)


def test_callback_uses_the_voice_line_and_web_form_an_email_slot() -> None:
    on_a_call = agent(load={Channel.VOICE: 1}, state=AgentState.BUSY)
    assert not routing.can_take(on_a_call, Channel.CALLBACK)
    full_email = agent(load={Channel.EMAIL: 2}, state=AgentState.BUSY)
    assert not routing.can_take(full_email, Channel.WEB_FORM)


def test_channels_outside_the_profile_or_never_routed_are_refused() -> None:
    assert routing.capacity_refusal(agent(), Channel.SMS) == "the routing profile takes no sms contacts"
    assert routing.capacity_refusal(agent(), Channel.BOT) == "bot contacts are never routed to agents"


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (AgentStatus.OFFLINE, AgentState.IDLE),
        (AgentStatus.AWAY, AgentState.IDLE),
        (AgentStatus.AVAILABLE, AgentState.OFFERED),
        (AgentStatus.AVAILABLE, AgentState.AFTER_CONTACT_WORK),
    ],
)
def test_only_available_idle_or_busy_agents_are_ready(status: AgentStatus, state: AgentState) -> None:
    assert not routing.can_take(agent(status=status, state=state), Channel.VOICE)


# -- contact ordering and the delay rule --------------------------------------------------------


def test_priority_then_vip_then_age() -> None:
    ordered = [
        contact("urgent-young", priority=Priority.URGENT, enqueued_at=at(50)),
        contact("high-vip", priority=Priority.HIGH, vip=True, enqueued_at=at(40)),
        contact("high-old", priority=Priority.HIGH, enqueued_at=at(0)),
        contact("high-young", priority=Priority.HIGH, enqueued_at=at(30)),
        contact("normal", enqueued_at=at(0)),
        contact("low", priority=Priority.LOW, enqueued_at=at(-600)),
    ]
    assert sorted(ordered, key=routing.contact_score) == ordered


def test_equal_scores_fall_back_to_the_contact_id_like_redis() -> None:
    first, second = contact("c-a"), contact("c-b")
    assert routing.contact_score(first) == routing.contact_score(second)
    heads = [QueueHead(queue(), second), QueueHead(queue(), first)]
    chosen = routing.choose_contact(agent(), heads, at(10))
    assert chosen is not None
    assert chosen.contact.contact_id == "c-a"


def test_band_ranges_hold_exactly_their_band() -> None:
    urgent_vip = contact(priority=Priority.URGENT, vip=True)
    low, high = routing.band_range(routing.contact_band(urgent_vip))
    assert low <= routing.contact_score(urgent_vip) < high
    normal = contact()
    assert routing.band_range(routing.contact_band(normal))[0] > routing.contact_score(urgent_vip)


DELAYED = profile(
    queues=(QueueMembership("first", 1), QueueMembership("second", 2, timedelta(seconds=30))),
)


def _pull(*heads: QueueHead, now_s: float = 100) -> str:
    chosen = routing.choose_contact(agent(profile=DELAYED), heads, at(now_s))
    assert chosen is not None
    return chosen.contact.contact_id


def test_delay_rule_keeps_a_young_lower_queue_contact_behind() -> None:
    # At t=100: the first-queue contact waited 20 s; the second-queue one 25 s, under its 30 s delay.
    first = QueueHead(queue("first"), contact("in-first", queue_id="first", enqueued_at=at(80)))
    second = QueueHead(queue("second"), contact("in-second", queue_id="second", enqueued_at=at(75)))
    assert _pull(first, second) == "in-first"


def test_delay_rule_lets_a_contact_past_the_delay_compete_by_age() -> None:
    # Waited 40 s > 30 s: it competes at priority 1, and it is the older one.
    first = QueueHead(queue("first"), contact("in-first", queue_id="first", enqueued_at=at(80)))
    second = QueueHead(queue("second"), contact("in-second", queue_id="second", enqueued_at=at(60)))
    assert _pull(first, second) == "in-second"


def test_past_the_delay_it_still_yields_to_a_higher_contact_priority() -> None:
    first = QueueHead(
        queue("first"), contact("urgent", queue_id="first", priority=Priority.URGENT, enqueued_at=at(90))
    )
    second = QueueHead(queue("second"), contact("old", queue_id="second", enqueued_at=at(0)))
    assert _pull(first, second) == "urgent"


def test_without_delay_passing_the_profile_priority_beats_contact_priority() -> None:
    first = QueueHead(queue("first"), contact("normal", queue_id="first", enqueued_at=at(90)))
    second = QueueHead(
        queue("second"), contact("urgent", queue_id="second", priority=Priority.URGENT, enqueued_at=at(90))
    )
    assert _pull(first, second) == "normal"


def test_an_agent_pulls_nothing_it_may_not_take() -> None:
    skilled = contact(required_skills=(SkillRequirement("french", 3),))
    other_tenant = contact("c2", tenant_id="globex")
    declined = contact("c3", declined_by=frozenset({"a1"}))
    heads = [QueueHead(queue(), waiting) for waiting in (skilled, other_tenant, declined)]
    heads.append(QueueHead(queue("q9"), contact("c4", queue_id="q9")))
    assert routing.choose_contact(agent(), heads, at(10)) is None


# -- overflow ----------------------------------------------------------------------------------

STEPPED = queue(
    required_skills=(SkillRequirement("billing", 4),),
    overflow_steps=(
        OverflowStep(timedelta(seconds=30), min_proficiency=2),
        OverflowStep(timedelta(seconds=60), drop_skills=frozenset({"spanish"})),
        OverflowStep(timedelta(seconds=90), accept_any_agent=True),
        OverflowStep(timedelta(seconds=120), move_to_queue_id="q2"),
    ),
)
SPANISH = contact(required_skills=(SkillRequirement("spanish", 5),))


@pytest.mark.parametrize(
    ("seconds", "steps", "signature", "next_change"),
    [
        (0, 0, "billing:4,spanish:5", 30),
        (29.9, 0, "billing:4,spanish:5", 30),
        (30, 1, "billing:2,spanish:2", 60),
        (75, 2, "billing:2", 90),
        (100, 3, "", 120),
    ],
)
def test_overflow_steps_widen_requirements_over_time(
    seconds: float, steps: int, signature: str, next_change: float
) -> None:
    decision = routing.overflow(STEPPED, SPANISH, at(seconds))
    assert decision.steps_due == steps
    assert decision.requirements.signature == signature
    assert decision.next_change_at == at(next_change)
    assert not decision.move_to_queue_id


def test_the_move_step_sends_the_contact_to_the_next_queue_with_its_age() -> None:
    decision = routing.overflow(STEPPED, SPANISH, at(120))
    assert decision.move_to_queue_id == "q2"
    assert decision.next_change_at is None
    moved = routing.apply_overflow(replace(SPANISH, overflow_step=3), decision)
    assert (moved.queue_id, moved.overflow_step, moved.enqueued_at) == ("q2", 0, T0)


def test_apply_overflow_records_the_steps_done() -> None:
    assert routing.apply_overflow(SPANISH, routing.overflow(STEPPED, SPANISH, at(61))).overflow_step == 2


def test_time_waited_before_a_transfer_counts_toward_overflow() -> None:
    transferred = replace(SPANISH, enqueued_at=at(-50))
    assert routing.overflow(STEPPED, transferred, at(10)).steps_due == 2


def test_requirements_without_steps_never_change() -> None:
    assert routing.overflow(queue(), contact(), at(1000)).next_change_at is None


# -- strategies --------------------------------------------------------------------------------


def _choose(
    strategy: Strategy,
    agents: list[Agent],
    waiting: WaitingContact | None = None,
    now_s: float = 10,
    **fields: Any,
) -> str | None:
    """What the store does: sort the agent set by score (then id, as Redis does), take the first eligible."""
    configured = queue(strategy=strategy, **fields)
    looking = waiting or contact()
    requirements = routing.overflow(configured, looking, at(now_s)).requirements
    ordered = sorted(
        agents, key=lambda one: (routing.agent_score(configured, one, requirements), one.agent_id)
    )
    chosen = routing.choose_agent(configured, looking, ordered, at(now_s))
    return None if chosen is None else chosen.agent_id


def test_longest_idle_takes_the_agent_idle_longest() -> None:
    agents = [
        agent("a1", idle_since=at(-10)),
        agent("a2", idle_since=at(-30)),
        agent("a3", idle_since=at(-20)),
    ]
    assert _choose(Strategy.LONGEST_IDLE, agents) == "a2"


def test_longest_idle_ties_go_to_the_lower_agent_id() -> None:
    assert _choose(Strategy.LONGEST_IDLE, [agent("b"), agent("a")]) == "a"


def test_longest_idle_skips_agents_who_cannot_take_it() -> None:
    agents = [agent("a1", idle_since=at(-99), status=AgentStatus.AWAY, away_reason="lunch"), agent("a2")]
    assert _choose(Strategy.LONGEST_IDLE, agents) == "a2"


def test_least_occupied_compares_load_relative_to_capacity() -> None:
    # Capacity 6 in all (voice 1, chat 3, email 2): one chat is 1/6, one email and one chat 2/6.
    agents = [
        agent("a1", load={Channel.CHAT: 1, Channel.EMAIL: 1}, state=AgentState.BUSY, idle_since=at(-100)),
        agent("a2", load={Channel.CHAT: 1}, state=AgentState.BUSY),
    ]
    assert _choose(Strategy.LEAST_OCCUPIED, agents, contact(channel=Channel.CHAT)) == "a2"


def test_least_occupied_ties_by_idle_time_then_id() -> None:
    small = profile(capacity={Channel.CHAT: 2})
    large = profile(capacity={Channel.CHAT: 4})
    agents = [
        agent("a1", profile=small, load={Channel.CHAT: 1}, state=AgentState.BUSY, idle_since=at(-5)),
        agent("a2", profile=large, load={Channel.CHAT: 2}, state=AgentState.BUSY, idle_since=at(-9)),
    ]
    chat = contact(channel=Channel.CHAT)
    assert _choose(Strategy.LEAST_OCCUPIED, agents, chat) == "a2"  # both 1/2: a2 idle longer
    assert _choose(Strategy.LEAST_OCCUPIED, [replace(one, idle_since=T0) for one in agents], chat) == "a1"


def test_best_skill_takes_the_highest_proficiency() -> None:
    billing = contact(required_skills=(SkillRequirement("billing", 2),))
    agents = [agent("a1", skills={"billing": 3}, idle_since=at(-100)), agent("a2", skills={"billing": 5})]
    assert _choose(Strategy.BEST_SKILL, agents, billing) == "a2"


def test_best_skill_sums_over_the_required_skills_and_ties_by_idle_time() -> None:
    both = contact(required_skills=(SkillRequirement("billing"), SkillRequirement("spanish")))
    agents = [
        agent("a1", skills={"billing": 4, "spanish": 2}),
        agent("a2", skills={"billing": 3, "spanish": 3}, idle_since=at(-1)),
        agent("a3", skills={"billing": 5, "spanish": 5, "french": 5}, status=AgentStatus.OFFLINE),
    ]
    assert _choose(Strategy.BEST_SKILL, agents, both) == "a2"


def test_best_skill_ignores_skills_dropped_by_overflow() -> None:
    steps = (OverflowStep(timedelta(seconds=30), drop_skills=frozenset({"spanish"})),)
    both = contact(required_skills=(SkillRequirement("billing"), SkillRequirement("spanish")))
    agents = [agent("a1", skills={"billing": 2, "spanish": 5}), agent("a2", skills={"billing": 4})]
    assert _choose(Strategy.BEST_SKILL, agents, both, now_s=10, overflow_steps=steps) == "a1"
    assert _choose(Strategy.BEST_SKILL, agents, both, now_s=40, overflow_steps=steps) == "a2"


def test_round_robin_offers_the_least_recently_offered_never_offered_first() -> None:
    agents = [
        agent("a1", last_offered={"q1": at(-10)}),
        agent("a2", last_offered={"q1": at(-20), "q2": at(-1)}),
        agent("a3"),
    ]
    assert _choose(Strategy.ROUND_ROBIN, agents) == "a3"
    rotated = [routing.offer_made(agents[2], "q1", at(0)), *agents[:2]]
    assert _choose(Strategy.ROUND_ROBIN, rotated) == "a2"


def test_round_robin_ties_go_to_the_lower_agent_id() -> None:
    assert _choose(Strategy.ROUND_ROBIN, [agent("b"), agent("a")]) == "a"


PREFERRING: dict[str, Any] = {
    "fallback_strategy": Strategy.LONGEST_IDLE,
    "preferred_agent_window": timedelta(seconds=30),
}
LOYAL = contact(preferred_agent_id="a2")


def test_preferred_agent_takes_the_customers_last_agent_in_the_window() -> None:
    agents = [agent("a1", idle_since=at(-100)), agent("a2")]
    assert _choose(Strategy.PREFERRED_AGENT, agents, LOYAL, **PREFERRING) == "a2"


def test_preferred_agent_waits_for_a_busy_preferred_agent_until_the_window_ends() -> None:
    agents = [agent("a1", idle_since=at(-100)), agent("a2", state=AgentState.BUSY, load={Channel.VOICE: 1})]
    assert _choose(Strategy.PREFERRED_AGENT, agents, LOYAL, now_s=29, **PREFERRING) is None
    assert _choose(Strategy.PREFERRED_AGENT, agents, LOYAL, now_s=30, **PREFERRING) == "a1"
    configured = queue(strategy=Strategy.PREFERRED_AGENT, **PREFERRING)
    assert routing.overflow(configured, LOYAL, at(29)).next_change_at == at(30)


def test_preferred_agent_falls_back_at_once_without_one_or_after_a_decline() -> None:
    agents = [agent("a1", idle_since=at(-100)), agent("a2")]
    assert _choose(Strategy.PREFERRED_AGENT, agents, contact(), **PREFERRING) == "a1"
    declined = routing.offer_declined(LOYAL, "a2")
    assert _choose(Strategy.PREFERRED_AGENT, agents, declined, **PREFERRING) == "a1"


def test_preferred_agent_ranks_its_sets_by_the_fallback() -> None:
    configured = queue(strategy=Strategy.PREFERRED_AGENT, fallback_strategy=Strategy.ROUND_ROBIN)
    offered = agent(last_offered={"q1": at(5)})
    assert routing.agent_score(configured, offered, Requirements()) == routing.agent_score(
        replace(configured, strategy=Strategy.ROUND_ROBIN), offered, Requirements()
    )


def test_choose_agent_never_reoffers_to_an_agent_who_declined() -> None:
    declined = routing.offer_declined(contact(), "a1")
    assert _choose(Strategy.LONGEST_IDLE, [agent("a1", idle_since=at(-9)), agent("a2")], declined) == "a2"


# -- offers ------------------------------------------------------------------------------------


def test_an_offer_expires_after_the_queue_timeout() -> None:
    assert routing.offer_expires_at(queue(), T0) == at(20)
    assert routing.offer_expires_at(queue(offer_timeout=timedelta(seconds=5)), T0) == at(5)


def test_an_offer_holds_the_agent_and_is_refused_to_an_unready_one() -> None:
    offered = routing.offer_made(agent(), "q1", at(3))
    assert offered.state is AgentState.OFFERED
    assert offered.last_offered == {"q1": at(3)}
    with pytest.raises(RoutingRefused) as refused:
        routing.offer_made(offered, "q1", at(4))
    assert refused.value.rule == "agent_not_ready"


def test_max_no_answer_timeouts_in_a_row_send_the_agent_away_missed() -> None:
    strict = queue(max_no_answer=2)
    once = routing.offer_timed_out(routing.offer_made(agent(), "q1", T0), strict)
    assert (once.status, once.state, once.consecutive_no_answers) == (
        AgentStatus.AVAILABLE,
        AgentState.IDLE,
        1,
    )
    twice = routing.offer_timed_out(routing.offer_made(once, "q1", at(30)), strict)
    assert (twice.status, twice.away_reason, twice.state) == (AgentStatus.AWAY, "missed", AgentState.MISSED)


def test_a_reject_or_an_accept_ends_the_no_answer_run() -> None:
    missed_once = agent(consecutive_no_answers=2)
    assert routing.offer_rejected(routing.offer_made(missed_once, "q1", T0)).consecutive_no_answers == 0
    accepted = routing.offer_accepted(routing.offer_made(missed_once, "q1", T0), Channel.VOICE, at(5))
    assert accepted.consecutive_no_answers == 0


def test_max_no_answer_zero_never_sends_an_agent_away() -> None:
    lenient = queue(max_no_answer=0)
    assert routing.offer_timed_out(agent(consecutive_no_answers=50), lenient).status is AgentStatus.AVAILABLE


def test_accepting_adds_load_and_restarts_idle_time() -> None:
    accepted = routing.offer_accepted(routing.offer_made(agent(), "q1", T0), Channel.CALLBACK, at(5))
    assert (accepted.state, dict(accepted.load), accepted.idle_since) == (
        AgentState.BUSY,
        {Channel.VOICE: 1},
        at(5),
    )


def test_accepting_over_capacity_or_without_an_offer_is_refused() -> None:
    full = agent(load={Channel.VOICE: 1}, state=AgentState.OFFERED)
    with pytest.raises(RoutingRefused) as over:
        routing.offer_accepted(full, Channel.VOICE, T0)
    assert over.value.rule == "over_capacity"
    with pytest.raises(RoutingRefused) as unoffered:
        routing.offer_accepted(agent(), Channel.VOICE, T0)
    assert unoffered.value.rule == "no_offer_pending"


def test_releasing_a_contact_returns_to_routing_or_to_wrap_up() -> None:
    busy = agent(load={Channel.CHAT: 2}, state=AgentState.BUSY)
    one_left = routing.contact_released(busy, Channel.CHAT, at(9), wrap_up=False)
    assert (one_left.state, one_left.active(Channel.CHAT), one_left.idle_since) == (AgentState.BUSY, 1, at(9))
    none_left = routing.contact_released(one_left, Channel.CHAT, at(10), wrap_up=False)
    assert none_left.state is AgentState.IDLE
    wrapping = routing.contact_released(one_left, Channel.CHAT, at(10), wrap_up=True)
    assert wrapping.state is AgentState.AFTER_CONTACT_WORK
    assert routing.wrap_up_ended(wrapping, at(40)).state is AgentState.IDLE


def test_a_contact_ending_while_an_offer_is_pending_keeps_the_offer() -> None:
    offered = agent(load={Channel.CHAT: 1}, state=AgentState.OFFERED)
    assert routing.contact_released(offered, Channel.CHAT, at(1), wrap_up=False).state is AgentState.OFFERED
    # The last call in hand ends into wrap-up while a chat is on offer: the offer stays answerable.
    on_a_call = agent(load={Channel.VOICE: 1}, state=AgentState.OFFERED)
    ended = routing.contact_released(on_a_call, Channel.VOICE, at(1), wrap_up=True)
    assert (ended.state, ended.total_load) == (AgentState.OFFERED, 0)
    assert routing.offer_accepted(ended, Channel.CHAT, at(2)).state is AgentState.BUSY


def test_releasing_what_the_agent_does_not_have_is_refused() -> None:
    with pytest.raises(RoutingRefused) as refused:
        routing.contact_released(agent(), Channel.CHAT, T0, wrap_up=False)
    assert refused.value.rule == "no_active_contact"
    with pytest.raises(RoutingRefused):
        routing.wrap_up_ended(agent(), T0)


def test_profiles_with_one_channel_route_it() -> None:
    only_chat = RoutingProfile(queues=(QueueMembership("q1"),), capacity={Channel.CHAT: 1})
    assert routing.can_take(agent(profile=only_chat), Channel.CHAT)
    assert not routing.can_take(agent(profile=only_chat), Channel.VOICE)
