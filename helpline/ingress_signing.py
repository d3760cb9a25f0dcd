"""The proof of tenant an event written by another system carries (a gateway on the contact ingress,
a survey tool on the feedback topic): an HMAC-SHA256 by a secret of the tenant's, in three headers.

    helpline-tenant      the tenant the event acts for
    helpline-key-id      which of the tenant's secrets signed it
    helpline-signature   v1=<lowercase hex of HMAC-SHA256(secret, signed bytes)>

The signed bytes are the lines `v1`, the topic, the tenant, the CloudEvent id and the CloudEvent
type, each ended by a newline, then the record's value exactly as written. The value holds the
message and its tenant id, so neither the body nor the tenant can be swapped under a signature; the
topic keeps an event signed for one topic off another, and the id and type keep a binary event's
headers (where they travel outside the value) from being swapped. The key is the secret's text as
printed (`hlis_...`), encoded as ASCII.

Pure: no I/O. The secrets are kept by helpline.ingress_secrets; helpline.tenant_proof checks
consumed records against them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

TENANT_HEADER = "helpline-tenant"
KEY_ID_HEADER = "helpline-key-id"
SIGNATURE_HEADER = "helpline-signature"
VERSION = "v1"
# What secret scanners and people recognise a secret by; not itself secret.
SECRET_PREFIX = "hlis_"  # noqa: S105

# Why an event is refused, as the `reason` of its dead letter and of the refusal metric.
UNSIGNED = "unsigned"
UNKNOWN_KEY = "unknown-key"
BAD_SIGNATURE = "bad-signature"
TENANT_MISMATCH = "tenant-mismatch"
REASONS = (UNSIGNED, UNKNOWN_KEY, BAD_SIGNATURE, TENANT_MISMATCH)


class UnprovenError(Exception):
    """An event that does not prove the tenant it acts for; `reason` is one of REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def signed_bytes(topic: str, tenant: str, event_id: str, event_type: str, value: bytes) -> bytes:
    """What the signature covers. A newline inside a line would let two different events sign
    alike, so it is refused (tenants, topics and event types cannot hold one anyway)."""
    lines = (VERSION, topic, tenant, event_id, event_type)
    if any("\n" in line for line in lines):
        raise UnprovenError(BAD_SIGNATURE, "a signed attribute holds a newline")
    return "".join(f"{line}\n" for line in lines).encode() + value


def signature(secret: str, topic: str, tenant: str, event_id: str, event_type: str, value: bytes) -> str:
    """The `helpline-signature` header's value."""
    digest = hmac.new(
        secret.encode("ascii"), signed_bytes(topic, tenant, event_id, event_type, value), hashlib.sha256
    )
    return f"{VERSION}={digest.hexdigest()}"


@dataclass(frozen=True)
class IngressKey:
    """One of a tenant's secrets, as a producer holds it to sign what it writes."""

    tenant: str
    key_id: str
    secret: str

    @classmethod
    def parse(cls, tenant: str, given: str) -> IngressKey:
        """The key as `helpline ingress-secret create` prints it, KEY_ID:SECRET; ValueError if not."""
        key_id, colon, secret = given.partition(":")
        if not (key_id and colon and secret):
            raise ValueError(
                "give the ingress key as KEY_ID:SECRET, as `helpline ingress-secret create` prints it"
            )
        return cls(tenant, key_id, secret)

    def headers(self, topic: str, event_id: str, event_type: str, value: bytes) -> list[tuple[str, bytes]]:
        signed = signature(self.secret, topic, self.tenant, event_id, event_type, value)
        return [
            (TENANT_HEADER, self.tenant.encode()),
            (KEY_ID_HEADER, self.key_id.encode()),
            (SIGNATURE_HEADER, signed.encode()),
        ]


@dataclass(frozen=True)
class Claim:
    """What a record's headers say about who signed it, not yet checked."""

    tenant: str
    key_id: str
    signature: str


def claim(headers: Iterable[tuple[str, bytes]]) -> Claim:
    """The record's claim; refused as unsigned when a header is missing or not text. Header names
    are case-insensitive and the last of a name counts, as for the CloudEvents headers."""
    wanted = {TENANT_HEADER: "", KEY_ID_HEADER: "", SIGNATURE_HEADER: ""}
    for name, raw in headers:
        lowered = name.lower()
        if lowered in wanted:
            try:
                wanted[lowered] = raw.decode("ascii")
            except UnicodeDecodeError:
                raise UnprovenError(UNSIGNED, f"the {lowered} header is not ASCII") from None
    missing = [name for name, text in wanted.items() if not text]
    if missing:
        raise UnprovenError(UNSIGNED, f"no {', '.join(missing)} header")
    return Claim(wanted[TENANT_HEADER], wanted[KEY_ID_HEADER], wanted[SIGNATURE_HEADER])


def check(
    found: Claim,
    secret: str | None,
    *,
    topic: str,
    body_tenant: str,
    event_id: str,
    event_type: str,
    value: bytes,
) -> None:
    """Pass when `secret` (the claimed key's, None when the tenant has no such key) signed this
    record for the tenant its body names; else raise UnprovenError saying why."""
    if secret is None:
        raise UnprovenError(UNKNOWN_KEY, f"tenant {found.tenant!r} has no ingress secret {found.key_id!r}")
    expected = signature(secret, topic, found.tenant, event_id, event_type, value)
    if not hmac.compare_digest(expected.encode(), found.signature.encode("ascii")):
        raise UnprovenError(BAD_SIGNATURE, f"the signature does not match key {found.key_id!r}")
    if body_tenant != found.tenant:
        raise UnprovenError(
            TENANT_MISMATCH, f"signed for tenant {found.tenant!r}, but the event names {body_tenant!r}"
        )
