"""The simulated centre written through the router's REST admin, on the real Redis: every queue and
agent as the scenario says, the same configuration after a second run, and a refusal named."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta

import pytest
import redis

from helpline.clock import SystemClock
from services.router.composition import Router
from services.router.domain.model import Channel, Department
from simulator.scenario import Scenario
from simulator.setup import SetupError, agent_ids, configure_router, router_requests
from tests.integration.private_stack import PrivateStack
from tests.integration.router.rest_app import admin

AWAY_S = 3.0


@pytest.fixture
def router(redis_client: redis.Redis) -> Router:
    return Router(redis_client, SystemClock())


def test_the_default_centre_is_configured_and_a_second_run_leaves_it_as_it_was(
    router: Router, redis_client: redis.Redis, unique: str
) -> None:
    scenario = Scenario.default()
    with admin(router, redis_client, unique) as a:
        written = configure_router(a.client, a.mine["X-API-Key"], scenario)
        queues = {q.queue_id: q for q in router.catalog.queues(a.tenant)}
        assert configure_router(a.client, a.mine["X-API-Key"], scenario) == written
        # A PUT is a new version, with the same content.
        again = router.catalog.queues(a.tenant)
        assert {q.queue_id: replace(q, version=queues[q.queue_id].version) for q in again} == queues

    agent_count = sum(g.count for g in scenario.agents)
    # One skill, then the queues, then the agents.
    assert written == len(router_requests(scenario)) == 1 + len(scenario.queue_channels()) + agent_count
    assert set(queues) == {"service-voice", "service-chat", "support-email", "support-voice"}
    needs = queues["support-voice"].required_skills
    assert [(n.name, n.min_proficiency) for n in needs] == [("technical", 3)]
    technician = router.store.agent(a.tenant, "support-01")
    assert technician is not None
    assert technician.agent.skills == {"technical": 4}
    chat = queues["service-chat"]
    assert chat.channels == {Channel.CHAT, Channel.SMS, Channel.SOCIAL}
    # The router keeps the wall clock: the scenario's times reach it compressed by the speed.
    speed = scenario.speed
    assert queues["service-voice"].callback_threshold == timedelta(seconds=120 / speed)
    assert queues["service-voice"].offer_timeout == timedelta(seconds=20 / speed)
    email = queues["support-email"]
    assert (email.department, email.service_level_threshold) == (
        Department.SUPPORT,
        timedelta(hours=4 / speed),
    )
    assert email.service_level_target == 0.9

    digital = next(g for g in scenario.agents if g.name == "digital")
    for agent_id in agent_ids(digital):
        record = router.store.agent(a.tenant, agent_id)
        assert record is not None
        profile = record.agent.profile
        assert [m.queue_id for m in profile.queues] == ["service-chat"]
        assert profile.capacity == {Channel.CHAT: 3, Channel.SMS: 3, Channel.SOCIAL: 3}


def test_what_the_router_refuses_is_named(router: Router, redis_client: redis.Redis, unique: str) -> None:
    groups = [g.model_dump() for g in Scenario.default().agents]
    groups[0]["capacity"] = {"voice": 2}
    scenario = Scenario.model_validate(Scenario.default().model_dump() | {"agents": groups})
    refused = pytest.raises(SetupError, match="PUT http://testserver/v1/agents/voice-01: 422")
    with admin(router, redis_client, unique) as a, refused:
        configure_router(a.client, a.mine["X-API-Key"], scenario)


def test_a_setup_made_while_redis_is_away_waits_for_it_and_then_configures_the_centre(
    private_stack: PrivateStack, unique: str
) -> None:
    private_stack.start("redis")
    client = redis.Redis.from_url(private_stack.redis_url)
    router = Router(client, SystemClock())
    scenario = Scenario.default()
    with admin(router, client, unique) as a:
        private_stack.stop("redis")
        # The router answers 503 until Redis is back; the setup asks again meanwhile.
        back = threading.Timer(AWAY_S, private_stack.start, args=("redis",))
        started = time.monotonic()
        back.start()
        try:
            written = configure_router(a.client, a.mine["X-API-Key"], scenario)
        finally:
            back.join()
        took = time.monotonic() - started
        assert written == len(router_requests(scenario))
        assert took >= AWAY_S
        assert {q.queue_id for q in router.catalog.queues(a.tenant)} == set(scenario.queue_channels())
    client.close()
