"""The tenants' ingress secrets on the real Redis: created (two at most), listed without the
secret, revoked, found by name; the consumers' cache of them; and the `helpline ingress-secret`
commands."""

from __future__ import annotations

import pytest
import redis
from typer.testing import CliRunner

from helpline.auth import InvalidTenantError
from helpline.cli import app
from helpline.ingress_secrets import IngressSecrets, SecretCache, TooManySecretsError


@pytest.fixture
def store(redis_client: redis.Redis, unique: str) -> IngressSecrets:
    return IngressSecrets(redis_client, namespace=f"auth-{unique}")


def test_create_list_revoke(store: IngressSecrets, unique: str) -> None:
    tenant = f"acme-{unique}"
    first = store.create(tenant, "telephony")
    second = store.create(tenant, "telephony-next")

    assert first.tenant == tenant
    assert first.secret.startswith("hlis_")
    assert first.key_id != second.key_id
    assert [(s.key_id, s.name) for s in store.list(tenant)] == [
        (first.key_id, "telephony"),
        (second.key_id, "telephony-next"),
    ]
    assert store.secret(tenant, first.key_id) == first.secret
    assert store.secret(f"other-{unique}", first.key_id) is None

    with pytest.raises(TooManySecretsError, match="revoke one first"):
        store.create(tenant, "a third")
    assert store.revoke(tenant, first.key_id) is True
    assert store.revoke(tenant, first.key_id) is False
    assert store.secret(tenant, first.key_id) is None
    assert store.create(tenant).key_id not in (first.key_id, second.key_id)


def test_a_tenant_id_is_checked(store: IngressSecrets) -> None:
    with pytest.raises(InvalidTenantError):
        store.create("Not A Tenant")


def test_named_finds_the_secret_of_that_name_before_making_one(store: IngressSecrets, unique: str) -> None:
    tenant = f"acme-{unique}"
    other = store.create(tenant, "crm")
    made = store.named(tenant, "simulator")

    assert store.named(tenant, "simulator") == made != other
    assert len(store.list(tenant)) == 2


def test_the_cache_reads_once_until_it_is_stale(store: IngressSecrets, unique: str) -> None:
    tenant = f"acme-{unique}"
    key = store.create(tenant)
    now = [0.0]
    cache = SecretCache(store, seconds=5, clock=lambda: now[0])

    assert cache.secret(tenant, key.key_id) == key.secret
    assert cache.secret(tenant, "isk_unknown") is None
    store.revoke(tenant, key.key_id)
    assert cache.secret(tenant, key.key_id) == key.secret
    now[0] = 5.0
    assert cache.secret(tenant, key.key_id) is None


def test_the_cache_stays_bounded(store: IngressSecrets, unique: str) -> None:
    tenant = f"acme-{unique}"
    key = store.create(tenant)
    cache = SecretCache(store, entries=3)
    for n in range(10):
        cache.secret(tenant, f"isk_forged{n}")
    assert len(cache._known) <= 3
    assert cache.secret(tenant, key.key_id) == key.secret


def test_the_commands(redis_url: str, unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_AUTH_REDIS_URL", redis_url)
    tenant = f"acme-{unique}"
    runner = CliRunner()

    created = runner.invoke(app, ["ingress-secret", "create", tenant, "--name", "telephony"])
    assert created.exit_code == 0, created.output
    key_id, secret = created.stdout.strip().split(":")
    store = IngressSecrets(redis.Redis.from_url(redis_url))
    assert store.secret(tenant, key_id) == secret

    listed = runner.invoke(app, ["ingress-secret", "list", tenant])
    assert key_id in listed.stdout
    assert "telephony" in listed.stdout
    assert secret not in listed.stdout

    assert runner.invoke(app, ["ingress-secret", "revoke", tenant, key_id]).exit_code == 0
    assert runner.invoke(app, ["ingress-secret", "revoke", tenant, key_id]).exit_code == 1
    assert runner.invoke(app, ["ingress-secret", "create", "Not A Tenant"]).exit_code == 2
