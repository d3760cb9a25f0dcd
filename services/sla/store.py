"""The SLA service's state in Redis: one record per ticket or watched contact, one sorted set of
due timers for every tenant, and the outbox.

A record is a hash of its revision (`r`) and its JSON (`d`). A change is one Lua script that checks
the revision, writes the record, moves its timers and appends its events to the outbox: a warning
is marked as sent and emitted in the same step, so it is emitted once in effect, however many
replicas race for it or restart in the middle.

A record that can still change has no end of life; the change that makes it final (a closed
ticket, a contact out of the queue) sets it to expire after its retention in the same script, so
nothing sweeps and nothing is left behind: a record with timers never expires before they are due,
and a timer whose record is gone is dropped when it comes due (its handler finds nothing to fire).

Timers live in one sorted set scored by their due instant in epoch milliseconds. A replica claims
due timers by pushing their score a lease ahead (`claim`), so the others skip them while it fires
them; a replica that dies holding a claim leaves the timer to come due again when the lease runs
out. Claiming reads a range of the set: O(log n) in the timers held, whatever their number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import redis

from helpline.due_set import DueClaims
from helpline.failures import TransientError
from helpline.logging import get_logger
from helpline.outbox import OutboxScript
from helpline.records import OutgoingRecord

log = get_logger(__name__)

OUTBOX_STREAM = "sla:outbox"
TIMERS = "sla:timers"
# What the configuration script answers besides a version.
VERSION_CHANGED, QUOTA_REACHED = -1, -2
# Ids never hold control characters (the APIs refuse them), so this separates a timer's parts.
SEP = "\x1f"

# KEYS: the record, the timers. ARGV: expected revision (0: absent), the JSON ('' deletes), the
# milliseconds the record is kept from now (0: for good), the number of timers to remove, those
# members, then the number to add and (score, member) pairs.
_COMMIT = """
local current = tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
if current ~= tonumber(ARGV[1]) then return -1 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'r', current + 1, 'd', ARGV[2])
  if ARGV[3] == '0' then
    redis.call('PERSIST', KEYS[1])
  else
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
  end
end
local at = 4
local n_remove = tonumber(ARGV[at])
for i = 1, n_remove do redis.call('ZREM', KEYS[2], ARGV[at + i]) end
at = at + n_remove + 1
local n_add = tonumber(ARGV[at])
for i = 1, n_add do
  redis.call('ZADD', KEYS[2], ARGV[at + 2 * i - 1], ARGV[at + 2 * i])
end
emit_all()
return current + 1
"""


# KEYS: a configuration hash, its versions hash. ARGV: the item's id, its data ('' removes it), the
# most items the hash may hold, the version the caller read. One script, so that items written at
# once cannot pass the most together, and the change and its audit event are one. An item written
# before versions were kept is at version 1. Returns the new version (0 once removed), -1 when the
# version changed meanwhile, -2 when a new item would pass the most.
_PUT_CONFIG = """
local version = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or redis.call('HEXISTS', KEYS[1], ARGV[1]))
if version ~= tonumber(ARGV[4]) then return -1 end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  emit_all()
  return 0
end
if version == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -2 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], version + 1)
emit_all()
return version + 1
"""


class Subject(StrEnum):
    """What a timer runs on: a ticket's metric or a queued contact's answer target."""

    TICKET = "ticket"
    CONTACT = "contact"


@dataclass(frozen=True)
class TimerKey:
    """One due instant of one metric instance: its warning or its breach."""

    tenant_id: str
    subject: Subject
    subject_id: str
    instance_id: str
    trigger: str

    @property
    def member(self) -> str:
        return SEP.join((self.tenant_id, self.subject, self.subject_id, self.instance_id, self.trigger))

    @classmethod
    def parse(cls, member: bytes | str) -> TimerKey:
        text = member.decode() if isinstance(member, bytes) else member
        tenant_id, subject, subject_id, instance_id, trigger = text.split(SEP)
        return cls(tenant_id, Subject(subject), subject_id, instance_id, trigger)


def epoch_ms(moment: datetime) -> int:
    """Whole milliseconds at or before `moment`: how far a claim may reach."""
    return math.floor(moment.astimezone(UTC).timestamp() * 1000)


def due_ms(moment: datetime) -> int:
    """Whole milliseconds at or after `moment`: a timer scored earlier would be claimed before it is
    due, found not due yet, and put back again and again until it is."""
    return math.ceil(moment.astimezone(UTC).timestamp() * 1000)


class ConflictError(TransientError):
    """Another writer changed the record since it was read: read it again and decide again."""


@dataclass(frozen=True)
class Loaded:
    revision: int
    data: bytes | None


class Keys:
    """Every key of one tenant, with the tenant as a hash tag so one record's script stays in one
    cluster slot (the timers set is shared: a cluster deployment gives it a slot of its own)."""

    def __init__(self, tenant_id: str) -> None:
        self.base = f"sla:{{{tenant_id}}}"

    def record(self, subject: Subject, subject_id: str) -> str:
        return f"{self.base}:{subject}:{subject_id}"

    @property
    def policies(self) -> str:
        return f"{self.base}:policies"

    @property
    def calendars(self) -> str:
        return f"{self.base}:calendars"

    @property
    def queues(self) -> str:
        return f"{self.base}:queues"


class SlaStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._commit = OutboxScript(client, OUTBOX_STREAM, _COMMIT)
        self._claim = DueClaims(client)
        self._put_config = OutboxScript(client, OUTBOX_STREAM, _PUT_CONFIG)

    def load(self, tenant_id: str, subject: Subject, subject_id: str) -> Loaded:
        revision, data = self.client.hmget(Keys(tenant_id).record(subject, subject_id), ["r", "d"])
        return Loaded(int(revision or 0), None if data is None else _bytes(data))

    def commit(
        self,
        tenant_id: str,
        subject: Subject,
        subject_id: str,
        revision: int,
        data: str | None,
        *,
        kept: timedelta | None = None,
        remove: Iterable[TimerKey] = (),
        add: Mapping[TimerKey, datetime] | None = None,
        records: Sequence[OutgoingRecord] = (),
    ) -> int:
        """Write the record (None deletes it) if it is still at `revision`, to expire `kept` from
        now (None: never), drop the `remove` timers, set the `add` ones, and emit `records`;
        returns the new revision."""
        removed = [key.member for key in remove]
        added = [part for key, due in (add or {}).items() for part in (due_ms(due), key.member)]
        result = self._commit(
            keys=[Keys(tenant_id).record(subject, subject_id), TIMERS],
            args=[revision, data or "", _kept_ms(kept), len(removed), *removed, len(added) // 2, *added],
            records=records,
        )
        if int(result) < 0:
            raise ConflictError(f"{subject} {subject_id} of tenant {tenant_id} changed since it was read")
        return int(result)

    def claim(self, now: datetime, limit: int, lease_ms: int) -> list[tuple[TimerKey, datetime]]:
        """Due timers with their due instants, each pushed `lease_ms` ahead so no other replica
        takes it meanwhile. A member that is not a timer of this service is dropped, with a log:
        left in, it would come back to every replica after every lease."""
        claimed = []
        for member, due in self._claim(TIMERS, epoch_ms(now), limit, lease_ms):
            try:
                key = TimerKey.parse(member)
            except ValueError:
                log.error("not a timer; dropped", member=repr(member))
                self.client.zrem(TIMERS, member)
                continue
            claimed.append((key, datetime.fromtimestamp(due / 1000, tz=UTC)))
        return claimed

    def next_due(self) -> datetime | None:
        first = self.client.zrange(TIMERS, 0, 0, withscores=True)
        if not first:
            return None
        return datetime.fromtimestamp(float(first[0][1]) / 1000, tz=UTC)

    def timers(self) -> int:
        return int(self.client.zcard(TIMERS))

    # -- configuration: one hash per tenant and kind, field = id, value = JSON; versions beside ------

    def config_version(self, key: str, item_id: str) -> int:
        """The item's version; 0 when there is none."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hget(_versions(key), item_id)
        pipe.hexists(key, item_id)
        version, exists = pipe.execute()
        return int(version) if version is not None else int(exists)

    def put_config(
        self, key: str, item_id: str, data: str, most: int, version: int, records: Sequence[OutgoingRecord]
    ) -> bool:
        """Write the item, still at `version`, and emit `records`; False, writing nothing, when it is
        new and the hash already holds `most`."""
        return self._change_config(key, item_id, data, most, version, records) != QUOTA_REACHED

    def remove_config(self, key: str, item_id: str, version: int, records: Sequence[OutgoingRecord]) -> None:
        """Remove the item, still at `version`, and emit `records`."""
        self._change_config(key, item_id, "", 0, version, records)

    def delete_config(self, key: str, item_id: str) -> bool:
        """Remove an item of a hash that keeps no versions (the queues' answer targets)."""
        return bool(self.client.hdel(key, item_id))

    def _change_config(
        self, key: str, item_id: str, data: str, most: int, version: int, records: Sequence[OutgoingRecord]
    ) -> int:
        result = int(
            self._put_config(keys=[key, _versions(key)], args=[item_id, data, most, version], records=records)
        )
        if result == VERSION_CHANGED:
            raise ConflictError(f"{item_id} of {key} changed since it was read")
        return result

    def config(self, key: str, item_id: str) -> bytes | None:
        found = self.client.hget(key, item_id)
        return None if found is None else _bytes(found)

    def all_config(self, key: str) -> dict[str, bytes]:
        return {_bytes(k).decode(): _bytes(v) for k, v in self.client.hgetall(key).items()}


def _versions(key: str) -> str:
    return f"{key}:versions"


def _kept_ms(kept: timedelta | None) -> int:
    if kept is None:
        return 0
    # A whole millisecond at least: 0 would keep the record for good.
    return max(1, math.ceil(kept / timedelta(milliseconds=1)))


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
