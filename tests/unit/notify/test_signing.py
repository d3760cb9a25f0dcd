"""Standard Webhooks signing, against the specification's published test vector."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain import signing
from services.notify.domain.signing import SecretError

# The test vector of the Standard Webhooks specification (and of its reference libraries).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specification_vector() -> None:
    assert signing.signature(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_headers_carry_id_timestamp_and_signature() -> None:
    assert signing.headers(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }


def test_verify_accepts_the_vector_and_any_of_several_signatures() -> None:
    sent = {"Webhook-Id": SPEC_ID, "Webhook-Timestamp": str(SPEC_TIMESTAMP)}
    assert signing.verify(
        SPEC_SECRET, sent | {"Webhook-Signature": SPEC_SIGNATURE}, SPEC_BODY, SPEC_TIMESTAMP
    )
    rotated = f"v1,{base64.b64encode(b'x' * 32).decode()} {SPEC_SIGNATURE}"
    assert signing.verify(SPEC_SECRET, sent | {"webhook-signature": rotated}, SPEC_BODY, SPEC_TIMESTAMP + 60)


@pytest.mark.parametrize(
    ("body", "stamp", "now"),
    [
        (SPEC_BODY + b" ", SPEC_TIMESTAMP, SPEC_TIMESTAMP),  # a changed body
        (SPEC_BODY, SPEC_TIMESTAMP, SPEC_TIMESTAMP + 301),  # too old: a replay
        (SPEC_BODY, SPEC_TIMESTAMP, SPEC_TIMESTAMP - 301),  # from the future
    ],
)
def test_verify_refuses(body: bytes, stamp: int, now: int) -> None:
    sent = {"webhook-id": SPEC_ID, "webhook-timestamp": str(stamp), "webhook-signature": SPEC_SIGNATURE}
    assert not signing.verify(SPEC_SECRET, sent, body, now)


def test_new_secrets_are_valid_and_distinct() -> None:
    first, second = signing.new_secret(), signing.new_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(signing.secret_key(first)) == signing.SECRET_BYTES


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # no prefix
        "whsec_" + base64.b64encode(b"k" * 16).decode(),  # too short to be safe
        "whsec_" + base64.b64encode(b"k" * 65).decode(),  # longer than taken
        "whsec_not base64 at all!!!!!!!!!!!!!!",
    ],
)
def test_secrets_refused(secret: str) -> None:
    with pytest.raises(SecretError):
        signing.secret_key(secret)


@given(body=st.binary(max_size=2_000), stamp=st.integers(min_value=0, max_value=2**40))
def test_any_body_signed_verifies_and_a_flipped_byte_does_not(body: bytes, stamp: int) -> None:
    secret = "whsec_" + base64.b64encode(bytes(range(32))).decode()
    sent = signing.headers(secret, "msg_1", stamp, body)
    assert signing.verify(secret, sent, body, stamp)
    tampered = bytes([body[0] ^ 1]) + body[1:] if body else b"x"
    assert not signing.verify(secret, sent, tampered, stamp)
