"""API-key hashing, key format, tenant ids and the request's principal, without Redis."""

from __future__ import annotations

import threading

import pytest

from helpline.auth import (
    InvalidTenantError,
    NotAuthenticatedError,
    Principal,
    current_principal,
    current_tenant,
    generate_key,
    hash_key,
    looks_like_key,
    principal_context,
    require_principal,
    validate_tenant_id,
)


def test_hash_is_deterministic_for_one_pepper() -> None:
    key = generate_key()
    assert hash_key(key, "pepper-a") == hash_key(key, "pepper-a")
    assert hash_key(key, "pepper-a") == hash_key(key, b"pepper-a")


def test_hash_differs_across_peppers_and_keys() -> None:
    key = generate_key()
    assert hash_key(key, "pepper-a") != hash_key(key, "pepper-b")
    assert hash_key(key, "pepper-a") != hash_key(generate_key(), "pepper-a")


def test_hash_is_hex_sha256_and_hides_the_key() -> None:
    key = generate_key()
    digest = hash_key(key, "pepper")
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert key not in digest
    assert key.removeprefix("hlk_") not in digest


def test_key_format() -> None:
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert key.startswith("hlk_")
        assert len(key) == 4 + 43
        assert looks_like_key(key)


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "hlk_",
        "hlk_short",
        "HLK_" + "a" * 43,
        "hlk_" + "a" * 42,
        "hlk_" + "a" * 44,
        "hlk_" + "a" * 42 + "!",
    ],
)
def test_malformed_keys_are_recognised(candidate: str) -> None:
    assert not looks_like_key(candidate)


@pytest.mark.parametrize("tenant", ["a", "acme", "acme-corp", "acme_corp", "0tenant", "a" * 63])
def test_valid_tenant_ids(tenant: str) -> None:
    assert validate_tenant_id(tenant) == tenant


@pytest.mark.parametrize(
    "tenant",
    ["", "Acme", "-acme", "_acme", "acme corp", "acme/corp", "acme:corp", "a" * 64, "acme\n", "ácme"],
)
def test_invalid_tenant_ids_are_refused(tenant: str) -> None:
    with pytest.raises(InvalidTenantError, match="invalid tenant id"):
        validate_tenant_id(tenant)


def test_current_tenant_outside_a_request_says_why() -> None:
    with pytest.raises(NotAuthenticatedError, match="no authenticated principal"):
        current_tenant()
    with pytest.raises(NotAuthenticatedError):
        require_principal()


def test_principal_context_sets_and_restores() -> None:
    principal = Principal("acme", "k1", "crm", frozenset({"tickets:read"}))
    with principal_context(principal):
        assert current_tenant() == "acme"
        assert require_principal() is principal
        seen: list[Principal | None] = []
        # A plain thread does not inherit the context: work handed to one must carry it explicitly.
        thread = threading.Thread(target=lambda: seen.append(current_principal.get()))
        thread.start()
        thread.join()
        assert seen == [None]
    assert current_principal.get() is None


def test_principal_is_immutable() -> None:
    principal = Principal("acme", "k1", "crm")
    with pytest.raises(AttributeError):
        principal.tenant_id = "other"  # type: ignore[misc]
