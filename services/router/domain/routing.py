"""The routing decisions: who may take what, in which order, and who is offered next.

Both matching directions are written as "walk an index in score order, take the first eligible
entry", so the store can answer each in O(log n) with Redis sorted sets (lower score first, equal
scores by member, exactly as ZRANGE orders them):

- contacts: one sorted set per (queue, channel, requirement signature), scored by `contact_score`;
- agents: one sorted set per (queue, channel, requirement signature) holding only the agents who
  are ready for that channel and meet the signature, scored by `agent_score` for the queue's
  strategy. Readiness (status, state, capacity, cross-channel rule) and skills are thus kept by
  set membership, updated when the agent changes, instead of filtered at decision time.

`choose_agent` and `choose_contact` are the reference the store's scripts follow; they re-check
eligibility on every candidate, so a stale index entry costs a skip, never a wrong decision.
Scores are integers below 2**53, so a Redis score (a double) holds them exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from services.router.domain.errors import InvalidConfiguration, RoutingRefused
from services.router.domain.model import (
    CAPACITY_CHANNEL,
    MAX_PROFICIENCY,
    MISSED_REASON,
    Agent,
    AgentState,
    AgentStatus,
    Channel,
    CrossChannelRule,
    Priority,
    Queue,
    QueueMembership,
    SkillRequirement,
    Strategy,
    WaitingContact,
)

# -- score encoding ----------------------------------------------------------------------------

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
# A time field of a score: milliseconds since EPOCH, good for three centuries.
MS_SPAN = 10**13
# least_occupied needs room for its occupancy band, so its idle tie-break counts seconds.
SECOND_SPAN = 10**10
# Occupancies are fractions load/capacity with capacity <= 51 (voice 1, five channels of 10);
# two distinct ones differ by at least 1/(51*50), so this many steps keep every order exact.
OCCUPANCY_STEPS = 10_000
MAX_SCORE = 2**53


def _millis(moment: datetime | None) -> int:
    """`None` (never happened) sorts first, as the longest ago."""
    if moment is None:
        return 0
    if moment.tzinfo is None:
        raise InvalidConfiguration("naive_datetime", f"{moment.isoformat()} has no time zone")
    millis = (moment - EPOCH) // timedelta(milliseconds=1)
    if not 0 <= millis < MS_SPAN:
        raise InvalidConfiguration(
            "moment_out_of_range", f"{moment.isoformat()} is outside the routing epoch"
        )
    return millis


def _compose(band: int, minor: int, span: int) -> int:
    score = band * span + minor
    # The bands are bounded by construction (priorities, skill counts, capacities); this guards it.
    assert 0 <= score < MAX_SCORE, score
    return score


# -- capacity and readiness --------------------------------------------------------------------


def capacity_refusal(agent: Agent, channel: Channel) -> str | None:
    """Why the agent's capacity or cross-channel rule forbids one more `channel` contact, if it does."""
    slot = CAPACITY_CHANNEL.get(channel)
    if slot is None:
        return f"{channel} contacts are never routed to agents"
    capacity = agent.profile.capacity.get(slot, 0)
    if capacity == 0:
        return f"the routing profile takes no {slot} contacts"
    if agent.active(slot) >= capacity:
        return f"at capacity on {slot} ({capacity})"
    elsewhere = agent.total_load - agent.active(slot)
    if elsewhere == 0:
        return None
    if agent.profile.cross_channel is CrossChannelRule.CURRENT_ONLY:
        return "busy on another channel and the profile takes the current channel only"
    if agent.profile.voice_exclusive and (slot is Channel.VOICE or agent.active(Channel.VOICE) > 0):
        return "voice excludes the other channels"
    return None


def readiness_refusal(agent: Agent) -> str | None:
    """Why the agent cannot be offered anything now, if so (status and state, not capacity)."""
    if agent.status is not AgentStatus.AVAILABLE:
        return f"the agent is {agent.status}"
    if agent.state not in (AgentState.IDLE, AgentState.BUSY):
        return f"the agent is in {agent.state}"
    return None


def can_take(agent: Agent, channel: Channel) -> bool:
    return readiness_refusal(agent) is None and capacity_refusal(agent, channel) is None


# -- requirements and overflow -----------------------------------------------------------------


@dataclass(frozen=True)
class Requirements:
    """Who may take a contact now: skills at a minimum proficiency, and possibly one agent only."""

    skills: tuple[SkillRequirement, ...] = ()
    only_agent_id: str = ""

    @property
    def signature(self) -> str:
        """The canonical name of these requirements: the store's index key suffix.

        Contacts with equal signatures accept exactly the same agents, so one agent set serves them.
        """
        skills = ",".join(f"{skill.name}:{skill.min_proficiency}" for skill in self.skills)
        return f"@{self.only_agent_id}|{skills}" if self.only_agent_id else skills


def meets(agent: Agent, requirements: Requirements) -> bool:
    if requirements.only_agent_id and agent.agent_id != requirements.only_agent_id:
        return False
    return all(agent.skills.get(skill.name, 0) >= skill.min_proficiency for skill in requirements.skills)


@dataclass(frozen=True)
class OverflowDecision:
    # How many of the queue's overflow steps are due by now.
    steps_due: int
    requirements: Requirements
    # Set when a due step moves the contact: re-enqueue it there (see `apply_overflow`).
    move_to_queue_id: str
    # When the requirements change next (a step or the end of the preferred-agent window): the
    # store's timer. None when nothing more will change.
    next_change_at: datetime | None


def overflow(queue: Queue, contact: WaitingContact, now: datetime) -> OverflowDecision:
    """The contact's requirements at `now`: the queue's and its own skills, widened by due steps.

    Steps count from the effective enqueue time, so time waited before a transfer counts too;
    the first `contact.overflow_step` steps apply at once (an SLA reaction forced them).
    """
    waited = now - contact.enqueued_at
    required: dict[str, int] = {}
    for skill in (*queue.required_skills, *contact.required_skills):
        required[skill.name] = max(required.get(skill.name, 0), skill.min_proficiency)
    steps_due = 0
    move_to = ""
    for index, step in enumerate(queue.overflow_steps):
        if step.after > waited and index >= contact.overflow_step:
            break
        steps_due += 1
        for name in step.drop_skills:
            required.pop(name, None)
        if step.min_proficiency:
            required = {name: min(level, step.min_proficiency) for name, level in required.items()}
        if step.accept_any_agent:
            required = {}
        move_to = step.move_to_queue_id
    changes = [contact.enqueued_at + step.after for step in queue.overflow_steps[steps_due:]]
    only_agent = ""
    if _waits_for_preferred(queue, contact):
        window_ends = contact.enqueued_at + queue.preferred_agent_window
        if now < window_ends:
            only_agent = contact.preferred_agent_id
            changes.append(window_ends)
    skills = tuple(SkillRequirement(name, level) for name, level in sorted(required.items()))
    return OverflowDecision(
        steps_due=steps_due,
        requirements=Requirements(skills, only_agent),
        move_to_queue_id=move_to,
        next_change_at=min(changes, default=None) if not move_to else None,
    )


def _waits_for_preferred(queue: Queue, contact: WaitingContact) -> bool:
    return (
        queue.strategy is Strategy.PREFERRED_AGENT
        and bool(contact.preferred_agent_id)
        # A preferred agent who declined it already answered: go straight to the fallback.
        and contact.preferred_agent_id not in contact.declined_by
    )


def apply_overflow(contact: WaitingContact, decision: OverflowDecision) -> WaitingContact:
    """The contact after the due steps: moved (its age kept, the new queue's steps from zero) or widened."""
    if decision.move_to_queue_id:
        return replace(contact, queue_id=decision.move_to_queue_id, overflow_step=0)
    return replace(contact, overflow_step=decision.steps_due)


# -- contact ordering --------------------------------------------------------------------------

# Lower band first: urgent before low, and a VIP before a non-VIP of the same priority.
_PRIORITY_RANK: Mapping[Priority, int] = {
    Priority.URGENT: 0,
    Priority.HIGH: 1,
    Priority.NORMAL: 2,
    Priority.LOW: 3,
}
CONTACT_BANDS = 2 * len(_PRIORITY_RANK)


def contact_band(contact: WaitingContact) -> int:
    return 2 * _PRIORITY_RANK[contact.priority] + (0 if contact.vip else 1)


def contact_score(contact: WaitingContact) -> int:
    """The contact's score in its queue's sorted set: priority (then VIP), then age, FIFO.

    It depends only on fields that never change while queued (the store re-scores it when an SLA
    reaction raises the priority), and equal scores fall back to the contact id, as in Redis.
    """
    return _compose(contact_band(contact), _millis(contact.enqueued_at), MS_SPAN)


def band_range(band: int) -> tuple[int, int]:
    """The score interval [low, high) of one band: `ZRANGE key low (high BYSCORE LIMIT 0 k`."""
    return band * MS_SPAN, (band + 1) * MS_SPAN


def effective_queue_priority(membership: QueueMembership, top_priority: int, waited: timedelta) -> int:
    """The delay rule (Amazon Connect): waited longer than the delay, it competes at the top priority."""
    return top_priority if waited > membership.delay else membership.priority


@dataclass(frozen=True)
class QueueHead:
    """A contact the store read from the front of one of its sorted sets, with its queue."""

    queue: Queue
    contact: WaitingContact


def contact_refusal(agent: Agent, head: QueueHead, now: datetime) -> str | None:
    """Why `agent` may not be offered this contact now, if so."""
    contact = head.contact
    if contact.tenant_id != agent.tenant_id or agent.profile.membership(contact.queue_id) is None:
        return "the agent does not serve this queue"
    if agent.agent_id in contact.declined_by:
        return "the agent already declined this contact"
    refusal = readiness_refusal(agent) or capacity_refusal(agent, contact.channel)
    if refusal is not None:
        return refusal
    if not meets(agent, overflow(head.queue, contact, now).requirements):
        return "the agent does not meet the contact's requirements"
    return None


def pull_key(agent: Agent, head: QueueHead, now: datetime) -> tuple[int, int, str]:
    """How an agent who becomes free ranks a waiting contact: profile priority (after the delay
    rule), then the contact's own score, then its id."""
    membership = agent.profile.membership(head.contact.queue_id)
    if membership is None:
        raise RoutingRefused("not_a_member", f"{agent.agent_id} does not serve {head.contact.queue_id}")
    waited = now - head.contact.enqueued_at
    queue_priority = effective_queue_priority(membership, agent.profile.top_priority, waited)
    return queue_priority, contact_score(head.contact), head.contact.contact_id


def choose_contact(agent: Agent, heads: Iterable[QueueHead], now: datetime) -> QueueHead | None:
    """The contact an agent who becomes free pulls, among the heads the store read.

    The store reads, for each queue of the profile, each channel the agent can take now and each
    requirement signature the agent meets, the first contact of every band (`band_range`), i.e. at
    most CONTACT_BANDS per set. That suffices: within a band the score order is FIFO, so the band's
    head is at least as old as every contact behind it (the delay rule can only favour it) and has
    a lower score; hence it ranks before all of them. Cost: O(queues x channels x signatures x
    bands x log n), independent of the number of waiting contacts. Reading a few entries per band
    instead of one also steps over contacts this agent has declined.
    """
    eligible = [head for head in heads if contact_refusal(agent, head, now) is None]
    return min(eligible, key=lambda head: pull_key(agent, head, now), default=None)


# -- agent scores per strategy -----------------------------------------------------------------


def agent_score(queue: Queue, agent: Agent, requirements: Requirements) -> int:
    """The agent's score in one of the queue's (channel, signature) agent sets; lowest offered first.

    What each strategy scores, and when the store must re-score (ZADD, O(log n) per set the agent
    is in; the agent leaves every set while not ready and re-enters with a fresh score):

    - longest_idle: `idle_since`, oldest first. Changes when the agent becomes available or
      starts or finishes a contact.
    - least_occupied: total load / total capacity in OCCUPANCY_STEPS, ties by `idle_since` in
      seconds. Changes with the load (assignment, completion).
    - best_skill: missing proficiency over the signature's skills (5 per skill minus the agent's
      level), ties by `idle_since` in ms. Changes with the skills or `idle_since`; the signature
      is part of the set's key, so each set scores its own skills.
    - round_robin: when this queue last offered the agent a contact, never offered first.
      Changes on every offer from the queue: least recently offered next is round robin with
      memory (Asterisk's rrmemory) without a shared pointer for replicas to race on.
    - preferred_agent: the fallback strategy's score; the preferred agent is looked up by id.
    """
    strategy = ranking_strategy(queue)
    if strategy is Strategy.LEAST_OCCUPIED:
        capacity = agent.profile.total_capacity
        occupancy = agent.total_load * OCCUPANCY_STEPS // capacity if capacity else OCCUPANCY_STEPS
        return _compose(occupancy, _millis(agent.idle_since) // 1000, SECOND_SPAN)
    if strategy is Strategy.BEST_SKILL:
        missing = sum(MAX_PROFICIENCY - agent.skills.get(skill.name, 0) for skill in requirements.skills)
        return _compose(missing, _millis(agent.idle_since), MS_SPAN)
    if strategy is Strategy.ROUND_ROBIN:
        return _millis(agent.last_offered.get(queue.queue_id))
    return _millis(agent.idle_since)


def ranking_strategy(queue: Queue) -> Strategy:
    """The strategy whose score orders the queue's agent sets."""
    return queue.fallback_strategy if queue.strategy is Strategy.PREFERRED_AGENT else queue.strategy


def agent_refusal(queue: Queue, contact: WaitingContact, agent: Agent, now: datetime) -> str | None:
    return contact_refusal(agent, QueueHead(queue, contact), now)


def choose_agent(
    queue: Queue, contact: WaitingContact, candidates_in_score_order: Iterable[Agent], now: datetime
) -> Agent | None:
    """The agent a contact is offered: the first eligible candidate.

    The store passes the agent set of the contact's (queue, channel, signature) in score order,
    or, while the preferred-agent window is open, the preferred agent alone. Every agent in that
    set is ready and meets the requirements, so only the agents who declined this contact can be
    skipped: reading the first `len(contact.declined_by) + 1` entries always suffices.
    """
    return next(
        (agent for agent in candidates_in_score_order if agent_refusal(queue, contact, agent, now) is None),
        None,
    )


# -- offers ------------------------------------------------------------------------------------


def offer_expires_at(queue: Queue, now: datetime) -> datetime:
    return now + queue.offer_timeout


def offer_made(agent: Agent, queue_id: str, now: datetime) -> Agent:
    """The agent once offered a contact of `queue_id`: one offer at a time, and round robin moves on."""
    refusal = readiness_refusal(agent)
    if refusal is not None:
        raise RoutingRefused("agent_not_ready", refusal, agent_id=agent.agent_id)
    return replace(agent, state=AgentState.OFFERED, last_offered={**agent.last_offered, queue_id: now})


def offer_declined(contact: WaitingContact, agent_id: str) -> WaitingContact:
    """The contact after a reject or an offer timeout: that agent is never offered it again."""
    return replace(contact, declined_by=contact.declined_by | {agent_id})


def offer_rejected(agent: Agent) -> Agent:
    """A reject is an answer: the agent is present, so the no-answer run ends."""
    return replace(agent, state=_resting_state(agent), consecutive_no_answers=0)


def offer_timed_out(agent: Agent, queue: Queue) -> Agent:
    """After `max_no_answer` timeouts in a row the agent goes away with reason `missed`."""
    missed = agent.consecutive_no_answers + 1
    if queue.max_no_answer and missed >= queue.max_no_answer:
        return replace(
            agent,
            status=AgentStatus.AWAY,
            away_reason=MISSED_REASON,
            state=AgentState.MISSED,
            consecutive_no_answers=missed,
        )
    return replace(agent, state=_resting_state(agent), consecutive_no_answers=missed)


def offer_accepted(agent: Agent, channel: Channel, now: datetime) -> Agent:
    """The agent with one more contact of `channel`; refused rather than going over capacity."""
    if agent.state is not AgentState.OFFERED:
        raise RoutingRefused(
            "no_offer_pending", f"{agent.agent_id} has no offer to accept", agent_id=agent.agent_id
        )
    refusal = capacity_refusal(agent, channel)
    if refusal is not None:
        raise RoutingRefused("over_capacity", refusal, agent_id=agent.agent_id, channel=str(channel))
    slot = CAPACITY_CHANNEL[channel]
    return replace(
        agent,
        state=AgentState.BUSY,
        load={**agent.load, slot: agent.active(slot) + 1},
        idle_since=now,
        consecutive_no_answers=0,
    )


def transfer_taken(agent: Agent, channel: Channel, now: datetime) -> Agent:
    """The consulted agent of a warm transfer takes the customer over: one more contact of
    `channel`, within capacity, without an offer (the agent already said yes in the consult)."""
    refusal = capacity_refusal(agent, channel)
    if refusal is not None:
        raise RoutingRefused("over_capacity", refusal, agent_id=agent.agent_id, channel=str(channel))
    slot = CAPACITY_CHANNEL[channel]
    return replace(
        agent,
        state=AgentState.BUSY if agent.state is not AgentState.OFFERED else agent.state,
        load={**agent.load, slot: agent.active(slot) + 1},
        idle_since=now,
    )


def contact_released(agent: Agent, channel: Channel, now: datetime, *, wrap_up: bool) -> Agent:
    """The agent after a contact ends: in after-contact work if asked, else back to routing."""
    slot = CAPACITY_CHANNEL.get(channel, channel)
    if agent.active(slot) == 0:
        raise RoutingRefused(
            "no_active_contact", f"{agent.agent_id} has no {slot} contact", agent_id=agent.agent_id
        )
    released = replace(agent, load={**agent.load, slot: agent.active(slot) - 1}, idle_since=now)
    if agent.state is AgentState.OFFERED:
        # An offer made while this contact was in hand (another channel's, within capacity) stays
        # pending, wrap-up or not: the agent answers it, and the contact's own wrap-up runs on.
        return released
    if wrap_up:
        return replace(released, state=AgentState.AFTER_CONTACT_WORK)
    if agent.state is AgentState.BUSY:
        return replace(released, state=_resting_state(released))
    # A contact can end while the agent is away or missed: that state stays.
    return released


def wrap_up_ended(agent: Agent, now: datetime) -> Agent:
    """After-contact work over (done or timed out): back to routing, idle from now."""
    if agent.state is not AgentState.AFTER_CONTACT_WORK:
        raise RoutingRefused(
            "not_in_wrap_up", f"{agent.agent_id} is not in after-contact work", agent_id=agent.agent_id
        )
    return replace(agent, state=_resting_state(agent), idle_since=now)


def _resting_state(agent: Agent) -> AgentState:
    return AgentState.BUSY if agent.total_load else AgentState.IDLE


def offer_withdrawn(agent: Agent) -> Agent:
    """The contact on offer left (abandoned, called back): the agent is as before the offer."""
    if agent.state is not AgentState.OFFERED:
        return agent
    return replace(agent, state=_resting_state(agent))


def status_set(agent: Agent, status: AgentStatus, now: datetime, *, reason: str = "") -> Agent:
    """The agent (or a supervisor) sets the status. Becoming available starts the idle time and
    ends a `missed` state; away needs a reason; an offer in flight or contacts in hand stay."""
    if status is AgentStatus.AWAY and not reason.strip():
        raise InvalidConfiguration("away_needs_reason", "say why the agent is away (break, lunch...)")
    if status is not AgentStatus.AWAY and reason:
        raise InvalidConfiguration("reason_without_away", "only an away agent has an away reason")
    if status is agent.status and reason == agent.away_reason:
        return agent
    state = _resting_state(agent) if agent.state is AgentState.MISSED else agent.state
    became_available = status is AgentStatus.AVAILABLE and agent.status is not AgentStatus.AVAILABLE
    return replace(
        agent,
        status=status,
        away_reason=reason,
        state=state,
        idle_since=now if became_available and not agent.total_load else agent.idle_since,
        consecutive_no_answers=0 if status is AgentStatus.AVAILABLE else agent.consecutive_no_answers,
    )
