"""The notify service's state in Redis: subscriptions, the deliveries waiting in their lanes, the
delivery log, the due lanes shared by every replica, and the outbox of `helpline.webhooks` and the
audit trail.

Keys of a tenant carry it as a hash tag (`notify:{acme}:...`), so one script stays in one cluster
slot; the due set and the backlog counter are shared (a cluster deployment gives them a slot of
their own):

    notify:{t}:subs                 set: the tenant's subscription ids (its quota is this set's size)
    notify:{t}:sub:<s>              hash: d (the JSON), v (version), enabled (1/0), why (the service's
                                    reason for disabling it), failing (epoch ms of the first failure
                                    since the last success), error (the last one), pending (count)
    notify:{t}:lane:<s>:<n>         list: the ids of lane n's deliveries not yet finished, in order
    notify:{t}:d:<id>               hash: d (the delivery's JSON), a (attempts), s (p: waiting, f:
                                    finished, r: refused for a full backlog and not yet announced),
                                    body (the CloudEvent, kept for a redelivery)
    notify:{t}:log:<s>              sorted set: the subscription's recent delivery ids by creation
    notify:due                      sorted set: lanes with a delivery to attempt, `t␟s␟n` by due ms
    notify:backlog                  counter: deliveries not yet finished, every tenant's

A lane is in the due set exactly while it has a delivery and its subscription is enabled; its score
is when its head is next attempted. A replica claims a due lane by pushing its score a lease ahead,
as the SLA timers are claimed, so no other replica attempts it meanwhile; one that dies holding it
leaves the lane to come due again when the lease runs out, and the attempt is made again.

A finished delivery (delivered or dead) expires after the retention, and so does a log; the log
keeps the newest `log_max` ids, and a finished delivery trimmed from it goes with it. Every change
that finishes, enqueues or disables is one script, with its event in the outbox when it has one.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

import redis

from helpline.failures import TransientError
from helpline.outbox import OutboxScript
from helpline.records import OutgoingRecord
from services.notify.domain.delivery import Delivery, Status
from services.notify.domain.subscription import Subscription

OUTBOX_STREAM = "notify:outbox"
DUE = "notify:due"
BACKLOG = "notify:backlog"
SEP = "\x1f"
STALE, QUOTA_REACHED, VERSION_CHANGED = -1, -2, -3

# KEYS: due, backlog, then for each delivery: its subscription's hash, its record, its lane, its
# subscription's log. ARGV: now ms, retention ms, log max, max pending, n; then for each: delivery
# id, JSON, body, lane member, due ms. A subscription that is gone or disabled takes nothing; a
# delivery already there (the event read again) is left as it is. One whose subscription's backlog
# is full is kept refused (`s` r), out of any lane, until announce_refused finishes it with its
# event: that event is built only when needed, after the script, and a refusal the process did not
# live to announce is found again when the event is read again. Returns how many deliveries were
# enqueued, then the positions (from 1) of those refused and not yet announced.
_ENQUEUE = """
local now, retention, log_max = ARGV[1], ARGV[2], tonumber(ARGV[3])
local most, n = tonumber(ARGV[4]), tonumber(ARGV[5])
local added, refused = 0, {}
for i = 1, n do
  local k = 4 * (i - 1)
  local sub, delivery, lane, log = KEYS[3 + k], KEYS[4 + k], KEYS[5 + k], KEYS[6 + k]
  local at = 5 + 5 * (i - 1)
  if redis.call('EXISTS', delivery) == 1 then
    if redis.call('HGET', delivery, 's') == 'r' then refused[#refused + 1] = i end
  elseif redis.call('HGET', sub, 'enabled') == '1' then
    if tonumber(redis.call('HGET', sub, 'pending') or '0') >= most then
      redis.call('HSET', delivery, 'd', ARGV[at + 2], 'a', 0, 's', 'r', 'body', ARGV[at + 3])
      redis.call('PEXPIRE', delivery, retention)
      refused[#refused + 1] = i
    else
      redis.call('HSET', delivery, 'd', ARGV[at + 2], 'a', 0, 's', 'p', 'body', ARGV[at + 3])
      redis.call('RPUSH', lane, ARGV[at + 1])
      if redis.call('LLEN', lane) == 1 then redis.call('ZADD', KEYS[1], ARGV[at + 5], ARGV[at + 4]) end
      redis.call('HINCRBY', sub, 'pending', 1)
      redis.call('INCR', KEYS[2])
      added = added + 1
    end
    redis.call('ZADD', log, now, ARGV[at + 1])
    local extra = redis.call('ZCARD', log) - log_max
    if extra > 0 then
      local prefix = string.sub(delivery, 1, #delivery - #ARGV[at + 1])
      for _, old in ipairs(redis.call('ZRANGE', log, 0, extra - 1)) do
        if redis.call('HGET', prefix .. old, 's') == 'f' then redis.call('DEL', prefix .. old) end
      end
      redis.call('ZREMRANGEBYRANK', log, 0, extra - 1)
    end
    redis.call('PEXPIRE', log, retention)
  end
end
return {added, refused}
"""

# KEYS: the refused deliveries. ARGV: each one's JSON as dead. Finishes each delivery still refused
# with its event (once, whichever replica announces it); how many it finished.
_ANNOUNCE = """
local finished = 0
for i = 1, #KEYS do
  if redis.call('HGET', KEYS[i], 's') == 'r' then
    redis.call('HSET', KEYS[i], 'd', ARGV[i], 's', 'f')
    emit(i)
    finished = finished + 1
  end
end
return finished
"""

# Lanes are claimed by one function, in the claim script and at the end of the outcome script (a
# worker's next lane comes back on the round trip that records its last attempt): it takes the
# earliest due lane and pushes its score a lease ahead (no other replica attempts it meanwhile; a
# replica that dies holding it leaves it to come due again when the lease runs out), and returns
# the member, the subscription's hash, and the lane's head with its record and body: all an attempt
# needs. On the way it drops from the due set what it cannot attempt (a malformed member, a lane
# whose subscription is gone or disabled, which enabling puts back, an empty lane, which its next
# delivery puts back) and from the lane a head whose record is gone (removed by hand), so the rest
# can go on; after 16 of those it gives up until the next poll. {} when nothing is due.
# The lane's keys are built here from the member, as Keys builds them: a key a script reaches
# without naming it in KEYS rules out Redis Cluster, which Helpline does not support (its services
# share one Redis by database numbers).
_CLAIM_HEAD = """
local function claim_head(due, now, lease)
  for _ = 1, 16 do
    local member = redis.call('ZRANGE', due, '-inf', now, 'BYSCORE', 'LIMIT', 0, 1)[1]
    if not member then return {} end
    local tenant, sub_id, n = string.match(member, '^([^\\31]+)\\31([^\\31]+)\\31(%d+)$')
    if not tenant then
      redis.call('ZREM', due, member)
    else
      local base = 'notify:{' .. tenant .. '}:'
      local sub, lane = base .. 'sub:' .. sub_id, base .. 'lane:' .. sub_id .. ':' .. n
      local head = redis.call('LINDEX', lane, 0)
      if not head or redis.call('HGET', sub, 'enabled') ~= '1' then
        redis.call('ZREM', due, member)
      else
        local found = redis.call('HMGET', base .. 'd:' .. head, 'd', 'body')
        if found[1] and found[2] then
          redis.call('ZADD', due, 'XX', now + lease, member)
          return {member, redis.call('HGETALL', sub), found[1], found[2]}
        end
        redis.call('LREM', lane, 1, head)
      end
    end
  end
  return {}
end
"""

# KEYS: due. ARGV: now ms, lease ms.
_CLAIM = _CLAIM_HEAD + "return claim_head(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))"

# KEYS: due, backlog, the subscription, the delivery, the lane, the log. ARGV: delivery id,
# attempts read, JSON, attempts now, outcome (delivered | retry | dead), member, next due ms,
# retention ms, now ms, error, the lease ms of the next lane claimed (0: claim none). Applies only
# if the delivery is still the lane's head at the attempts read (a replica whose lease ran out may
# have attempted it meanwhile): -1 otherwise. A finished delivery leaves the lane, whose next is due
# at once. A failure keeps the first failure's instant on the subscription and returns it; a
# success clears it (0). Returns that, and the next lane claimed ({} when none).
_OUTCOME = (
    _CLAIM_HEAD
    + """
local function record()
  if redis.call('LINDEX', KEYS[5], 0) ~= ARGV[1] or redis.call('HGET', KEYS[4], 'a') ~= ARGV[2] then
    return -1
  end
  redis.call('HSET', KEYS[4], 'd', ARGV[3], 'a', ARGV[4])
  if ARGV[5] == 'retry' then
    redis.call('ZADD', KEYS[1], ARGV[7], ARGV[6])
  else
    redis.call('HSET', KEYS[4], 's', 'f')
    redis.call('PEXPIRE', KEYS[4], ARGV[8])
    redis.call('LPOP', KEYS[5])
    redis.call('DECR', KEYS[2])
    if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('HINCRBY', KEYS[3], 'pending', -1) end
    if redis.call('LLEN', KEYS[5]) > 0 then
      redis.call('ZADD', KEYS[1], ARGV[9], ARGV[6])
    else
      redis.call('ZREM', KEYS[1], ARGV[6])
    end
    if ARGV[5] == 'dead' then emit_all() end
  end
  if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
  if ARGV[5] == 'delivered' then
    redis.call('HDEL', KEYS[3], 'failing', 'error')
    return 0
  end
  redis.call('HSETNX', KEYS[3], 'failing', ARGV[9])
  redis.call('HSET', KEYS[3], 'error', ARGV[10])
  return tonumber(redis.call('HGET', KEYS[3], 'failing'))
end
local result = record()
local lease = tonumber(ARGV[11])
if lease == 0 then return {result, {}} end
return {result, claim_head(KEYS[1], tonumber(ARGV[9]), lease)}
"""
)

# KEYS: due, the subscription, the lane. ARGV: member. A lane whose subscription is gone or
# disabled leaves the due set (enabling the subscription puts it back), and so does an empty one
# (its next delivery puts it back); 1 when it left.
_PARK = """
if redis.call('HGET', KEYS[2], 'enabled') == '1' and redis.call('LLEN', KEYS[3]) > 0 then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""

# KEYS: the subscription. ARGV: the first failure's instant read, the reason. Disables it if it is
# still enabled and failing since then, and emits the event; 1 when it did.
_DISABLE = """
if redis.call('HGET', KEYS[1], 'enabled') ~= '1' or redis.call('HGET', KEYS[1], 'failing') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'enabled', '0', 'why', ARGV[2])
emit_all()
return 1
"""

# KEYS: the tenant's set, the subscription, due, then its lanes. ARGV: id, version read (0: new),
# JSON, enabled (1/0), quota, now ms, then the lanes' members. Writes the subscription if still at
# that version (-3 otherwise) and within the quota when new (-2 otherwise), with its audit event.
# Enabling it puts its waiting lanes back in the due set, due now, and clears its failures.
_SAVE = """
local version = tonumber(redis.call('HGET', KEYS[2], 'v') or '0')
if version ~= tonumber(ARGV[2]) then return -3 end
if version == 0 and redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[5]) then return -2 end
local was = redis.call('HGET', KEYS[2], 'enabled')
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'd', ARGV[3], 'v', version + 1, 'enabled', ARGV[4])
if ARGV[4] == '1' then
  redis.call('HDEL', KEYS[2], 'why')
  if was ~= '1' then
    redis.call('HDEL', KEYS[2], 'failing', 'error')
    for i = 4, #KEYS do
      if redis.call('LLEN', KEYS[i]) > 0 then redis.call('ZADD', KEYS[3], ARGV[6], ARGV[7 + i - 4]) end
    end
  end
end
emit_all()
return version + 1
"""

# KEYS: the tenant's set, the subscription, due, backlog, its log, then its lanes. ARGV: id,
# version read, then the lanes' members, then the prefix of delivery keys. Removes the subscription
# with its waiting deliveries (no one is left to receive them), its log and its audit event; -3 if
# it changed meanwhile. The log's finished deliveries expire by themselves.
_DELETE = """
local version = tonumber(redis.call('HGET', KEYS[2], 'v') or '0')
if version == 0 or version ~= tonumber(ARGV[2]) then return -3 end
for i = 6, #KEYS do
  local ids = redis.call('LRANGE', KEYS[i], 0, -1)
  for _, id in ipairs(ids) do redis.call('DEL', ARGV[#ARGV] .. id) end
  if #ids > 0 then redis.call('DECRBY', KEYS[4], #ids) end
  redis.call('DEL', KEYS[i])
  redis.call('ZREM', KEYS[3], ARGV[3 + i - 6])
end
redis.call('DEL', KEYS[2], KEYS[5])
redis.call('SREM', KEYS[1], ARGV[1])
emit_all()
return 1
"""

# KEYS: due, backlog, the subscription, the delivery, the lane, the log. ARGV: id, JSON, lane
# member, now ms. A finished delivery starts a new series of attempts at the end of its lane: -1
# when it or its subscription is gone, -2 while it is still waiting.
_REDELIVER = """
if redis.call('EXISTS', KEYS[3]) == 0 or redis.call('HEXISTS', KEYS[4], 'body') == 0 then return -1 end
if redis.call('HGET', KEYS[4], 's') ~= 'f' then return -2 end
redis.call('HSET', KEYS[4], 'd', ARGV[2], 'a', 0, 's', 'p')
redis.call('PERSIST', KEYS[4])
redis.call('RPUSH', KEYS[5], ARGV[1])
if redis.call('LLEN', KEYS[5]) == 1 and redis.call('HGET', KEYS[3], 'enabled') == '1' then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
end
redis.call('HINCRBY', KEYS[3], 'pending', 1)
redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[1])
return 1
"""


class ConflictError(TransientError):
    """The subscription changed between its read and its write: read it again."""


class QuotaFullError(Exception):
    """The tenant keeps as many subscriptions as its quota lets it."""


class Keys:
    def __init__(self, tenant_id: str) -> None:
        self.base = f"notify:{{{tenant_id}}}"

    @property
    def subs(self) -> str:
        return f"{self.base}:subs"

    def sub(self, subscription_id: str) -> str:
        return f"{self.base}:sub:{subscription_id}"

    def lane(self, subscription_id: str, lane: int) -> str:
        return f"{self.base}:lane:{subscription_id}:{lane}"

    @property
    def delivery_prefix(self) -> str:
        return f"{self.base}:d:"

    def delivery(self, delivery_id: str) -> str:
        return self.delivery_prefix + delivery_id

    def log(self, subscription_id: str) -> str:
        return f"{self.base}:log:{subscription_id}"

    def of_delivery(self, delivery: Delivery) -> list[str]:
        """The keys a script changing one delivery names, in this order: its subscription, its
        record, its lane, its subscription's log."""
        sub_id = delivery.subscription_id
        return [
            self.sub(sub_id),
            self.delivery(delivery.id),
            self.lane(sub_id, delivery.lane),
            self.log(sub_id),
        ]


@dataclass(frozen=True)
class LaneKey:
    tenant_id: str
    subscription_id: str
    lane: int

    @property
    def member(self) -> str:
        return SEP.join((self.tenant_id, self.subscription_id, str(self.lane)))

    @classmethod
    def parse(cls, member: bytes | str) -> LaneKey:
        text = member.decode() if isinstance(member, bytes) else member
        tenant_id, subscription_id, lane = text.split(SEP)
        return cls(tenant_id, subscription_id, int(lane))


@dataclass(frozen=True)
class StoredSubscription:
    subscription: Subscription
    version: int
    failing_since: datetime | None
    last_error: str
    pending: int


@dataclass(frozen=True)
class Claimed:
    """A lane leased to one worker, with its subscription (None if its record lacks the JSON,
    edited by hand) and its head: the delivery and the body to POST."""

    lane: LaneKey
    stored: StoredSubscription | None
    delivery: Delivery
    body: bytes


@dataclass(frozen=True)
class Enqueued:
    """One delivery to enqueue: the new one, its body, and when it is first due."""

    delivery: Delivery
    body: bytes
    due: datetime


@dataclass(frozen=True)
class Placed:
    """What became of one event's deliveries: how many were enqueued, and which were refused for a
    full backlog and wait to be announced (as they were enqueued, not yet dead)."""

    added: int
    refused: list[Delivery]


def ms(moment: datetime) -> int:
    return math.ceil(moment.astimezone(UTC).timestamp() * 1000)


def from_ms(value: float) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def subscription_json(sub: Subscription) -> str:
    data = asdict(sub)
    for name in ("enabled", "disabled_reason", "tenant_id", "id"):
        data.pop(name)
    data["created_at"] = sub.created_at.isoformat()
    data["updated_at"] = sub.updated_at.isoformat()
    return json.dumps(data)


# Read once: dataclasses.asdict deep-copies every field and took 90 us a delivery, twice an
# enqueue, the most of the consumer's own time (bench/webhooks.py).
_DELIVERY_FIELDS = tuple(f.name for f in fields(Delivery))


def delivery_json(delivery: Delivery) -> str:
    data: dict[str, Any] = {}
    for name in _DELIVERY_FIELDS:
        value = getattr(delivery, name)
        data[name] = value.isoformat() if isinstance(value, datetime) else value
    return json.dumps(data)


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def parse_delivery(raw: bytes | str) -> Delivery:
    data = json.loads(raw)
    return Delivery(
        id=data["id"],
        tenant_id=data["tenant_id"],
        subscription_id=data["subscription_id"],
        lane=data["lane"],
        event_id=data["event_id"],
        event_type=data["event_type"],
        event_time=datetime.fromisoformat(data["event_time"]),
        status=Status(data["status"]),
        attempts=data["attempts"],
        created_at=datetime.fromisoformat(data["created_at"]),
        next_attempt_at=_time(data["next_attempt_at"]),
        last_attempt_at=_time(data["last_attempt_at"]),
        delivered_at=_time(data["delivered_at"]),
        last_status_code=data["last_status_code"],
        last_error=data["last_error"],
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# Every attempt reads its subscription: the same few, parsed once each while they stay unchanged.
@functools.lru_cache(maxsize=1024)
def _subscription(tenant_id: str, subscription_id: str, raw: str, enabled: bool, why: str) -> Subscription:
    data = json.loads(raw)
    return Subscription(
        id=subscription_id,
        tenant_id=tenant_id,
        url=data["url"],
        event_types=tuple(data["event_types"]),
        secret=data["secret"],
        description=data["description"],
        enabled=enabled,
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        disabled_reason=why,
    )


def _stored(tenant_id: str, subscription_id: str, raw: Mapping[Any, Any]) -> StoredSubscription | None:
    fields = {_text(name): _text(value) for name, value in raw.items()}
    if "d" not in fields:
        return None
    sub = _subscription(
        tenant_id, subscription_id, fields["d"], fields.get("enabled") == "1", fields.get("why", "")
    )
    failing = fields.get("failing")
    return StoredSubscription(
        subscription=sub,
        version=int(fields["v"]),
        failing_since=None if failing is None else from_ms(float(failing)),
        last_error=fields.get("error", ""),
        pending=int(fields.get("pending", "0")),
    )


def _claimed(found: Sequence[Any]) -> Claimed | None:
    """A claim script's answer: member, the subscription's hash (flat), the head's JSON and body."""
    if not found:
        return None
    member, flat, raw, body = found
    lane = LaneKey.parse(member)
    fields = dict(zip(flat[::2], flat[1::2], strict=True))
    return Claimed(
        lane=lane,
        stored=_stored(lane.tenant_id, lane.subscription_id, fields),
        delivery=parse_delivery(raw),
        body=body.encode() if isinstance(body, str) else body,
    )


class NotifyStore:
    def __init__(self, client: redis.Redis, lanes: int) -> None:
        self.client = client
        self.lanes = lanes
        self._enqueue = client.register_script(_ENQUEUE)
        self._announce = OutboxScript(client, OUTBOX_STREAM, _ANNOUNCE)
        self._claim = client.register_script(_CLAIM)
        self._outcome = OutboxScript(client, OUTBOX_STREAM, _OUTCOME)
        self._park = client.register_script(_PARK)
        self._disable = OutboxScript(client, OUTBOX_STREAM, _DISABLE)
        self._save = OutboxScript(client, OUTBOX_STREAM, _SAVE)
        self._delete = OutboxScript(client, OUTBOX_STREAM, _DELETE)
        self._redeliver = client.register_script(_REDELIVER)

    def close(self) -> None:
        """Give back the client's connections (a store on a connection of its own releases it)."""
        self.client.close()

    # -- subscriptions ---------------------------------------------------------------------------

    def subscription(self, tenant_id: str, subscription_id: str) -> StoredSubscription | None:
        return _stored(tenant_id, subscription_id, self.client.hgetall(Keys(tenant_id).sub(subscription_id)))

    def subscriptions(self, tenant_id: str) -> list[StoredSubscription]:
        keys = Keys(tenant_id)
        ids = sorted(_text(i) for i in self.client.smembers(keys.subs))
        pipe = self.client.pipeline(transaction=False)
        for subscription_id in ids:
            pipe.hgetall(keys.sub(subscription_id))
        found = [_stored(tenant_id, i, fields) for i, fields in zip(ids, pipe.execute(), strict=True)]
        return [stored for stored in found if stored is not None]

    def save(
        self, sub: Subscription, version: int, quota: int, now: datetime, records: Sequence[OutgoingRecord]
    ) -> int:
        """Write the subscription, still at `version` (0: new), and emit `records`; the new version.
        QuotaFullError when it is new and the tenant has `quota`; ConflictError when it changed."""
        keys = Keys(sub.tenant_id)
        lanes = [LaneKey(sub.tenant_id, sub.id, n) for n in range(self.lanes)]
        result = int(
            self._save(
                keys=[keys.subs, keys.sub(sub.id), DUE, *(keys.lane(sub.id, n) for n in range(self.lanes))],
                args=[
                    sub.id,
                    version,
                    subscription_json(sub),
                    "1" if sub.enabled else "0",
                    quota,
                    ms(now),
                    *(lane.member for lane in lanes),
                ],
                records=records,
            )
        )
        if result == QUOTA_REACHED:
            raise QuotaFullError
        if result == VERSION_CHANGED:
            raise ConflictError(f"webhook {sub.id} changed since it was read")
        return result

    def delete(
        self, tenant_id: str, subscription_id: str, version: int, records: Sequence[OutgoingRecord]
    ) -> None:
        keys = Keys(tenant_id)
        lanes = [LaneKey(tenant_id, subscription_id, n) for n in range(self.lanes)]
        result = int(
            self._delete(
                keys=[
                    keys.subs,
                    keys.sub(subscription_id),
                    DUE,
                    BACKLOG,
                    keys.log(subscription_id),
                    *(keys.lane(subscription_id, n) for n in range(self.lanes)),
                ],
                args=[subscription_id, version, *(lane.member for lane in lanes), keys.delivery_prefix],
                records=records,
            )
        )
        if result == VERSION_CHANGED:
            raise ConflictError(f"webhook {subscription_id} changed since it was read")

    def disable(
        self, tenant_id: str, subscription_id: str, failing_ms: int, reason: str, record: OutgoingRecord
    ) -> bool:
        return bool(
            self._disable(
                keys=[Keys(tenant_id).sub(subscription_id)], args=[failing_ms, reason], records=[record]
            )
        )

    # -- deliveries ------------------------------------------------------------------------------

    def enqueue(
        self,
        tenant_id: str,
        items: Sequence[Enqueued],
        now: datetime,
        retention_ms: int,
        log_max: int,
        most: int,
    ) -> Placed:
        return self.enqueue_many([(tenant_id, items)], now, retention_ms, log_max, most)[0]

    def enqueue_many(
        self,
        events: Sequence[tuple[str, Sequence[Enqueued]]],
        now: datetime,
        retention_ms: int,
        log_max: int,
        most: int,
    ) -> list[Placed]:
        """Each event's deliveries (its tenant's), one script an event, all in one round trip: a
        consumer's poll of events waits on Redis once, not once an event. What became of each
        event's: how many were enqueued, and those refused for a full backlog, to announce."""
        pipe = self.client.pipeline(transaction=False)
        for tenant_id, items in events:
            self._queue_enqueue(pipe, tenant_id, items, now, retention_ms, log_max, most)
        return [
            Placed(int(added), [items[i - 1].delivery for i in refused])
            for (_, items), (added, refused) in zip(events, pipe.execute(), strict=True)
        ]

    def _queue_enqueue(
        self,
        pipe: redis.client.Pipeline,
        tenant_id: str,
        items: Sequence[Enqueued],
        now: datetime,
        retention_ms: int,
        log_max: int,
        most: int,
    ) -> None:
        keys = Keys(tenant_id)
        script_keys: list[str] = [DUE, BACKLOG]
        args: list[Any] = [ms(now), retention_ms, log_max, most, len(items)]
        for item in items:
            d = item.delivery
            script_keys += keys.of_delivery(d)
            args += [
                d.id,
                delivery_json(d),
                item.body,
                LaneKey(tenant_id, d.subscription_id, d.lane).member,
                ms(item.due),
            ]
        self._enqueue(keys=script_keys, args=args, client=pipe)

    def announce_refused(self, refused: Sequence[tuple[Delivery, OutgoingRecord]]) -> int:
        """Finish refused deliveries as dead (each the delivery as dead, and the event saying so),
        those not finished already; how many this call finished."""
        return int(
            self._announce(
                keys=[Keys(d.tenant_id).delivery(d.id) for d, _ in refused],
                args=[delivery_json(d) for d, _ in refused],
                records=[record for _, record in refused],
            )
        )

    def claim(self, now: datetime, lease_ms: int) -> Claimed | None:
        """The earliest due lane, leased for `lease_ms`, with what its next attempt needs; None
        when no lane is due."""
        return _claimed(self._claim(keys=[DUE], args=[ms(now), lease_ms]))

    def park(self, lane: LaneKey) -> bool:
        keys = Keys(lane.tenant_id)
        return bool(
            self._park(
                keys=[DUE, keys.sub(lane.subscription_id), keys.lane(lane.subscription_id, lane.lane)],
                args=[lane.member],
            )
        )

    def outcome(
        self,
        before: Delivery,
        after: Delivery,
        outcome: str,
        now: datetime,
        retention_ms: int,
        records: Sequence[OutgoingRecord] = (),
        *,
        claim_lease_ms: int = 0,
    ) -> tuple[int, Claimed | None]:
        """Record an attempt: the first failure's epoch ms of a failing subscription, 0 when it is
        not failing, STALE when another replica took the delivery over meanwhile. With a
        `claim_lease_ms`, also the next due lane claimed for that lease, as `claim` would."""
        lane = LaneKey(before.tenant_id, before.subscription_id, before.lane)
        result, claimed = self._outcome(
            keys=[DUE, BACKLOG, *Keys(before.tenant_id).of_delivery(before)],
            args=[
                before.id,
                before.attempts,
                delivery_json(after),
                after.attempts,
                outcome,
                lane.member,
                ms(after.next_attempt_at) if after.next_attempt_at else ms(now),
                retention_ms,
                ms(now),
                after.last_error,
                claim_lease_ms,
            ],
            records=records,
        )
        return int(result), _claimed(claimed)

    def redeliver(self, again: Delivery, now: datetime) -> int:
        """Start `again`'s new series of attempts: 1, or -1 when it or its subscription is gone, -2
        while it is still waiting."""
        return int(
            self._redeliver(
                keys=[DUE, BACKLOG, *Keys(again.tenant_id).of_delivery(again)],
                args=[
                    again.id,
                    delivery_json(again),
                    LaneKey(again.tenant_id, again.subscription_id, again.lane).member,
                    ms(now),
                ],
            )
        )

    def delivery(self, tenant_id: str, delivery_id: str) -> Delivery | None:
        raw = self.client.hget(Keys(tenant_id).delivery(delivery_id), "d")
        return None if raw is None else parse_delivery(raw)

    def log(self, tenant_id: str, subscription_id: str) -> list[Delivery]:
        """The subscription's recent deliveries, newest first (those whose records expired left out)."""
        keys = Keys(tenant_id)
        found: list[bytes] = self.client.zrevrange(keys.log(subscription_id), 0, -1)  # type: ignore[assignment]
        ids = [_text(i) for i in found]
        pipe = self.client.pipeline(transaction=False)
        for delivery_id in ids:
            pipe.hget(keys.delivery(delivery_id), "d")
        return [parse_delivery(raw) for raw in pipe.execute() if raw is not None]

    def backlog(self) -> int:
        return int(self.client.get(BACKLOG) or 0)
