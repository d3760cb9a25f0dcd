"""The router's audit events over the real Redis: each change of a skill, queue, routing profile or
agent made through the REST API leaves one `ConfigurationChanged` on the outbox, in the script of
the change, naming the caller's key and the versions before and after; a change refused leaves
none; a change made outside any call is the system's. (tests/integration/test_audit_trail.py reads
them from Kafka.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from helpline.audit import SYSTEM
from helpline.auth import ApiKeyStore
from helpline.v1 import audit_events_pb2
from services.router.composition import Router
from services.router.domain.model import AgentStatus
from services.router.storage.store import OUTBOX_STREAM
from tests.integration.api_checks import ok, problem
from tests.integration.outbox_events import outbox
from tests.integration.router.rest_app import Admin, admin
from tests.integration.router.router_events import router_events

A = audit_events_pb2


@pytest.fixture
def api(router: Router, redis_client: redis.Redis, unique: str) -> Iterator[Admin]:
    with admin(router, redis_client, unique) as built:
        yield built


def changes(api: Admin) -> list[tuple[int, str, int, int, int]]:
    return [
        (c.kind, c.object_id, c.action, c.before_version, c.after_version)
        for c in router_events(api.redis, api.tenant, A.ConfigurationChanged)
    ]


def test_each_change_is_recorded_with_the_callers_key_and_versions(api: Admin, unique: str) -> None:
    caller = ApiKeyStore(api.redis, pepper=unique).resolve(api.mine["X-API-Key"])
    assert caller is not None
    calls = [
        ("/v1/skills/billing", {}, 201),
        ("/v1/skills/billing", {"description": "Invoices"}, 200),
        ("/v1/queues/chat", {"name": "Chat", "channels": ["chat"]}, 201),
        ("/v1/routing-profiles/desk", {"queues": [{"queue_id": "chat"}]}, 201),
        ("/v1/agents/ann", {"skills": {"billing": 3}, "routing_profile_id": "desk"}, 201),
    ]
    for path, body, status in calls:
        ok(api.client.put(path, json=body, headers=api.mine), status)
    # The agent's routing state moves its version too: its next change starts from there.
    api.router.agents.set_status(api.tenant, "ann", AgentStatus.AWAY, reason="lunch")
    ok(api.client.put("/v1/agents/ann", json={"routing_profile_id": "desk"}, headers=api.mine))
    ok(
        api.client.put("/v1/queues/spare", json={"name": "Spare", "channels": ["chat"]}, headers=api.mine),
        201,
    )
    removed = api.client.delete("/v1/queues/spare", headers={**api.mine, "If-Match": '"1"'})
    assert removed.status_code == 204

    put, remove = A.CONFIGURATION_ACTION_PUT, A.CONFIGURATION_ACTION_REMOVE
    assert changes(api) == [
        (A.CONFIGURATION_KIND_SKILL, "billing", put, 0, 1),
        (A.CONFIGURATION_KIND_SKILL, "billing", put, 1, 2),
        (A.CONFIGURATION_KIND_QUEUE, "chat", put, 0, 1),
        (A.CONFIGURATION_KIND_PROFILE, "desk", put, 0, 1),
        (A.CONFIGURATION_KIND_AGENT, "ann", put, 0, 1),
        (A.CONFIGURATION_KIND_AGENT, "ann", put, 2, 3),
        (A.CONFIGURATION_KIND_QUEUE, "spare", put, 0, 1),
        (A.CONFIGURATION_KIND_QUEUE, "spare", remove, 1, 0),
    ]
    actor = A.KeyActor(key_id=caller.key_id, role="admin", name="admin")
    recorded = router_events(api.redis, api.tenant, A.ConfigurationChanged)
    assert all(change.actor == actor for change in recorded)
    # Keyed by tenant: one partition holds the tenant's trail in order.
    keys = {key for key, message in outbox(api.redis, OUTBOX_STREAM) if message in recorded}
    assert keys == {api.tenant.encode()}


def test_a_refused_change_records_nothing(api: Admin) -> None:
    chat = {"name": "Chat", "channels": ["chat"]}
    ok(api.client.put("/v1/queues/chat", json=chat, headers=api.mine), 201)
    problem(api.client.put("/v1/queues/chat", json=chat, headers={**api.mine, "If-Match": '"7"'}), 412)
    problem(api.client.put("/v1/agents/ann", json={"routing_profile_id": "none"}, headers=api.mine), 422)
    assert len(changes(api)) == 1


def test_a_change_made_outside_any_call_is_the_systems(
    router: Router, redis_client: redis.Redis, tenant: str
) -> None:
    router.catalog.put_skill(tenant, "billing", "")
    (change,) = router_events(redis_client, tenant, A.ConfigurationChanged)
    assert change.actor == A.KeyActor(role=SYSTEM.role, name=SYSTEM.name)
