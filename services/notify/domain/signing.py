"""Signing per the Standard Webhooks specification (standardwebhooks.com): the target gets
`webhook-id`, `webhook-timestamp` (epoch seconds) and `webhook-signature`, which is
`v1,<base64 of HMAC-SHA256 over "<id>.<timestamp>.<body>">` keyed by the secret's bytes. A secret
is `whsec_<base64 of 24 to 64 random bytes>`; several signatures may be sent space-separated (a
secret being rotated), and a receiver accepts the message if any matches."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping

from helpline.domain import DomainError

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, no secret)
SECRET_BYTES = 32
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64
_SECRET_RE = re.compile(r"^whsec_[A-Za-z0-9+/]{32,88}={0,2}$")

ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = "webhook-id", "webhook-timestamp", "webhook-signature"


class SecretError(DomainError):
    """A secret given by a client that is not a Standard Webhooks secret of a safe length."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret; SecretError unless it is 24 to 64 bytes in base64."""
    if not _SECRET_RE.fullmatch(secret):
        raise SecretError("invalid_secret", "the secret must be `whsec_` and 24 to 64 bytes in base64")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecretError("invalid_secret", "the secret's base64 does not decode") from exc
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise SecretError("invalid_secret", f"the secret is {len(key)} bytes; 24 to 64 are taken")
    return key


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret_key(secret), f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(digest.digest()).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, message_id, timestamp, body),
    }


def verify(secret: str, received: Mapping[str, str], body: bytes, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver checks: the timestamp within `tolerance_s` of `now` (against replays) and
    one of the signatures that of this body. Header names in any case."""
    lowered = {name.lower(): value for name, value in received.items()}
    message_id = lowered.get(ID_HEADER, "")
    stamp = lowered.get(TIMESTAMP_HEADER, "")
    if not message_id or not stamp.isdigit() or abs(now - int(stamp)) > tolerance_s:
        return False
    expected = signature(secret, message_id, int(stamp), body)
    return any(hmac.compare_digest(expected, sent) for sent in lowered.get(SIGNATURE_HEADER, "").split())
