"""The SLA service's audit events over the real Redis: each put and removal of a policy or calendar
made through the REST API leaves one `ConfigurationChanged` on the outbox, in the script of the
change, naming the caller's key and the versions before and after; a refused change leaves none; a
policy stored before versions were kept counts as version 1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from helpline.auth import ApiKeyStore
from helpline.clock import FakeClock
from helpline.v1 import audit_events_pb2
from services.sla.config import POLICIES
from services.sla.domain.policy import Conditions, Policy
from services.sla.store import OUTBOX_STREAM, Keys, SlaStore
from tests.integration.api_checks import ok, problem
from tests.integration.outbox_events import outbox_events
from tests.integration.sla.rest_app import Admin, admin

A = audit_events_pb2
CALENDAR = {
    "name": "Office",
    "time_zone": "UTC",
    "open_intervals": [{"weekday": "monday", "opens": "09:00", "closes": "17:00"}],
}
POLICY = {"name": "Standard", "position": 1, "targets": [], "calendar_id": "office"}


@pytest.fixture
def api(store: SlaStore, redis_client: redis.Redis, clock: FakeClock, unique: str) -> Iterator[Admin]:
    with admin(store, redis_client, clock, unique) as built:
        yield built


def changes(client: redis.Redis, tenant: str) -> list[A.ConfigurationChanged]:
    return outbox_events(client, OUTBOX_STREAM, tenant, A.ConfigurationChanged)


def steps(client: redis.Redis, tenant: str) -> list[tuple[int, str, int, int, int]]:
    return [
        (c.kind, c.object_id, c.action, c.before_version, c.after_version) for c in changes(client, tenant)
    ]


def test_policies_and_calendars_are_recorded_with_the_callers_key_and_versions(
    api: Admin, redis_client: redis.Redis, unique: str
) -> None:
    caller = ApiKeyStore(redis_client, pepper=unique).resolve(api.mine["X-API-Key"])
    assert caller is not None
    ok(api.client.put("/v1/sla/calendars/office", json=CALENDAR, headers=api.mine), 201)
    ok(api.client.put("/v1/sla/policies/standard", json=POLICY, headers=api.mine), 201)
    ok(api.client.put("/v1/sla/policies/standard", json={**POLICY, "position": 2}, headers=api.mine))
    assert api.client.delete("/v1/sla/policies/standard", headers=api.mine).status_code == 204
    assert api.client.delete("/v1/sla/calendars/office", headers=api.mine).status_code == 204
    # Nothing there: no change, no record.
    problem(api.client.delete("/v1/sla/calendars/office", headers=api.mine), 404)

    put, remove = A.CONFIGURATION_ACTION_PUT, A.CONFIGURATION_ACTION_REMOVE
    policy, calendar = A.CONFIGURATION_KIND_SLA_POLICY, A.CONFIGURATION_KIND_CALENDAR
    assert steps(redis_client, api.tenant) == [
        (calendar, "office", put, 0, 1),
        (policy, "standard", put, 0, 1),
        (policy, "standard", put, 1, 2),
        (policy, "standard", remove, 2, 0),
        (calendar, "office", remove, 1, 0),
    ]
    actor = A.KeyActor(key_id=caller.key_id, role="admin", name="admin")
    assert all(change.actor == actor for change in changes(redis_client, api.tenant))


def test_a_policy_stored_before_versions_were_kept_is_at_version_1(
    store: SlaStore, redis_client: redis.Redis, api: Admin
) -> None:
    old = Policy("old", "Old", 1, Conditions(), (), "")
    redis_client.hset(Keys(api.tenant).policies, "old", POLICIES.dumps(old))
    ok(api.client.put("/v1/sla/policies/old", json={**POLICY, "calendar_id": None}, headers=api.mine))
    assert [(c.before_version, c.after_version) for c in changes(redis_client, api.tenant)] == [(1, 2)]
