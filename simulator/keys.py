"""The API keys a run calls the platform with, each of the narrowest role its caller needs, as a
real centre's would be: an admin's for the set-up, the channels' gateway key for the customers'
side, and one agent key per desktop, which acts for its own agent only (helpline.roles)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import redis

from helpline.auth import ApiKeyStore
from helpline.logging import get_logger
from helpline.roles import Role
from simulator.scenario import Scenario
from simulator.setup import agent_ids

log = get_logger(__name__)

# Long enough for any run, short enough that the keys of a run killed before it revoked them are
# gone within the day: keys of the admin role above all.
VALID_FOR = timedelta(hours=12)


@dataclass(frozen=True)
class RunKeys:
    admin: str
    gateway: str
    # An agent's key by its agent id; empty when one key makes every call (`shared`).
    agents: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def shared(cls, key: str) -> RunKeys:
        """One key for every call: a key the operator gave, which must be an admin's to do it all."""
        return cls(admin=key, gateway=key)

    def agent(self, agent_id: str) -> str:
        if not self.agents:
            return self.admin
        try:
            return self.agents[agent_id]
        except KeyError:
            raise KeyError(f"the run made no key for agent {agent_id!r}") from None


@contextmanager
def run_keys(store: ApiKeyStore, scenario: Scenario, valid_for: timedelta = VALID_FOR) -> Iterator[RunKeys]:
    """Keys for a run of the scenario in its tenant, expiring after `valid_for` and revoked when the
    block ends."""
    expires_at = datetime.now(UTC) + valid_for
    made: list[str] = []

    def create(name: str, role: Role, agent_id: str | None = None) -> str:
        key_id, key = store.create(scenario.tenant, name, role=role, agent_id=agent_id, expires_at=expires_at)
        made.append(key_id)
        return key

    try:
        keys = RunKeys(
            admin=create("simulator", Role.ADMIN),
            gateway=create("simulator-gateway", Role.GATEWAY),
            agents={
                agent: create("simulator-desk", Role.AGENT, agent)
                for group in scenario.agents
                for agent in agent_ids(group)
            },
        )
        yield keys
    finally:
        try:
            for key_id in made:
                store.revoke(key_id)
        except redis.RedisError as exc:
            # They expire on their own; a revocation failing must not hide how the run ended.
            log.warning(
                "the run's API keys were not revoked; they expire", error=str(exc), at=str(expires_at)
            )
