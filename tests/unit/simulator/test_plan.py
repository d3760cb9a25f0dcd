"""A scenario is checked whole before it runs, and its plan is the same for the same seed."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from pydantic import ValidationError

from simulator.model import DAY_S, HOUR_S
from simulator.plan import INTENTS, plan_contacts
from simulator.scenario import AgentGroup, Scenario


def _changed(**changes: Any) -> Scenario:
    return Scenario.model_validate(Scenario.default().model_dump() | changes)


def test_the_default_scenario_is_a_valid_centre() -> None:
    scenario = Scenario.default()
    assert set(scenario.channels) == {"voice", "chat", "sms", "social", "email", "web_form"}
    assert scenario.self_service is not None


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        (
            {"channels": {"voice": {"per_hour": 10, "queue": "nobody", "handle": {"mean_s": 60}}}},
            "no agent group serves queue nobody on voice",
        ),
        ({"channels": {"fax": {"per_hour": 1, "queue": "q", "handle": {"mean_s": 60}}}}, "fax"),
        ({"speed": 0}, "greater than 0"),
        ({"curve": (1.0,) * 23}, "24 hourly weights"),
        ({"pigeons": 3}, "Extra inputs"),
    ],
)
def test_a_scenario_that_could_not_run_is_refused(changes: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        _changed(**changes)


def test_agents_for_queues_no_contact_enters_and_shifts_backwards_are_refused() -> None:
    groups = [g.model_dump() for g in Scenario.default().agents]
    with pytest.raises(ValidationError, match=r"serves queues no contact enters: \['spare'\]"):
        _changed(agents=[*groups, {**groups[0], "name": "extra", "queues": ["spare"]}])
    with pytest.raises(ValidationError, match=r"the shift ends at 9\.0 h, not after it starts"):
        _changed(agents=[{**groups[0], "shift_start_h": 10, "shift_end_h": 9}, *groups[1:]])


def test_a_shift_comes_back_every_day_of_a_run_over_several_days() -> None:
    group = AgentGroup(
        name="early", count=1, queues=("q",), capacity={"voice": 1}, shift_start_h=7, shift_end_h=16
    )
    shifts = itertools.islice(group.shifts(run_start_h=0), 3)
    assert [(s / HOUR_S, e / HOUR_S) for s, e in shifts] == [(7, 16), (31, 40), (55, 64)]
    # From 10:00, the day's shift is under way (it began 3 h before) and the next is tomorrow's.
    under_way, tomorrow = itertools.islice(group.shifts(run_start_h=10), 2)
    assert under_way == (-3 * HOUR_S, 6 * HOUR_S)
    assert tomorrow == (DAY_S - 3 * HOUR_S, DAY_S + 6 * HOUR_S)
    # From 17:00 the day's shift is over: the first is tomorrow's.
    assert next(group.shifts(run_start_h=17)) == (14 * HOUR_S, 23 * HOUR_S)


def test_one_seed_one_plan_numbered_by_arrival() -> None:
    plan = plan_contacts(Scenario.default())
    assert plan == plan_contacts(Scenario.default())
    assert plan != plan_contacts(_changed(seed=2))
    assert [c.contact_id for c in plan[:2]] == ["sim-c000001", "sim-c000002"]
    assert [c.at_s for c in plan] == sorted(c.at_s for c in plan)
    assert 0 <= plan[0].at_s < plan[-1].at_s < HOUR_S


def test_a_channel_draws_its_own_stream() -> None:
    # More voice calls leave every chat as it was.
    channels = Scenario.default().model_dump()["channels"]
    louder = _changed(channels=channels | {"voice": channels["voice"] | {"per_hour": 400}})

    def chats(scenario: Scenario) -> list[tuple[float, float, float]]:
        return [(c.at_s, c.patience_s, c.handle_s) for c in plan_contacts(scenario) if c.channel == "chat"]

    assert chats(louder) == chats(Scenario.default())


def test_counts_and_fates_follow_the_scenario_over_a_long_day() -> None:
    scenario = _changed(start_h=0.0, hours=24.0)
    plan = plan_contacts(scenario)
    by_channel: dict[str, int] = {}
    for contact in plan:
        by_channel[contact.channel] = by_channel.get(contact.channel, 0) + 1
    for channel, load in scenario.channels.items():
        expected = load.per_hour * 24
        assert abs(by_channel[channel] - expected) <= 4 * math.sqrt(expected), channel
    emails = [c for c in plan if c.channel in ("email", "web_form")]
    assert all(c.patience_s == math.inf for c in emails)
    assert {c.queue_id for c in emails} == {"support-email"}

    bots = [c for c in plan if c.channel == "bot"]
    contained = [c for c in bots if c.bot == "contained"]
    assert {c.queue_id for c in contained} == {""}
    assert {c.queue_id for c in bots if c.bot == "escalated"} == {"service-chat"}
    assert len(contained) / len(bots) == pytest.approx(0.6, abs=0.04)

    answered = [c.survey for c in plan if c.survey is not None]
    assert len(answered) / len(plan) == pytest.approx(0.3, abs=0.02)
    assert {a.csat for a in answered} == set(range(1, 6))
    assert {a.nps for a in answered} == set(range(11))
    assert {a.ces for a in answered} == set(range(1, 8))


def test_a_quiet_channel_has_no_contacts() -> None:
    channels = Scenario.default().model_dump()["channels"]
    scenario = _changed(channels=channels | {"voice": channels["voice"] | {"per_hour": 0}})
    assert not [c for c in plan_contacts(scenario) if c.channel == "voice"]


def test_web_forms_are_served_out_of_the_email_capacity_as_the_router_does() -> None:
    groups = [g.model_dump() for g in Scenario.default().agents]
    support = next(g for g in groups if g["name"] == "support")
    assert support["capacity"] == {"email": 1, "voice": 1}
    with pytest.raises(ValidationError, match="web_form"):
        _changed(
            agents=[{**g, "capacity": {"web_form": 1, "voice": 1}} if g is support else g for g in groups]
        )
    without_email = [g for g in groups if g is not support]
    with pytest.raises(ValidationError, match="no agent group serves queue support-email on email"):
        _changed(agents=without_email)


def test_bot_conversations_carry_an_intent_and_other_contacts_none() -> None:
    plan = plan_contacts(Scenario.default())
    assert {c.intent for c in plan if c.channel == "bot"} <= set(INTENTS)
    assert {c.intent for c in plan if c.channel != "bot"} == {""}


def test_a_queue_needing_skills_no_group_serving_it_has_is_refused() -> None:
    queues = Scenario.default().model_dump()["queues"]
    with pytest.raises(ValidationError, match="no agent group with the skills"):
        _changed(
            queues=queues | {"support-voice": queues["support-voice"] | {"required_skills": {"technical": 5}}}
        )
    with pytest.raises(ValidationError):
        _changed(
            queues=queues | {"support-voice": queues["support-voice"] | {"required_skills": {"technical": 6}}}
        )


def test_a_first_reply_is_pending_or_on_hold_at_most_once() -> None:
    tickets = Scenario.default().model_dump()["tickets"]
    with pytest.raises(ValidationError, match="together at most 1"):
        _changed(tickets=tickets | {"pending_rate": 0.7, "on_hold_rate": 0.4})
