"""Hours of operation end to end: a simulated centre whose queues close for the night and open in
the morning, played at 720x through all five services: the calls the closed voice queue takes are
called back at the opening, the chats become tickets. The router's calendars are the simulated
hours laid on the run's wall clock (simulator.hours); the platform's after-hours contacts, their
tickets and the queues' counts are the ones the simulator's ledger implies, and the ledger's
after-hours contacts the ones the simulated hours imply.

At 720x a simulated day is two wall minutes and a simulated hour five seconds: queues open
07:00-19:00 in a run from 18:30 to 07:30 close 2.5 s in and open again 62.5 s in (the run waits up
to a minute before, for its start to put them on whole wall minutes). Every time the router
enforces is long (an hour's handle, offer and answer targets), so nothing but the hours moves a
contact. The evening before the closing is busy enough to leave chats waiting at it, and the first
morning hour busier still, so both an after-hours move of waiting contacts and answers after the
opening happen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from simulator.runner import Simulation
from simulator.scenario import AgentGroup, ChannelLoad, Duration, HoursOfOperation, QueueSpec, Scenario
from tests.e2e.ledger_checks import read_tickets
from tests.e2e.platform import Platform, counted, eventually, running_platform, wait_for_queues
from tests.integration.helpers import wait_until

# How far from an opening or closing (wall seconds) an arrival must be for the run to know which
# side of it the router saw it on: the ingress hop and the router's timer poll take far less.
BOUNDARY_S = 1.0
AFTER_HOURS_TAG = "after_hours"


def scenario(tenant: str) -> Scenario:
    def night_queue(action: Literal["ticket", "callback"]) -> QueueSpec:
        return QueueSpec(
            service_level_threshold_s=3600, offer_timeout_s=3600, wrap_up_timeout_s=7200,
            hours=HoursOfOperation(opens_h=7, closes_h=19, closed_action=action),
        )  # fmt: skip

    def one_agent(name: str, queue: str, channel: str) -> AgentGroup:
        return AgentGroup(
            name=name, count=1, queues=(queue,), capacity={channel: 1}, shift_start_h=0, shift_end_h=24,
            reject_rate=0.0, miss_rate=0.0, break_every_h=24,
        )  # fmt: skip

    return Scenario(
        seed=11,
        tenant=tenant,
        start_h=18.5,
        hours=13,
        speed=720,
        drain_h=0.25,
        curve=(1.0,) * 7 + (8.0,) + (1.0,) * 10 + (3.0,) + (1.0,) * 5,
        channels={
            "voice": ChannelLoad(per_hour=4, queue="night-voice", handle=Duration(mean_s=3600)),
            "chat": ChannelLoad(per_hour=3, queue="night-chat", handle=Duration(mean_s=3600)),
        },
        queues={"night-voice": night_queue("callback"), "night-chat": night_queue("ticket")},
        agents=(one_agent("voice", "night-voice", "voice"), one_agent("digital", "night-chat", "chat")),
    )


@pytest.fixture
def stack(redis_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path) -> Iterator[Platform]:
    with running_platform(redis_url, kafka_bootstrap, f"hours{unique}", unique, tmp_path) as platform:
        yield platform


def test_queues_close_for_the_night_and_open_in_the_morning(stack: Platform, unique: str) -> None:
    tenant = f"hours{unique}"
    centre = scenario(tenant)
    sim = Simulation(centre, stack.simulating(centre))
    try:
        sim.configure()
        wait_for_queues(stack.prometheus, tenant, {("night-voice", "voice"), ("night-chat", "chat")})
        floor = asyncio.run(sim.run())
    finally:
        sim.close()
    assert sim.problems == []
    ledger = floor.ledger

    # The ledger's after-hours contacts are the ones the simulated hours imply.
    after_hours = {c for c, truth in ledger.contacts.items() if truth.after_hours_at is not None}
    closed_on_arrival = {c for c in after_hours if ledger.contacts[c].queued_at is None}
    for contact in sim.plan:
        if near_a_boundary(centre, contact.queue_id, contact.at_s):
            continue
        found_closed = contact.contact_id in closed_on_arrival
        assert found_closed == (not centre.is_open(contact.queue_id, contact.at_s)), contact.contact_id
    assert closed_on_arrival, "nobody called at night"
    assert after_hours - closed_on_arrival, "nobody was waiting at the closing"
    morning_s = centre.open_periods("night-voice")[1][0] / centre.speed
    answered = [t.answered_at for t in ledger.contacts.values() if t.answered_at is not None]
    assert any(at > morning_s for at in answered), "nobody was answered after the opening"
    # Each caller the closed queue took gets a callback, offered only once it opens again.
    called_back = {c for c in after_hours if ledger.contacts[c].channel == "voice"}
    callbacks = [t for t in ledger.contacts.values() if t.callback]
    assert called_back, "no caller was taken after hours"
    assert len(callbacks) == len(called_back)
    answered_callbacks = [t.answered_at for t in callbacks if t.answered_at is not None]
    assert answered_callbacks, "no callback was answered in the morning"
    assert min(answered_callbacks) > morning_s - BOUNDARY_S

    # The platform's counts are the ledger's.
    truth = ledger.figures(sim.thresholds())
    queued = {slot: float(seen.queued) for slot, seen in truth.queues.items()}
    wait_until(
        lambda: counted(stack.prometheus, "helpline_contacts_queued_total", tenant, queued) == queued,
        timeout=60,
        what="every contact in Prometheus",
    )
    expected = {slot: float(n) for slot, n in ledger.after_hours_counts().items()}
    assert counted(stack.prometheus, "helpline_contacts_after_hours_total", tenant, expected) == expected
    for name, figure in (("answered", "answered"), ("abandoned", "abandoned")):
        want = {slot: float(getattr(seen, figure)) for slot, seen in truth.queues.items()}
        assert counted(stack.prometheus, f"helpline_contacts_{name}_total", tenant, want) == want, name

    # One ticket tagged after_hours for each after-hours contact but the callers, and none other.
    def tagged() -> None:
        found = read_tickets(stack)
        contacts = sorted(
            contact_id
            for answer in found.values()
            if AFTER_HOURS_TAG in answer.ticket.tags
            for contact_id in answer.ticket.contact_ids
        )
        assert contacts == sorted(after_hours - called_back)

    eventually(tagged)


def near_a_boundary(centre: Scenario, queue_id: str, simulated_s: float) -> bool:
    """Whether `simulated_s` lies within BOUNDARY_S of the wall clock of one of the queue's openings
    or closings."""
    margin_s = BOUNDARY_S * centre.speed
    periods = centre.open_periods(queue_id)
    boundaries = [moment for period in periods for moment in period]
    return any(abs(simulated_s - moment) < margin_s for moment in boundaries)
