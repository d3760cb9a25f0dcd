"""The example scenario in deploy/simulation/ is one `helpline simulate --scenario` takes, complete
(every section given, every channel and the bot planning contacts), and docs/simulation.md, which
points to it, describes every field a scenario can have."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from devstack.local_stack import REPO_ROOT
from simulator.plan import plan_contacts
from simulator.scenario import (
    AgentGroup,
    ChannelLoad,
    Duration,
    HoursOfOperation,
    QueueSpec,
    Scenario,
    SelfService,
    Surveys,
    Tickets,
)

EXAMPLE = REPO_ROOT / "deploy" / "simulation" / "example-scenario.json"
GUIDE = REPO_ROOT / "docs" / "simulation.md"


def _example() -> Scenario:
    return Scenario.model_validate_json(EXAMPLE.read_text())


def test_the_example_scenario_is_valid_and_gives_every_section() -> None:
    scenario = _example()
    assert set(Scenario.model_fields) <= scenario.model_fields_set
    assert scenario.queues
    assert scenario.self_service is not None


def test_the_example_scenario_plans_contacts_on_every_channel_and_the_bot() -> None:
    scenario = _example()
    plan = plan_contacts(scenario, "test")
    assert {contact.channel for contact in plan} == {*scenario.channels, "bot"}
    assert {contact.bot for contact in plan if contact.channel == "bot"} == {"contained", "escalated"}
    assert plan[0].contact_id == f"{scenario.tenant}-test-c000001"


@pytest.mark.parametrize(
    "model",
    [Scenario, ChannelLoad, SelfService, AgentGroup, QueueSpec, HoursOfOperation, Tickets, Surveys, Duration],
)
def test_the_guide_describes_every_field(model: type[BaseModel]) -> None:
    named = set(re.findall(r"`([a-z_]+)`", GUIDE.read_text()))
    assert set(model.model_fields) - named == set()
