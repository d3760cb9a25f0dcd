"""API keys mapped to tenants, and the principal of the request being served.

A key is shown once, when it is created, and stored only as a keyed hash. Redis layout, under a
namespace (default `auth`):

    <ns>:key:<digest>       hash: tenant_id, key_id, name, scopes (JSON list), created_at, digest,
                            role, agent_id (an agent's key), expires_at (epoch s, a key that expires)
    <ns>:keyid:<key_id>     string: the digest, so a key can be revoked by its id
    <ns>:tenant:<tenant_id> set: the tenant's key ids
    <ns>:outbox             stream: the audit events of keys created and revoked (helpline.outbox)

Create and revoke each run as one Lua script, so a half-written or half-revoked key never exists,
and each appends its audit event (helpline.audit) to the outbox in that script, naming the actor
(`current_actor`): a key is never created or revoked without its record, however long Kafka is
away. Every service that serves keys relays that outbox. A key that expires is refused from its
`expires_at`, and its hash and id go with it from Redis; its expiry is no event, the event of its
creation says when it comes. A key made before roles existed has none and acts as `admin`, as it
did (helpline.roles).
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import math
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from helpline.audit import SYSTEM, Action, Actor, Kind, audit_record, configuration_changed
from helpline.limits import ID_PATTERN, TENANT_PATTERN
from helpline.logging import get_logger
from helpline.outbox import OutboxScript
from helpline.quotas import QuotaReachedError
from helpline.roles import Role

log = get_logger(__name__)

KEY_PREFIX = "hlk_"
# The CloudEvents source of the keys' audit events.
SOURCE = "/helpline/auth"
# 32 random bytes: 256 bits, far beyond any guessing; urlsafe base64 of them is 43 characters.
_KEY_BYTES = 32
_KEY_RE = re.compile(r"^hlk_[A-Za-z0-9_-]{43}$")
_TENANT_RE = re.compile(TENANT_PATTERN)
# Scopes travel in logs and metadata; keep them to a plain, bounded alphabet.
_SCOPE_RE = re.compile(r"^[a-z0-9][a-z0-9:._-]{0,63}$")
_CREATE_ATTEMPTS = 5
# An agent's key names an agent by the id the APIs take (helpline.limits).
_AGENT_RE = re.compile(ID_PATTERN)

# KEYS: key hash, key id, tenant set. ARGV: digest, key id, tenant, name, scopes, created_at, role,
# agent id ('' for none), expires_at (epoch s, '' for never), the most keys a tenant may hold, the
# prefix of key ids. Refuses to overwrite (a digest or key id collision is astronomically unlikely,
# but silently re-pointing an existing key at another tenant must be impossible, not just
# unlikely): 0. Refuses a key past the tenant's most, once the ids of keys that expired are gone
# from its set: -1. Emits the key's audit event (an OutboxScript) only when it creates the key.
_CREATE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
local most = tonumber(ARGV[10])
if redis.call('SCARD', KEYS[3]) >= most then
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[3])) do
    if redis.call('EXISTS', ARGV[11] .. id) == 0 then redis.call('SREM', KEYS[3], id) end
  end
  if redis.call('SCARD', KEYS[3]) >= most then return -1 end
end
redis.call('HSET', KEYS[1], 'tenant_id', ARGV[3], 'key_id', ARGV[2], 'name', ARGV[4],
           'scopes', ARGV[5], 'created_at', ARGV[6], 'digest', ARGV[1], 'role', ARGV[7],
           'agent_id', ARGV[8], 'expires_at', ARGV[9])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
if ARGV[9] ~= '' then
  redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(ARGV[9])))
  redis.call('EXPIREAT', KEYS[2], math.ceil(tonumber(ARGV[9])))
end
emit_all()
return 1
"""

# KEYS: key id, key hash, tenant set. ARGV: digest, key id. The caller read the digest and tenant
# first (so every key is declared); the script checks the key id still points at that digest, so a
# concurrent revoke makes this one a no-op instead of deleting something else, and emits no event.
_REVOKE_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[2])
emit_all()
return 1
"""


# KEYS: a key's bucket. ARGV: tokens a second, the most it holds. Takes a token at Redis' own clock
# (every replica then counts on one); returns 0 when one was taken, else the milliseconds until one
# will be there. A bucket left alone for as long as it takes to fill again goes, as a full one.
_TAKE_LUA = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or burst
local at = tonumber(bucket[2]) or ms
tokens = math.min(burst, tokens + math.max(ms - at, 0) * rate / 1000)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', ms)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
"""


@dataclass(frozen=True)
class KeyRate:
    """How fast one key may call: `per_second` on average, `burst` at once (a token bucket)."""

    per_second: float
    burst: int


class RateLimitedError(RuntimeError):
    """A known key called faster than its rate."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"this key called faster than its rate allows; retry after {retry_after_s:g} s")
        self.retry_after_s = retry_after_s


class InvalidTenantError(ValueError):
    """A tenant id that does not match `^[a-z0-9][a-z0-9_-]{0,62}$`."""


class NotAuthenticatedError(RuntimeError):
    """Code that needs the caller's tenant ran outside an authenticated request."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant a key acts for, which key, its role, and for an agent's key the
    agent it acts for."""

    tenant_id: str
    key_id: str
    name: str
    scopes: frozenset[str] = frozenset()
    role: Role = Role.ADMIN
    agent_id: str | None = None
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def actor(self) -> Actor:
        return Actor(self.key_id, self.role.value, self.agent_id or "", self.name)


current_principal: ContextVar[Principal | None] = ContextVar("helpline_current_principal", default=None)
# Who acts outside any call (the operator at the command line), for the audit trail.
_acting: ContextVar[Actor | None] = ContextVar("helpline_acting_as", default=None)
# Whether the key of the call being served still stands (not revoked, not expired): set for the
# calls that outlive their start (a gRPC stream), which ask it as they go.
current_key_check: ContextVar[Callable[[], bool] | None] = ContextVar(
    "helpline_current_key_check", default=None
)


def key_still_valid() -> bool:
    """Whether the key of the call being served still stands; True where nothing checks it."""
    check = current_key_check.get()
    return check is None or check()


def require_principal() -> Principal:
    principal = current_principal.get()
    if principal is None:
        raise NotAuthenticatedError(
            "no authenticated principal in this context: the call did not pass through the auth "
            "interceptor (or ran in a thread that did not inherit the request's context)"
        )
    return principal


def current_tenant() -> str:
    """The tenant of the request being served; raises NotAuthenticatedError outside one."""
    return require_principal().tenant_id


def current_actor() -> Actor:
    """Who a change is recorded as made by: the key of the call being served; outside a call, the
    actor `acting_as` names; else the system (set-up code, tests driving a domain directly)."""
    principal = current_principal.get()
    if principal is not None:
        return principal.actor()
    return _acting.get() or SYSTEM


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    """Record the changes made in the block, outside any call, as `actor`'s."""
    token = _acting.set(actor)
    try:
        yield actor
    finally:
        _acting.reset(token)


def operator() -> Actor:
    """The person at the command line, who acts with the stores' own rights: an admin with no key."""
    return Actor(key_id="", role=Role.ADMIN.value, name=f"cli:{getpass.getuser()}@{socket.gethostname()}")


@contextmanager
def principal_context(principal: Principal) -> Iterator[Principal]:
    """Act as `principal` for the duration of the block (handlers, background jobs, tests)."""
    token = current_principal.set(principal)
    try:
        yield principal
    finally:
        current_principal.reset(token)


def validate_tenant_id(tenant_id: str) -> str:
    if not isinstance(tenant_id, str) or not _TENANT_RE.fullmatch(tenant_id):
        raise InvalidTenantError(
            f"invalid tenant id {tenant_id!r}: use 1-63 characters of a-z, 0-9, '_' and '-', "
            "starting with a letter or digit"
        )
    return tenant_id


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)


def looks_like_key(candidate: str) -> bool:
    """The format check only; says nothing about whether the key exists."""
    return bool(_KEY_RE.fullmatch(candidate))


def hash_key(plaintext_key: str, pepper: str | bytes) -> str:
    """HMAC-SHA256 of the key under the pepper, hex encoded.

    A fast keyed hash, not bcrypt or argon2, on purpose: slow hashes exist to make guessing
    low-entropy passwords expensive, but a key holds 256 random bits, so no hash speed makes it
    guessable and the slowness would buy nothing. It would cost tens of milliseconds of CPU on every
    authenticated request (and hand an attacker a cheap way to burn it), and salted slow hashes
    cannot be looked up, so every request would need a key-id prefix plus a verification. The
    pepper lives outside Redis, so a copy of the database alone cannot even test a candidate key.
    Changing the pepper invalidates every key.
    """
    secret = pepper.encode() if isinstance(pepper, str) else pepper
    return hmac.new(secret, plaintext_key.encode(), hashlib.sha256).hexdigest()


def _text(value: bytes | str) -> str:
    # Works whether or not the client was built with decode_responses.
    return value.decode() if isinstance(value, bytes) else value


class ApiKeyStore:
    def __init__(
        self,
        client: redis.Redis,
        *,
        pepper: str | bytes,
        namespace: str = "auth",
        rate: KeyRate | None = None,
        max_per_tenant: int = 1000,
    ) -> None:
        """`rate` bounds how fast each key may call (RateLimitedError past it); None leaves keys
        unbounded, for tools and tests. A tenant holds at most `max_per_tenant` keys
        (helpline.quotas)."""
        self._client = client
        self._pepper = pepper
        self._ns = namespace
        self._rate = rate
        self._max_per_tenant = max_per_tenant
        self.outbox_stream = f"{namespace}:outbox"
        self._create = OutboxScript(client, self.outbox_stream, _CREATE_LUA)
        self._revoke = OutboxScript(client, self.outbox_stream, _REVOKE_LUA)
        self._take = client.register_script(_TAKE_LUA)

    def _key(self, digest: str) -> str:
        return f"{self._ns}:key:{digest}"

    def _keyid(self, key_id: str) -> str:
        return f"{self._ns}:keyid:{key_id}"

    def _tenant(self, tenant_id: str) -> str:
        return f"{self._ns}:tenant:{tenant_id}"

    def create(
        self,
        tenant_id: str,
        name: str,
        scopes: Iterable[str] = (),
        *,
        role: Role = Role.ADMIN,
        agent_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[str, str]:
        """Create a key of `role` for the tenant (an agent's key for `agent_id`, which only it
        takes), expiring at `expires_at` if given. Returns (key_id, plaintext key); the key is not
        stored."""
        validate_tenant_id(tenant_id)
        scope_list = sorted(set(scopes))
        for scope in scope_list:
            if not _SCOPE_RE.fullmatch(scope):
                raise ValueError(f"invalid scope {scope!r}: use a-z, 0-9 and ':._-', at most 64 characters")
        if (role is Role.AGENT) != (agent_id is not None):
            raise ValueError("an agent's key, and only one, names the agent it acts for")
        if agent_id is not None and not _AGENT_RE.fullmatch(agent_id):
            raise ValueError(f"invalid agent id {agent_id!r}: use 1-128 of A-Z, a-z, 0-9 and '._:@-'")
        if expires_at is not None and expires_at <= datetime.now(UTC):
            raise ValueError(f"the key would expire at {expires_at.isoformat()}, which has passed")
        expires = "" if expires_at is None else f"{expires_at.timestamp():.3f}"
        actor = current_actor()
        for _ in range(_CREATE_ATTEMPTS):
            key_id = secrets.token_hex(8)
            plaintext = generate_key()
            digest = hash_key(plaintext, self._pepper)
            change = configuration_changed(
                tenant_id, Kind.API_KEY, key_id, Action.CREATE, (0, 1), datetime.now(UTC), actor, expires_at
            )
            created = self._create(
                keys=[self._key(digest), self._keyid(key_id), self._tenant(tenant_id)],
                args=[
                    digest,
                    key_id,
                    tenant_id,
                    name,
                    json.dumps(scope_list),
                    f"{time.time():.3f}",
                    role.value,
                    agent_id or "",
                    expires,
                    self._max_per_tenant,
                    self._keyid(""),
                ],
                records=[audit_record(change, SOURCE)],
            )
            if int(created) == -1:
                raise QuotaReachedError("API keys", self._max_per_tenant, "HELPLINE_TENANT_MAX_API_KEYS")
            if int(created) == 1:
                log.info("api key created", tenant=tenant_id, key_id=key_id, key_name=name, role=role.value)
                return key_id, plaintext
        raise RuntimeError(f"could not allocate a unique API key after {_CREATE_ATTEMPTS} attempts")

    def resolve(self, plaintext_key: str) -> Principal | None:
        """The principal a key acts for, or None when it is malformed, unknown or revoked."""
        if not looks_like_key(plaintext_key):
            return None
        digest = hash_key(plaintext_key, self._pepper)
        if self._rate is None:
            fields = self._client.hgetall(self._key(digest))
            wait_ms = 0
        else:
            # One round trip: the bucket is the digest's, so it is taken from before the key is
            # known (an unknown key's bucket costs a few bytes for a few seconds).
            pipe = self._client.pipeline(transaction=False)
            pipe.hgetall(self._key(digest))
            self._take(
                keys=[f"{self._ns}:rate:{digest}"],
                args=[self._rate.per_second, self._rate.burst],
                client=pipe,
            )
            fields, wait_ms = pipe.execute()
        if not fields:
            return None
        record = {_text(k): _text(v) for k, v in fields.items()}
        # The lookup by digest already matched; this repeats the match in constant time so no code
        # path ever compares key material with an early-exit string comparison.
        if not hmac.compare_digest(record.get("digest", "").encode(), digest.encode()):
            return None
        principal = _principal(record)
        # Redis drops the key at its expiry to the second; this refuses it from the instant.
        if principal.expired(datetime.now(UTC)):
            return None
        if wait_ms:
            raise RateLimitedError(max(1, math.ceil(int(wait_ms) / 1000)))
        return principal

    def still_valid(self, principal: Principal) -> bool:
        """Whether the key `principal` was resolved from still stands: not expired, not revoked.
        While the store cannot be read, it does (an outage is no revocation)."""
        if principal.expired(datetime.now(UTC)):
            return False
        try:
            return bool(self._client.exists(self._keyid(principal.key_id)))
        except redis.RedisError as exc:
            log.warning("api key store unavailable; the key is taken to stand", error=str(exc))
            return True

    def revoke(self, key_id: str) -> bool:
        """Revoke at once: the key stops resolving. False if there was no such key."""
        raw_digest = self._client.get(self._keyid(key_id))
        if raw_digest is None:
            return False
        digest = _text(raw_digest)
        raw_tenant = self._client.hget(self._key(digest), "tenant_id")
        # A missing tenant means the hash is already gone; still remove the id mapping.
        tenant = _text(raw_tenant) if raw_tenant is not None else ""
        change = configuration_changed(
            tenant, Kind.API_KEY, key_id, Action.REVOKE, (1, 0), datetime.now(UTC), current_actor()
        )
        revoked = self._revoke(
            keys=[self._keyid(key_id), self._key(digest), self._tenant(tenant)],
            args=[digest, key_id],
            records=[audit_record(change, SOURCE)],
        )
        if int(revoked) == 1:
            log.info("api key revoked", tenant=tenant, key_id=key_id)
            return True
        return False

    def list(self, tenant_id: str) -> list[Principal]:
        """The tenant's keys (never the keys themselves), ordered by name then key id."""
        validate_tenant_id(tenant_id)
        key_ids = sorted(_text(k) for k in self._client.smembers(self._tenant(tenant_id)))
        if not key_ids:
            return []
        pipe = self._client.pipeline(transaction=False)
        for key_id in key_ids:
            pipe.get(self._keyid(key_id))
        digests = pipe.execute()
        pipe = self._client.pipeline(transaction=False)
        for digest in digests:
            if digest is not None:
                pipe.hgetall(self._key(_text(digest)))
        records = pipe.execute()
        principals = [
            _principal({_text(k): _text(v) for k, v in fields.items()}) for fields in records if fields
        ]
        return sorted(principals, key=lambda p: (p.name, p.key_id))


def _principal(record: dict[str, str]) -> Principal:
    expires = record.get("expires_at", "")
    return Principal(
        tenant_id=record["tenant_id"],
        key_id=record["key_id"],
        name=record.get("name", ""),
        scopes=frozenset(json.loads(record.get("scopes", "[]"))),
        # A key made before roles existed could do everything, and still can: recreate it with a role.
        role=Role(record.get("role") or Role.ADMIN),
        agent_id=record.get("agent_id") or None,
        expires_at=datetime.fromtimestamp(float(expires), UTC) if expires else None,
    )
