"""The agent's side of a contact told as AgentStateChanged: offered, busy, after-contact work with
its deadline, and idle once no load is left."""

from __future__ import annotations

from helpline.v1 import common_pb2
from services.router.domain import routing
from services.router.domain.agent_facts import state_changed
from services.router.domain.model import AgentState, Channel
from tests.unit.router.support import agent, at, profile, queue


def test_a_voice_contact_moves_the_agent_through_every_state() -> None:
    idle = agent(profile=profile("q1", capacity={Channel.VOICE: 1, Channel.CHAT: 3}))
    ringing = routing.offer_made(idle, "q1", at(10))
    offered = state_changed(idle, ringing, at(10), contact_id="k-1")
    assert offered is not None
    assert (offered.previous_state, offered.state) == (
        common_pb2.AGENT_STATE_IDLE,
        common_pb2.AGENT_STATE_OFFERED,
    )
    assert offered.contact_id == "k-1"

    busy = routing.offer_accepted(ringing, Channel.VOICE, at(12))
    accepted = state_changed(ringing, busy, at(12), contact_id="k-1")
    assert accepted is not None
    assert accepted.state == common_pb2.AGENT_STATE_BUSY
    loads = {load.channel: (load.active, load.capacity) for load in accepted.loads}
    assert loads == {common_pb2.CHANNEL_VOICE: (1, 1), common_pb2.CHANNEL_CHAT: (0, 3)}

    wrapping = routing.contact_released(busy, Channel.VOICE, at(100), wrap_up=True)
    wrap_up = state_changed(busy, wrapping, at(100), contact_id="k-1", after_contact_work_until=at(160))
    assert wrap_up is not None
    assert wrap_up.state == common_pb2.AGENT_STATE_AFTER_CONTACT_WORK
    assert wrap_up.after_contact_work_until.ToDatetime(at(0).tzinfo) == at(160)

    free = routing.wrap_up_ended(wrapping, at(130))
    done = state_changed(wrapping, free, at(130), contact_id="k-1", after_contact_work_until=at(160))
    assert done is not None
    assert done.state == common_pb2.AGENT_STATE_IDLE
    assert not done.HasField("after_contact_work_until")


def test_a_step_that_changes_nothing_is_no_fact() -> None:
    idle = agent()
    assert state_changed(idle, idle, at(1)) is None


def test_a_missed_agent_is_told() -> None:
    ringing = routing.offer_made(agent(consecutive_no_answers=2), "q1", at(10))
    missed = routing.offer_timed_out(ringing, queue(max_no_answer=3))
    fact = state_changed(ringing, missed, at(30), contact_id="k-1")
    assert fact is not None
    assert missed.state is AgentState.MISSED
    assert fact.state == common_pb2.AGENT_STATE_MISSED
