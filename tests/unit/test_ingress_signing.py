"""The tenant proof of events other systems write (helpline.ingress_signing): what is signed, and
that nothing a producer without the tenant's secret can change passes."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.local_stack import REPO_ROOT
from helpline.ingress_signing import (
    BAD_SIGNATURE,
    TENANT_MISMATCH,
    UNKNOWN_KEY,
    UNSIGNED,
    Claim,
    IngressKey,
    UnprovenError,
    check,
    claim,
    signature,
    signed_bytes,
)

TOPIC = "helpline.contacts.ingress"
KEY = IngressKey("acme", "isk_0123456789abcdef", "hlis_secret")

texts = st.text(st.characters(blacklist_characters="\n", codec="utf-8"), max_size=40)
tenants = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,20}\Z")


def _verify(headers: list[tuple[str, bytes]], secret: str | None, body_tenant: str, value: bytes) -> None:
    check(
        claim(headers),
        secret,
        topic=TOPIC,
        body_tenant=body_tenant,
        event_id="e1",
        event_type="helpline.contact.received.v1",
        value=value,
    )


def _headers(key: IngressKey = KEY, value: bytes = b"body", event_id: str = "e1") -> list[tuple[str, bytes]]:
    return key.headers(TOPIC, event_id, "helpline.contact.received.v1", value)


def test_the_signature_is_the_documented_hmac() -> None:
    """docs/router.md shows a gateway vendor these lines; they must keep giving the same header."""
    signed = b"v1\nhelpline.contacts.ingress\nacme\ne1\nhelpline.contact.received.v1\nbody"
    expected = "v1=" + hmac.new(b"hlis_secret", signed, hashlib.sha256).hexdigest()
    assert signed_bytes(TOPIC, "acme", "e1", "helpline.contact.received.v1", b"body") == signed
    assert dict(_headers())["helpline-signature"] == expected.encode()
    assert dict(_headers())["helpline-tenant"] == b"acme"
    assert dict(_headers())["helpline-key-id"] == KEY.key_id.encode()


def test_the_documented_python_signs_as_helpline_checks() -> None:
    """The function docs/router.md gives gateway vendors, run as written."""
    guide = (REPO_ROOT / "docs" / "router.md").read_text()
    (code,) = [
        block for block in re.findall(r"```python\n(.*?)```", guide, re.DOTALL) if "helpline_headers" in block
    ]
    scope: dict[str, Any] = {}
    exec(code, scope)  # noqa: S102
    value = b"\x0a\x04acme\x12\x02c1"
    documented = scope["helpline_headers"](
        KEY.key_id, KEY.secret, TOPIC, "acme", "e1", "helpline.contact.received.v1", value
    )
    assert documented == _headers(value=value)


@given(tenant=tenants, event_id=texts, value=st.binary(max_size=200))
def test_a_signed_event_passes(tenant: str, event_id: str, value: bytes) -> None:
    key = IngressKey(tenant, "isk_1", "hlis_s")
    headers = key.headers(TOPIC, event_id, "t", value)
    check(
        claim(headers),
        "hlis_s",
        topic=TOPIC,
        body_tenant=tenant,
        event_id=event_id,
        event_type="t",
        value=value,
    )


@given(value=st.binary(max_size=100), other=st.binary(max_size=100))
def test_another_body_under_the_signature_is_refused(value: bytes, other: bytes) -> None:
    if value == other:
        return
    with pytest.raises(UnprovenError) as refused:
        _verify(_headers(value=value), KEY.secret, "acme", other)
    assert refused.value.reason == BAD_SIGNATURE


@pytest.mark.parametrize(
    ("field", "changed"),
    [("topic", "helpline.feedback"), ("event_id", "e2"), ("event_type", "helpline.contact.abandoned.v1")],
)
def test_every_signed_attribute_is_bound(field: str, changed: str) -> None:
    attributes = {"topic": TOPIC, "event_id": "e1", "event_type": "helpline.contact.received.v1"} | {
        field: changed
    }
    with pytest.raises(UnprovenError, match=BAD_SIGNATURE):
        check(claim(_headers()), KEY.secret, body_tenant="acme", value=b"body", **attributes)


def test_a_wrong_secret_is_refused() -> None:
    with pytest.raises(UnprovenError) as refused:
        _verify(_headers(), "hlis_other", "acme", b"body")
    assert refused.value.reason == BAD_SIGNATURE


def test_a_claimed_tenant_swapped_in_the_headers_is_refused() -> None:
    """Another tenant's name in front of acme's signature: checked with that tenant's secret, or
    with acme's, it does not match."""
    forged = [(n, b"globex" if n == "helpline-tenant" else v) for n, v in _headers()]
    with pytest.raises(UnprovenError, match=BAD_SIGNATURE):
        _verify(forged, KEY.secret, "globex", b"body")


def test_an_event_naming_another_tenant_than_it_was_signed_for_is_refused() -> None:
    """acme's gateway signs, properly, an event whose message says it is globex's."""
    with pytest.raises(UnprovenError) as refused:
        _verify(_headers(), KEY.secret, "globex", b"body")
    assert refused.value.reason == TENANT_MISMATCH


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(UnprovenError) as refused:
        _verify(_headers(), None, "acme", b"body")
    assert refused.value.reason == UNKNOWN_KEY


@pytest.mark.parametrize("dropped", ["helpline-tenant", "helpline-key-id", "helpline-signature"])
def test_a_missing_header_is_unsigned(dropped: str) -> None:
    with pytest.raises(UnprovenError) as refused:
        claim([(n, v) for n, v in _headers() if n != dropped])
    assert refused.value.reason == UNSIGNED
    assert dropped in str(refused.value)


def test_header_names_are_case_insensitive_and_the_last_counts() -> None:
    headers = [("Helpline-Tenant", b"globex"), *[(n.upper(), v) for n, v in _headers()]]
    assert claim(headers) == Claim("acme", KEY.key_id, dict(_headers())["helpline-signature"].decode())


def test_a_header_that_is_not_text_is_unsigned() -> None:
    with pytest.raises(UnprovenError, match=UNSIGNED):
        claim([*_headers(), ("helpline-signature", b"\xff")])


def test_a_newline_in_a_signed_attribute_is_refused() -> None:
    """Else `id "a\\nb", type "c"` and `id "a", type "b\\nc"` would sign alike."""
    with pytest.raises(UnprovenError, match=BAD_SIGNATURE):
        signature("s", TOPIC, "acme", "a\nb", "c", b"")
