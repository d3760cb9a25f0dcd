"""A run's API keys on the real Redis: an admin's, a gateway's and one agent key per desk, each
acting for the run's tenant (an agent's for its own agent), expiring, and revoked when the run ends
however it ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis

from helpline.auth import ApiKeyStore
from helpline.roles import Role
from simulator.keys import run_keys
from simulator.scenario import Scenario
from simulator.setup import agent_ids


def test_a_run_has_a_key_of_each_callers_role_until_it_ends(redis_client: redis.Redis, unique: str) -> None:
    store = ApiKeyStore(redis_client, pepper=unique)
    scenario = Scenario.default().model_copy(update={"tenant": f"keys{unique}"})
    desks = [agent for group in scenario.agents for agent in agent_ids(group)]
    with run_keys(store, scenario, valid_for=timedelta(hours=1)) as keys:
        admin, gateway = store.resolve(keys.admin), store.resolve(keys.gateway)
        assert admin is not None
        assert gateway is not None
        assert (admin.role, gateway.role) == (Role.ADMIN, Role.GATEWAY)
        assert sorted(keys.agents) == sorted(desks)
        for agent in desks:
            desk = store.resolve(keys.agent(agent))
            assert desk is not None
            assert (desk.role, desk.agent_id, desk.tenant_id) == (Role.AGENT, agent, scenario.tenant)
        assert admin.expires_at is not None
        assert admin.expires_at <= datetime.now(UTC) + timedelta(hours=1)
        with pytest.raises(KeyError, match="no key for agent 'nobody'"):
            keys.agent("nobody")
    assert store.list(scenario.tenant) == []
    assert store.resolve(keys.admin) is None


def test_the_keys_of_a_run_that_failed_are_revoked_too(redis_client: redis.Redis, unique: str) -> None:
    store = ApiKeyStore(redis_client, pepper=unique)
    scenario = Scenario.default().model_copy(update={"tenant": f"keys{unique}"})
    made = []

    def run() -> None:
        with run_keys(store, scenario):
            made.extend(store.list(scenario.tenant))
            raise RuntimeError("the run broke")

    with pytest.raises(RuntimeError, match="the run broke"):
        run()
    assert made
    assert store.list(scenario.tenant) == []
