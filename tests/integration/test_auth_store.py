"""The API-key store on the real Redis: keys resolve to their tenant until revoked, and only their
hash is ever stored."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from typer.testing import CliRunner

from helpline.audit import SYSTEM
from helpline.auth import (
    ApiKeyStore,
    InvalidTenantError,
    KeyRate,
    Principal,
    RateLimitedError,
    acting_as,
    hash_key,
    operator,
)
from helpline.cli import app
from helpline.quotas import QuotaReachedError
from helpline.roles import Role
from helpline.v1.audit_events_pb2 import (
    CONFIGURATION_ACTION_CREATE,
    CONFIGURATION_ACTION_REVOKE,
    ConfigurationChanged,
    KeyActor,
)
from tests.integration.helpers import text
from tests.integration.outbox_events import outbox_events

PEPPER = "test-pepper"


@pytest.fixture
def store(redis_client: redis.Redis, unique: str) -> ApiKeyStore:
    return ApiKeyStore(redis_client, pepper=PEPPER, namespace=f"auth-{unique}")


def test_create_resolve_list_revoke(store: ApiKeyStore, unique: str) -> None:
    tenant = f"acme-{unique}"
    key_id, key = store.create(tenant, "crm", scopes=["tickets:write", "tickets:read"])

    principal = store.resolve(key)
    assert principal == Principal(tenant, key_id, "crm", frozenset({"tickets:read", "tickets:write"}))

    other_id, _other = store.create(tenant, "bot")
    assert [(p.key_id, p.name) for p in store.list(tenant)] == [(other_id, "bot"), (key_id, "crm")]

    assert store.revoke(key_id) is True
    assert store.resolve(key) is None
    assert not store.still_valid(principal)
    assert [p.key_id for p in store.list(tenant)] == [other_id]
    assert store.revoke(key_id) is False


def test_unknown_and_malformed_keys_do_not_resolve(store: ApiKeyStore) -> None:
    assert store.resolve("hlk_" + "A" * 43) is None
    assert store.resolve("not-a-key") is None
    assert store.resolve("") is None
    assert store.revoke("no-such-id") is False


def test_a_key_hashed_under_another_pepper_does_not_resolve(
    store: ApiKeyStore, redis_client: redis.Redis, unique: str
) -> None:
    _key_id, key = store.create(f"acme-{unique}", "crm")
    rotated = ApiKeyStore(redis_client, pepper="another-pepper", namespace=f"auth-{unique}")
    assert rotated.resolve(key) is None


def test_each_tenant_gets_its_own_tenant(store: ApiKeyStore, unique: str) -> None:
    acme_id, acme_key = store.create(f"acme-{unique}", "crm")
    globex_id, globex_key = store.create(f"globex-{unique}", "crm")

    acme = store.resolve(acme_key)
    globex = store.resolve(globex_key)
    assert acme is not None
    assert (acme.tenant_id, acme.key_id) == (f"acme-{unique}", acme_id)
    assert globex is not None
    assert (globex.tenant_id, globex.key_id) == (f"globex-{unique}", globex_id)
    assert [p.key_id for p in store.list(f"acme-{unique}")] == [acme_id]
    assert [p.key_id for p in store.list(f"globex-{unique}")] == [globex_id]
    assert store.list(f"nobody-{unique}") == []


def test_the_plaintext_key_is_never_stored(
    store: ApiKeyStore, redis_client: redis.Redis, unique: str
) -> None:
    namespace = f"auth-{unique}"
    keys = [store.create(f"acme-{unique}", f"key-{i}", scopes=["admin"])[1] for i in range(3)]

    stored: list[bytes | str | None] = []
    redis_keys = list(redis_client.scan_iter(match=f"{namespace}:*"))
    # A hash and an id per key, one tenant set, and the outbox of their audit events.
    assert len(redis_keys) == 3 * 2 + 1 + 1
    for name in redis_keys:
        stored.append(name)
        kind = redis_client.type(name)
        if kind == b"hash":
            for field, value in redis_client.hgetall(name).items():
                stored += [field, value]
        elif kind == b"string":
            stored.append(redis_client.get(name))
        elif kind == b"set":
            stored += list(redis_client.smembers(name))
        elif kind == b"stream":
            entries: Any = redis_client.xrange(name)  # redis-py types every reply shape at once
            stored += [value for _, fields in entries for value in fields.values()]
        else:
            pytest.fail(f"unexpected {kind!r} at {name!r}")

    blob = b"\n".join(item for item in stored if isinstance(item, bytes))
    assert len(blob) > 0
    for key in keys:
        assert key.encode() not in blob
        assert key.removeprefix("hlk_").encode() not in blob
        assert hash_key(key, PEPPER).encode() in blob


def test_revoke_leaves_nothing_behind(store: ApiKeyStore, redis_client: redis.Redis, unique: str) -> None:
    key_id, _key = store.create(f"acme-{unique}", "crm")
    assert store.revoke(key_id)
    # Only the audit events of its creation and revocation, until a relay publishes them.
    assert list(redis_client.scan_iter(match=f"auth-{unique}:*")) == [store.outbox_stream.encode()]
    assert redis_client.xlen(store.outbox_stream) == 2


def test_a_bad_tenant_is_refused_before_anything_is_written(
    store: ApiKeyStore, redis_client: redis.Redis, unique: str
) -> None:
    with pytest.raises(InvalidTenantError):
        store.create("Not A Tenant", "crm")
    with pytest.raises(ValueError, match="invalid scope"):
        store.create(f"acme-{unique}", "crm", scopes=["has space"])
    assert list(redis_client.scan_iter(match=f"auth-{unique}:*")) == []


def test_works_with_a_decoding_client(redis_url: str, unique: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        store = ApiKeyStore(client, pepper=PEPPER, namespace=f"auth-{unique}")
        key_id, key = store.create(f"acme-{unique}", "crm", scopes=["a"])
        principal = store.resolve(key)
        assert principal is not None
        assert principal.tenant_id == f"acme-{unique}"
        assert [p.key_id for p in store.list(f"acme-{unique}")] == [key_id]
        assert store.revoke(key_id)
    finally:
        client.close()


def test_a_key_has_a_role_and_an_agents_key_names_its_agent(store: ApiKeyStore, unique: str) -> None:
    tenant = f"acme-{unique}"
    _id, desk = store.create(tenant, "desk", role=Role.AGENT, agent_id="ann")
    _id, gateway = store.create(tenant, "web", role=Role.GATEWAY)
    assert (store.resolve(desk) or _none()).role is Role.AGENT
    assert (store.resolve(desk) or _none()).agent_id == "ann"
    assert (store.resolve(gateway) or _none()).agent_id is None
    assert {p.role for p in store.list(tenant)} == {Role.AGENT, Role.GATEWAY}
    with pytest.raises(ValueError, match="names the agent"):
        store.create(tenant, "desk", role=Role.AGENT)
    with pytest.raises(ValueError, match="names the agent"):
        store.create(tenant, "web", role=Role.GATEWAY, agent_id="ann")
    with pytest.raises(ValueError, match="invalid agent id"):
        store.create(tenant, "desk", role=Role.AGENT, agent_id="ann bob")


def test_a_key_stops_resolving_when_it_expires_and_leaves_redis(
    store: ApiKeyStore, redis_client: redis.Redis, unique: str
) -> None:
    tenant = f"acme-{unique}"
    key_id, key = store.create(
        tenant, "temp", role=Role.READER, expires_at=datetime.now(UTC) + timedelta(seconds=2)
    )
    principal = store.resolve(key)
    assert principal is not None
    assert principal.expires_at is not None
    assert 0 < redis_client.ttl(f"auth-{unique}:keyid:{key_id}") <= 3
    assert store.still_valid(principal)
    # The key's two seconds pass on purpose: its expiry is the subject.
    time.sleep(2.1)
    assert store.resolve(key) is None
    assert not store.still_valid(principal)
    with pytest.raises(ValueError, match="has passed"):
        store.create(tenant, "late", role=Role.READER, expires_at=datetime.now(UTC))


def test_a_key_made_before_roles_acts_as_admin(
    store: ApiKeyStore, redis_client: redis.Redis, unique: str
) -> None:
    key_id, key = store.create(f"acme-{unique}", "old")
    digest = redis_client.get(f"auth-{unique}:keyid:{key_id}")
    assert digest is not None
    redis_client.hdel(f"auth-{unique}:key:{text(digest)}", "role", "agent_id", "expires_at")
    principal = store.resolve(key)
    assert principal is not None
    assert (principal.role, principal.agent_id, principal.expires_at) == (Role.ADMIN, None, None)


def test_the_cli_creates_a_key_of_the_role_given(
    store: ApiKeyStore, redis_url: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPLINE_AUTH_REDIS_URL", redis_url)
    monkeypatch.setenv("HELPLINE_API_KEY_PEPPER", PEPPER)
    tenant = f"acme-{unique}"
    runner = CliRunner()
    assert runner.invoke(app, ["apikey", "create", tenant]).exit_code == 2
    refused = runner.invoke(app, ["apikey", "create", tenant, "--role", "agent"])
    assert refused.exit_code == 2
    assert "names the agent" in refused.output
    made = runner.invoke(
        app, ["apikey", "create", tenant, "--role", "agent", "--agent", "ann", "--expires", "30d"]
    )
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    principal = ApiKeyStore(redis.Redis.from_url(redis_url), pepper=PEPPER).resolve(key)
    assert principal is not None
    assert (principal.tenant_id, principal.role, principal.agent_id) == (tenant, Role.AGENT, "ann")
    assert principal.expires_at is not None
    assert timedelta(days=29) < principal.expires_at - datetime.now(UTC) <= timedelta(days=30)
    assert (
        runner.invoke(app, ["apikey", "create", tenant, "--role", "reader", "--expires", "soon"]).exit_code
        == 2
    )


def _none() -> Principal:
    raise AssertionError("the key did not resolve")


def test_a_key_calling_faster_than_its_rate_is_held_to_it(redis_client: redis.Redis, unique: str) -> None:
    store = ApiKeyStore(redis_client, pepper=PEPPER, namespace=f"auth-{unique}", rate=KeyRate(5, 3))
    _id, key = store.create(f"acme-{unique}", "busy", role=Role.READER)
    for _ in range(3):
        assert store.resolve(key) is not None
    with pytest.raises(RateLimitedError) as held:
        store.resolve(key)
    assert held.value.retry_after_s == 1
    # Five tokens a second: one is back within a fifth of a second.
    time.sleep(0.25)
    assert store.resolve(key) is not None
    # An unknown key is unknown, however fast it comes; its bucket leaves Redis once full again.
    stranger = "hlk_" + "B" * 43
    assert [store.resolve(stranger) for _ in range(5)] == [None] * 5
    assert all(
        0 < redis_client.pttl(bucket) <= 1600 for bucket in redis_client.scan_iter(f"auth-{unique}:rate:*")
    )


def test_a_tenant_holds_its_quota_of_api_keys_and_an_expired_one_frees_its_place(
    redis_client: redis.Redis, unique: str
) -> None:
    store = ApiKeyStore(redis_client, pepper="p", namespace=f"auth-{unique}", max_per_tenant=2)
    tenant = f"t{unique}"
    store.create(tenant, "one")
    store.create(tenant, "brief", expires_at=datetime.now(UTC) + timedelta(seconds=1))
    with pytest.raises(QuotaReachedError, match="HELPLINE_TENANT_MAX_API_KEYS"):
        store.create(tenant, "three")
    # Redis drops the expired key at the next whole second at the latest.
    time.sleep(2.1)
    store.create(tenant, "three")
    assert sorted(p.name for p in store.list(tenant)) == ["one", "three"]


def test_a_key_created_or_revoked_leaves_its_audit_event_and_a_refusal_none(
    redis_client: redis.Redis, unique: str
) -> None:
    store = ApiKeyStore(redis_client, pepper="p", namespace=f"auth-{unique}", max_per_tenant=1)
    tenant = f"t{unique}"
    expires = datetime.now(UTC) + timedelta(days=30)
    with acting_as(operator()):
        key_id, _key = store.create(tenant, "one", expires_at=expires)
        with pytest.raises(QuotaReachedError):
            store.create(tenant, "two")
        assert not store.revoke("no-such-key")
    assert store.revoke(key_id)
    created, revoked = outbox_events(redis_client, store.outbox_stream, tenant, ConfigurationChanged)
    assert (created.action, created.object_id, created.before_version, created.after_version) == (
        CONFIGURATION_ACTION_CREATE,
        key_id,
        0,
        1,
    )
    assert created.actor == KeyActor(role="admin", name=operator().name)
    assert created.expires_at.ToDatetime(UTC) == expires
    # Outside the command line and any call: the system's.
    assert (revoked.action, revoked.before_version, revoked.after_version) == (
        CONFIGURATION_ACTION_REVOKE,
        1,
        0,
    )
    assert revoked.actor == KeyActor(role=SYSTEM.role, name=SYSTEM.name)
