"""/v1/webhooks on a bare app over the real Redis, as the service wires it, with the default
setting that refuses private targets: refusals, roles, tenants, quota."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpline.auth import ApiKeyStore
from helpline.clock import FakeClock
from helpline.rest import BodyLimitMiddleware, install_problem_handlers
from helpline.roles import Role
from services.notify.api import rest
from services.notify.store import NotifyStore
from services.notify.subscriptions import Subscriptions

QUOTA = 3


@pytest.fixture
def api(redis_client: redis.Redis, unique: str) -> Iterator[tuple[TestClient, ApiKeyStore, str]]:
    keys = ApiKeyStore(redis_client, pepper=unique)
    hooks = Subscriptions(
        NotifyStore(redis_client, 4),
        FakeClock(datetime(2031, 1, 1, tzinfo=UTC)),
        allow_private=False,
        quota=QUOTA,
    )
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(BodyLimitMiddleware)
    rest.provide(app, hooks, keys)
    app.include_router(rest.api)
    with TestClient(app) as client:
        yield client, keys, f"t{unique}"


def key(keys: ApiKeyStore, tenant: str, role: Role = Role.ADMIN) -> dict[str, str]:
    return {"X-API-Key": keys.create(tenant, role.value, role=role)[1]}


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9000/hook", "http://[::1]/hook", "http://169.254.169.254/", "https://10.1.2.3/x"],
)
def test_a_private_target_is_refused_by_default(api: tuple[TestClient, ApiKeyStore, str], url: str) -> None:
    client, keys, tenant = api
    answer = client.post("/v1/webhooks", json={"url": url, "event_types": ["*"]}, headers=key(keys, tenant))
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["rule"] == "private_target"
    assert "private" in problem["detail"]
    assert "HELPLINE_WEBHOOK_ALLOW_PRIVATE_TARGETS" in problem["detail"]


@pytest.mark.parametrize("role", [Role.READER, Role.SUPERVISOR, Role.AGENT, Role.GATEWAY])
def test_only_admins_touch_webhooks(api: tuple[TestClient, ApiKeyStore, str], role: Role) -> None:
    client, keys, tenant = api
    admin = key(keys, tenant)
    made = client.post(
        "/v1/webhooks", json={"url": "https://hooks.example.com/in", "event_types": ["*"]}, headers=admin
    )
    assert made.status_code == 201
    hook = made.json()["id"]
    headers = (
        {"X-API-Key": keys.create(tenant, "agent", role=role, agent_id="ag-1")[1]}
        if role is Role.AGENT
        else key(keys, tenant, role)
    )
    for method, path in [
        ("GET", "/v1/webhooks"),
        ("POST", "/v1/webhooks"),
        ("GET", f"/v1/webhooks/{hook}"),
        ("PATCH", f"/v1/webhooks/{hook}"),
        ("DELETE", f"/v1/webhooks/{hook}"),
        ("GET", f"/v1/webhooks/{hook}/deliveries"),
        ("POST", f"/v1/webhooks/{hook}/deliveries/msg_x/redeliver"),
    ]:
        answer = client.request(
            method, path, headers=headers, json={} if method in ("POST", "PATCH") else None
        )
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["admits"] == ["admin"]


def test_the_secret_is_shown_once_and_the_tenant_is_the_keys(
    api: tuple[TestClient, ApiKeyStore, str],
) -> None:
    client, keys, tenant = api
    admin, other = key(keys, tenant), key(keys, f"{tenant}x")
    made = client.post(
        "/v1/webhooks",
        json={
            "url": "https://hooks.example.com/in",
            "event_types": ["helpline.ticket.*"],
            "description": "crm",
        },
        headers=admin,
    ).json()
    assert made["secret"].startswith("whsec_")
    read = client.get(f"/v1/webhooks/{made['id']}", headers=admin)
    assert read.status_code == 200
    assert "secret" not in read.json()
    assert client.get(f"/v1/webhooks/{made['id']}", headers=other).status_code == 404
    assert (
        client.patch(f"/v1/webhooks/{made['id']}", json={"enabled": False}, headers=other).status_code == 404
    )
    assert client.delete(f"/v1/webhooks/{made['id']}", headers=other).status_code == 404
    changed = client.patch(
        f"/v1/webhooks/{made['id']}",
        json={"event_types": ["helpline.sla.*"], "enabled": False},
        headers=admin,
    ).json()
    assert (changed["event_types"], changed["enabled"], changed["description"]) == (
        ["helpline.sla.*"],
        False,
        "crm",
    )
    refused = client.patch(f"/v1/webhooks/{made['id']}", json={"url": "http://127.0.0.1/"}, headers=admin)
    assert refused.status_code == 422
    assert client.delete(f"/v1/webhooks/{made['id']}", headers=admin).status_code == 204
    assert client.get(f"/v1/webhooks/{made['id']}", headers=admin).status_code == 404


def test_input_is_bounded_and_the_quota_holds(api: tuple[TestClient, ApiKeyStore, str]) -> None:
    client, keys, tenant = api
    admin = key(keys, tenant)
    url = "https://hooks.example.com/in"
    for body, rule in [
        ({"url": url, "event_types": [f"a{i}.*" for i in range(33)]}, None),
        ({"url": url, "event_types": ["not a type"]}, "invalid_event_type"),
        ({"url": url, "event_types": ["*"], "secret": "whsec_short"}, "invalid_secret"),
        ({"url": "https://u:p@hooks.example.com/", "event_types": ["*"]}, "url_with_credentials"),
        ({"url": "https://hooks.example.com/" + "a" * 3000, "event_types": ["*"]}, None),
        ({"url": url, "event_types": ["*"], "tenant_id": "someone-else"}, None),
    ]:
        answer = client.post("/v1/webhooks", json=body, headers=admin)
        assert answer.status_code == 422, answer.text
        if rule is not None:
            assert answer.json()["rule"] == rule
    for _ in range(QUOTA):
        assert (
            client.post("/v1/webhooks", json={"url": url, "event_types": ["*"]}, headers=admin).status_code
            == 201
        )
    over = client.post("/v1/webhooks", json={"url": url, "event_types": ["*"]}, headers=admin)
    assert over.status_code == 429
    assert over.json()["rule"] == "quota_reached"


@pytest.mark.parametrize("enabled", [1, 0, "yes", "true", "off"])
def test_enabled_takes_a_json_boolean_only(api: tuple[TestClient, ApiKeyStore, str], enabled: object) -> None:
    client, keys, tenant = api
    admin = key(keys, tenant)
    body = {"url": "https://hooks.example.com/in", "event_types": ["*"], "enabled": enabled}
    assert client.post("/v1/webhooks", json=body, headers=admin).status_code == 422
    made = client.post("/v1/webhooks", json={**body, "enabled": False}, headers=admin)
    assert made.status_code == 201
    patched = client.patch(f"/v1/webhooks/{made.json()['id']}", json={"enabled": enabled}, headers=admin)
    assert patched.status_code == 422


def test_if_match_pins_a_change_or_removal_to_the_version_read(
    api: tuple[TestClient, ApiKeyStore, str],
) -> None:
    client, keys, tenant = api
    admin = key(keys, tenant)
    made = client.post(
        "/v1/webhooks", json={"url": "https://hooks.example.com/in", "event_types": ["*"]}, headers=admin
    )
    assert made.headers["etag"] == '"1"'
    url = f"/v1/webhooks/{made.json()['id']}"
    assert client.get(url, headers=admin).headers["etag"] == '"1"'

    changed = client.patch(url, json={"description": "first"}, headers=admin | {"If-Match": '"1"'})
    assert (changed.status_code, changed.headers["etag"]) == (200, '"2"')
    stale = client.patch(url, json={"description": "lost"}, headers=admin | {"If-Match": '"1"'})
    assert stale.status_code == 412
    assert (stale.json()["expected_version"], stale.json()["current_version"]) == (1, 2)
    assert client.get(url, headers=admin).json()["description"] == "first"
    assert client.patch(url, json={}, headers=admin | {"If-Match": "soon"}).status_code == 400

    assert client.delete(url, headers=admin | {"If-Match": '"1"'}).status_code == 412
    assert client.delete(url, headers=admin | {"If-Match": 'W/"2"'}).status_code == 204
    assert client.get(url, headers=admin).status_code == 404
