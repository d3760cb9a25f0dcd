"""A tenant's quotas on the router's configuration, over the REST API on the real Redis: one more new
thing past the quota is 429 `quota_reached` naming the setting, a change of a thing kept is not,
and a removal makes room; another tenant has quotas of its own."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import redis

from helpline.clock import FakeClock
from helpline.quotas import QuotaReachedError
from services.router.composition import Router
from services.router.usecases.configuration import Quotas
from tests.integration.router.conftest import START
from tests.integration.router.rest_app import admin


def test_a_new_queue_past_the_quota_is_refused_until_one_is_removed(
    redis_client: redis.Redis, unique: str
) -> None:
    router = Router(redis_client, FakeClock(START), quotas=Quotas(queues=2, skills=1))
    with admin(router, redis_client, unique) as api:
        put = api.client.put
        chat = {"name": "Chat", "channels": ["chat"]}
        assert put("/v1/queues/q1", json=chat, headers=api.mine).status_code == 201
        assert put("/v1/queues/q2", json=chat, headers=api.mine).status_code == 201
        refused = put("/v1/queues/q3", json=chat, headers=api.mine)
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "Retry-After" not in refused.headers
        body = refused.json()
        assert (body["rule"], body["quota"], body["limit"]) == ("quota_reached", "queues", 2)
        assert "HELPLINE_TENANT_MAX_QUEUES" in body["detail"]
        assert put("/v1/queues/q2", json={**chat, "name": "Chat 2"}, headers=api.mine).status_code == 200
        assert put("/v1/queues/q1", json=chat, headers=api.theirs).status_code == 201
        assert api.client.delete("/v1/queues/q1", headers=api.mine).status_code in (200, 204)
        assert put("/v1/queues/q3", json=chat, headers=api.mine).status_code == 201
        assert put("/v1/skills/billing", json={}, headers=api.mine).status_code == 201
        assert put("/v1/skills/sales", json={}, headers=api.mine).status_code == 429


def test_skills_created_at_once_do_not_pass_the_quota_together(
    redis_client: redis.Redis, unique: str
) -> None:
    router = Router(redis_client, FakeClock(START), quotas=Quotas(skills=5))
    tenant = f"t{unique}"
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda n: _try_skill(router, tenant, f"s{n}"), range(16)))
    assert outcomes.count(True) == 5
    assert len(router.catalog.skills(tenant)) == 5


def _try_skill(router: Router, tenant: str, name: str) -> bool:
    try:
        router.catalog.put_skill(tenant, name, "")
    except QuotaReachedError:
        return False
    return True
