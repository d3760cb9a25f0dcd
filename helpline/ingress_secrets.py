"""The tenants' ingress secrets (helpline.ingress_signing), in the auth Redis the API keys share:

    <ns>:ingress:<tenant_id>    hash: key id -> JSON {secret, name, created_at}

A tenant holds at most two, so a gateway can move to a new secret while the old one still
verifies, then the old one is revoked. Unlike an API key, a secret is stored as it is: checking an
HMAC needs the secret itself, so a keyed hash (the API keys' pepper) cannot stand in for it, and
whoever reads this Redis could take the API keys' pepper from a service's environment as well; the
auth Redis is the trust boundary for both.

Consumers read secrets through SecretCache, so checking an event costs no Redis round trip, and a
revoked secret stops verifying within its few seconds.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from helpline.auth import validate_tenant_id
from helpline.ingress_signing import SECRET_PREFIX, IngressKey

MOST_PER_TENANT = 2
# How long a consumer trusts what it read: a revocation takes effect within this.
CACHE_SECONDS = 5.0
# Tenants' keys a consumer remembers at once; forged key ids cannot grow it past this.
CACHE_ENTRIES = 10_000
_SECRET_BYTES = 32

# KEYS: the tenant's hash. ARGV: key id, the entry, the most a tenant holds. 1 when added, 0 when
# the tenant holds its most already, -1 when the key id exists (a collision of 8 random bytes).
_CREATE_LUA = """
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return -1 end
return 1
"""


class TooManySecretsError(ValueError):
    """The tenant holds its two secrets already: one is revoked before another is made."""


@dataclass(frozen=True)
class SecretInfo:
    """What listing shows of a secret: never the secret."""

    key_id: str
    name: str
    created_at: datetime


class IngressSecrets:
    def __init__(self, client: redis.Redis, namespace: str = "auth", most: int = MOST_PER_TENANT) -> None:
        self._redis = client
        self._ns = namespace
        self._most = most
        self._create = client.register_script(_CREATE_LUA)

    def _hash(self, tenant: str) -> str:
        return f"{self._ns}:ingress:{tenant}"

    def _entries(self, tenant: str) -> list[tuple[str, dict[str, str]]]:
        """The tenant's secrets by key id, in key id order."""
        return sorted((_text(k), json.loads(v)) for k, v in self._redis.hgetall(self._hash(tenant)).items())

    def create(self, tenant: str, name: str = "default") -> IngressKey:
        """A new secret for the tenant, which the caller shows once; TooManySecretsError when the
        tenant holds two already."""
        validate_tenant_id(tenant)
        while True:
            key_id = f"isk_{secrets.token_hex(8)}"
            secret = SECRET_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
            entry = json.dumps({"secret": secret, "name": name, "created_at": datetime.now(UTC).isoformat()})
            created = int(self._create(keys=[self._hash(tenant)], args=[key_id, entry, self._most]))
            if created == 1:
                return IngressKey(tenant, key_id, secret)
            if created == 0:
                raise TooManySecretsError(
                    f"tenant {tenant} holds {self._most} ingress secrets, the most it may: revoke one "
                    "first (`helpline ingress-secret revoke`)"
                )

    def named(self, tenant: str, name: str) -> IngressKey:
        """The tenant's secret of this name, created when it has none: what a long-lived
        producer restarted at will (the simulator) signs with, rather than one more each start."""
        for key_id, entry in self._entries(tenant):
            if entry["name"] == name:
                return IngressKey(tenant, key_id, entry["secret"])
        return self.create(tenant, name)

    def list(self, tenant: str) -> list[SecretInfo]:
        found = []
        for key_id, entry in self._entries(tenant):
            found.append(SecretInfo(key_id, entry["name"], datetime.fromisoformat(entry["created_at"])))
        return sorted(found, key=lambda info: info.created_at)

    def revoke(self, tenant: str, key_id: str) -> bool:
        return bool(self._redis.hdel(self._hash(tenant), key_id))

    def secret(self, tenant: str, key_id: str) -> str | None:
        raw = self._redis.hget(self._hash(tenant), key_id)
        return None if raw is None else str(json.loads(raw)["secret"])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class SecretCache:
    """IngressSecrets.secret, remembered for `seconds` (an unknown key too, so a flood of forged key
    ids costs one read each, not one a record). Shared by a service's consumer threads."""

    def __init__(
        self,
        store: IngressSecrets,
        seconds: float = CACHE_SECONDS,
        entries: int = CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._seconds = seconds
        self._entries = entries
        self._clock = clock
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], tuple[float, str | None]] = {}

    def secret(self, tenant: str, key_id: str) -> str | None:
        now = self._clock()
        with self._lock:
            held = self._known.get((tenant, key_id))
        if held is not None and now - held[0] < self._seconds:
            return held[1]
        found = self._store.secret(tenant, key_id)
        with self._lock:
            if len(self._known) >= self._entries:
                # Everything is read again within seconds anyway: dropping it all is as good as LRU.
                self._known.clear()
            self._known[(tenant, key_id)] = (now, found)
        return found
