"""The router's state in Redis, and the one script every change goes through.

A use case reads what it needs, decides with the pure domain, and commits a `Tx`: version checks
on every record it read and means to change, then the writes, the index moves, the timers, the
agent desk messages and the outbox events, all in one Lua script. A check that fails applies
nothing and the use case decides again on fresh state. Two replicas offering one contact, or
filling one agent's last slot, both check the same version: one wins, the other retries and sees
the change. That is how the invariants "never offer a contact twice" and "never over capacity"
hold across replicas without locks.

Keys carry the tenant as a hash tag (`rt:{acme}:...`), so a script never crosses cluster slots.
A record past its use gets its Redis expiry in the same script (services/router/storage/retention.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from google.protobuf.message import Message

from helpline.audit import audit_record
from helpline.events import new_event, to_record
from helpline.outbox import OutboxScript
from helpline.records import OutgoingRecord
from helpline.v1 import audit_events_pb2
from services.router.domain.model import AgentState, Channel
from services.router.storage.records import (
    AGENTS,
    CALENDARS,
    CONTACTS,
    PROFILES,
    QUEUES,
    SKILLS,
    AgentRecord,
    CalendarRecord,
    ContactRecord,
    ProfileRecord,
    QueueRecord,
    SkillRecord,
)
from services.router.storage.retention import Retention

SOURCE = "/helpline/router"
OUTBOX_STREAM = "router:outbox"
# A desk stream keeps the last offers of an agent for a desktop that reconnects.
DESK_MAXLEN = 100

TOPIC_OF_DOMAIN = {"contact": "helpline.contacts", "agent": "helpline.agents", "queue": "helpline.queues"}

# ARGV[1]: the ops, checks first; ARGV[2]: how long a desk keeps an entry (ms). A desk entry's id
# is the server's time it was written, so each write drops the entries older than that, then the
# whole stream expires once nothing has been written to it for as long.
_COMMIT = """
local ops = cjson.decode(ARGV[1])
for i = 1, #ops do
  local op = ops[i]
  if op[1] == 'v' then
    local raw = redis.call('GET', KEYS[op[2]])
    local current = 0
    if raw then current = tonumber(string.match(raw, '^{"version":(%d+)')) end
    if current ~= op[3] then return {'conflict', KEYS[op[2]]} end
  elseif op[1] == 'n' then
    local current = tonumber(redis.call('GET', KEYS[op[2]]) or '0')
    if current ~= op[3] then return {'conflict', KEYS[op[2]]} end
  elseif op[1] == 'x' then
    if redis.call('EXISTS', KEYS[op[2]]) ~= op[3] then return {'conflict', KEYS[op[2]]} end
  elseif op[1] == 'c' then
    if redis.call('SCARD', KEYS[op[2]]) ~= op[3] then return {'conflict', KEYS[op[2]]} end
  elseif op[1] == 'm' then
    if redis.call('SISMEMBER', KEYS[op[2]], op[3]) ~= 1 then return {'conflict', KEYS[op[2]]} end
  end
end
local desk_ms = tonumber(ARGV[2])
for i = 1, #ops do
  local op = ops[i]
  local name, key = op[1], KEYS[op[2]]
  if name == 'set' then
    if op[4] > 0 then redis.call('SET', key, op[3], 'EX', op[4]) else redis.call('SET', key, op[3]) end
  elseif name == 'del' then redis.call('DEL', key)
  elseif name == 'zadd' then redis.call('ZADD', key, op[3], op[4])
  elseif name == 'zrem' then redis.call('ZREM', key, op[3])
  elseif name == 'sadd' then redis.call('SADD', key, op[3])
  elseif name == 'srem' then redis.call('SREM', key, op[3])
  elseif name == 'incr' then redis.call('INCR', key)
  elseif name == 'hset' then redis.call('HSET', key, op[3], op[4])
  elseif name == 'ema' then
    local x = tonumber(op[4])
    local old = redis.call('HGET', key, op[3])
    if old then x = tonumber(old) + (x - tonumber(old)) * tonumber(op[5]) end
    redis.call('HSET', key, op[3], string.format('%.0f', x))
  elseif name == 'expire' then redis.call('EXPIRE', key, op[3])
  elseif name == 'xadd' then
    local id = redis.call('XADD', key, 'MAXLEN', '~', op[3], '*', 'kind', op[4], 'data', op[5])
    local written_ms = tonumber(string.match(id, '^(%d+)'))
    redis.call('XTRIM', key, 'MINID', string.format('%.0f', written_ms - desk_ms))
    redis.call('PEXPIRE', key, desk_ms)
  end
end
emit_all()
return {'ok', ''}
"""


class ConflictError(Exception):
    """A record changed since it was read; nothing was applied."""

    def __init__(self, key: str) -> None:
        super().__init__(f"{key} changed meanwhile")
        self.key = key


# KEYS, per queue: its in-state sets (ARGV[2] of them), its stats hash, then each channel's depth
# and staffed sets; ARGV[1] is now (ms), ARGV[3..] each queue's channel count. Scores and the AHT
# stay strings: cjson would round numbers beyond 14 digits.
_QUEUE_COUNTS = """
local now = '(' .. ARGV[1]
local states = tonumber(ARGV[2])
local out = {}
local k = 1
for q = 3, #ARGV do
  local in_state = {}
  for i = 1, states do
    in_state[i] = redis.call('ZCARD', KEYS[k])
    k = k + 1
  end
  local aht = redis.call('HGET', KEYS[k], 'aht_ms')
  k = k + 1
  local channels = {}
  for c = 1, tonumber(ARGV[q]) do
    local depth, staffed = KEYS[k], KEYS[k + 1]
    k = k + 2
    local oldest = redis.call('ZRANGE', depth, 0, 0, 'WITHSCORES')
    channels[c] = {redis.call('ZCARD', depth), oldest[2] or false, redis.call('ZCOUNT', depth, '-inf', now),
                   redis.call('ZCARD', staffed)}
  end
  out[#out + 1] = {in_state, aht or false, channels}
end
return cjson.encode(out)
"""


@dataclass(frozen=True)
class ChannelCounts:
    depth: int
    # Effective enqueue time (epoch ms) of the contact waiting longest; None when nobody waits.
    oldest_ms: int | None
    # The queue position of a contact entering now.
    position: int
    staffed: int


@dataclass(frozen=True)
class QueueCounts:
    agents_by_state: dict[AgentState, int]
    aht_ms: int | None
    channels: dict[Channel, ChannelCounts]


@dataclass(frozen=True)
class Keys:
    """The Redis key of every record, index and set of one tenant, all under its hash tag, so a
    script that touches a tenant's keys stays in one cluster slot."""

    tenant: str

    @property
    def base(self) -> str:
        return f"rt:{{{self.tenant}}}"

    def queue(self, queue_id: str) -> str:
        return f"{self.base}:queue:{queue_id}"

    def queues(self) -> str:
        return f"{self.base}:queues"

    def skill(self, name: str) -> str:
        return f"{self.base}:skill:{name}"

    def calendar(self, calendar_id: str) -> str:
        return f"{self.base}:calendar:{calendar_id}"

    def calendars(self) -> str:
        return f"{self.base}:calendars"

    def skills(self) -> str:
        return f"{self.base}:skills"

    def profile(self, profile_id: str) -> str:
        return f"{self.base}:profile:{profile_id}"

    def profiles(self) -> str:
        return f"{self.base}:profiles"

    def profile_agents(self, profile_id: str) -> str:
        return f"{self.base}:profile-agents:{profile_id}"

    def agent(self, agent_id: str) -> str:
        return f"{self.base}:agent:{agent_id}"

    def agents(self) -> str:
        return f"{self.base}:agents"

    def contact(self, contact_id: str) -> str:
        return f"{self.base}:contact:{contact_id}"

    # -- indexes (sorted sets; the routing.py docstring says what each orders) --

    def waiting(self, queue_id: str, channel: Channel, signature: str) -> str:
        """Contacts waiting for agents who meet `signature` (or for one agent: `@agent_id`)."""
        return f"{self.base}:cq:{queue_id}:{channel}:{signature}"

    def ready(self, queue_id: str, channel: Channel, signature: str) -> str:
        """Agents ready for `channel` who meet `signature`, scored by the queue's strategy."""
        return f"{self.base}:aq:{queue_id}:{channel}:{signature}"

    def signatures(self, queue_id: str, channel: Channel) -> str:
        """The requirement signatures contacts of this queue and channel have had (a set)."""
        return f"{self.base}:sigs:{queue_id}:{channel}"

    def signature_epoch(self) -> str:
        """Bumped whenever an agent set is built: an agent change computed before it retries."""
        return f"{self.base}:sig-epoch"

    def members(self, queue_id: str) -> str:
        """Every agent whose routing profile lists the queue, whatever their status."""
        return f"{self.base}:members:{queue_id}"

    def staffed(self, queue_id: str, channel: Channel) -> str:
        """Agents of the queue not offline who take `channel` (the EWT's staffed agents)."""
        return f"{self.base}:staffed:{queue_id}:{channel}"

    def in_state(self, queue_id: str, state: AgentState) -> str:
        """Agents of the queue not offline, by state (queue status and snapshots)."""
        return f"{self.base}:state:{queue_id}:{state}"

    def depth(self, queue_id: str, channel: Channel) -> str:
        """Contacts waiting (queued or on offer), scored by their effective enqueue time."""
        return f"{self.base}:depth:{queue_id}:{channel}"

    def queue_stats(self, queue_id: str) -> str:
        return f"{self.base}:stats:{queue_id}"

    def timers(self) -> str:
        return f"{self.base}:timers"

    def desk(self, agent_id: str) -> str:
        return f"{self.base}:desk:{agent_id}"

    def customer_agent(self, customer_id: str) -> str:
        """The agent who last served the customer (preferred_agent)."""
        return f"{self.base}:last-agent:{customer_id}"

    def offer(self, offer_id: str) -> str:
        """offer id -> contact id, for the desktop that answers an offer by its id."""
        return f"{self.base}:offer:{offer_id}"


@dataclass
class Tx:
    """One atomic change: checks first, then writes, then events. Build it, then `Store.commit`."""

    keys: Keys
    _key_index: dict[str, int] = field(default_factory=dict)
    ops: list[list[Any]] = field(default_factory=list)
    records: list[OutgoingRecord] = field(default_factory=list)

    def _k(self, key: str) -> int:
        if key not in self._key_index:
            self._key_index[key] = len(self._key_index) + 1
        return self._key_index[key]

    @property
    def key_list(self) -> list[str]:
        return list(self._key_index)

    def expect_version(self, key: str, version: int) -> None:
        """The record at `key` is still at `version` (0: it does not exist)."""
        self.ops.append(["v", self._k(key), version])

    def expect_counter(self, key: str, value: int) -> None:
        self.ops.append(["n", self._k(key), value])

    def expect_exists(self, key: str, exists: bool = True) -> None:
        """The key exists (or, with `exists=False`, does not: an empty set or sorted set)."""
        self.ops.append(["x", self._k(key), int(exists)])

    def expect_size(self, key: str, size: int) -> None:
        """The set at `key` has `size` members."""
        self.ops.append(["c", self._k(key), size])

    def expect_member(self, key: str, member: str) -> None:
        """The set at `key` has `member`."""
        self.ops.append(["m", self._k(key), member])

    def set(self, key: str, value: str, ttl_s: int = 0) -> None:
        self.ops.append(["set", self._k(key), value, ttl_s])

    def delete(self, key: str) -> None:
        self.ops.append(["del", self._k(key)])

    def expire(self, key: str, ttl_s: int) -> None:
        """The key, if it exists, expires `ttl_s` from now."""
        self.ops.append(["expire", self._k(key), ttl_s])

    def zadd(self, key: str, score: int | str, member: str) -> None:
        self.ops.append(["zadd", self._k(key), str(score), member])

    def zrem(self, key: str, member: str) -> None:
        self.ops.append(["zrem", self._k(key), member])

    def sadd(self, key: str, member: str) -> None:
        self.ops.append(["sadd", self._k(key), member])

    def srem(self, key: str, member: str) -> None:
        self.ops.append(["srem", self._k(key), member])

    def incr(self, key: str) -> None:
        self.ops.append(["incr", self._k(key)])

    def hset(self, key: str, name: str, value: str) -> None:
        self.ops.append(["hset", self._k(key), name, value])

    def moving_average(self, key: str, name: str, sample: int, weight: float) -> None:
        self.ops.append(["ema", self._k(key), name, str(sample), str(weight)])

    def desk(self, agent_id: str, kind: str, message: Message) -> None:
        payload = base64.b64encode(message.SerializeToString()).decode()
        self.ops.append(["xadd", self._k(self.keys.desk(agent_id)), str(DESK_MAXLEN), kind, payload])

    def move_entries(self, member: str, old: Mapping[str, str], new: Mapping[str, str]) -> None:
        """Take `member` out of the sorted sets it left and into the ones it joined (or re-scored)."""
        for key in sorted(set(old) - set(new)):
            self.zrem(key, member)
        for key, score in sorted(new.items()):
            if old.get(key) != score:
                self.zadd(key, score, member)

    def move_timers(self, old: Mapping[str, int], new: Mapping[str, int]) -> None:
        timers = self.keys.timers()
        for member in sorted(set(old) - set(new)):
            self.zrem(timers, member)
        for member, due in sorted(new.items()):
            if old.get(member) != due:
                self.zadd(timers, due, member)

    def emit(self, events: Iterable[Message], subject: str) -> None:
        for event in events:
            envelope = new_event(event, source=SOURCE, subject=subject)
            domain = envelope.type.split(".")[1]
            self.records.append(to_record(envelope, TOPIC_OF_DOMAIN[domain]))

    def audit(self, change: audit_events_pb2.ConfigurationChanged) -> None:
        """Stage the audit event of a configuration change (helpline.audit)."""
        self.records.append(audit_record(change, SOURCE))


class Store:
    """The router's state in one Redis: the typed reads of every record and index the use cases
    need, the timer set, and `commit`, the one way anything is written (a `Tx` in one script,
    outbox events included). It exists so no use case touches Redis commands itself: what the
    router keeps and how a change reaches Redis atomically are decided here alone."""

    def __init__(self, client: redis.Redis, retention: Retention | None = None) -> None:
        self.client = client
        self.retention = retention or Retention()
        self._commit = OutboxScript(client, OUTBOX_STREAM, _COMMIT)
        self._queue_counts = client.register_script(_QUEUE_COUNTS)

    def commit(self, tx: Tx) -> None:
        reply = self._commit(
            keys=tx.key_list,
            args=[json.dumps(tx.ops, separators=(",", ":")), self.retention.desk_s * 1000],
            records=tx.records,
        )
        if reply[0] == b"conflict":
            raise ConflictError(reply[1].decode())

    # -- reads --

    def _get(self, key: str) -> bytes | None:
        raw: Any = self.client.get(key)
        return raw if raw else None

    def _many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        raws: Any = self.client.mget(keys)
        return list(raws)

    def queue(self, tenant: str, queue_id: str) -> QueueRecord | None:
        raw = self._get(Keys(tenant).queue(queue_id))
        return QUEUES.loads(raw) if raw else None

    def queues(self, tenant: str, queue_ids: Iterable[str]) -> dict[str, QueueRecord]:
        ids = sorted(set(queue_ids))
        raws = self._many([Keys(tenant).queue(queue_id) for queue_id in ids])
        return {queue_id: QUEUES.loads(raw) for queue_id, raw in zip(ids, raws, strict=True) if raw}

    def calendar(self, tenant: str, calendar_id: str) -> CalendarRecord | None:
        raw = self._get(Keys(tenant).calendar(calendar_id))
        return CALENDARS.loads(raw) if raw else None

    def skill(self, tenant: str, name: str) -> SkillRecord | None:
        raw = self._get(Keys(tenant).skill(name))
        return SKILLS.loads(raw) if raw else None

    def skill_names(self, tenant: str) -> set[str]:
        members: Any = self.client.smembers(Keys(tenant).skills())
        return {member.decode() for member in members}

    def profile(self, tenant: str, profile_id: str) -> ProfileRecord | None:
        raw = self._get(Keys(tenant).profile(profile_id))
        return PROFILES.loads(raw) if raw else None

    def agent(self, tenant: str, agent_id: str) -> AgentRecord | None:
        raw = self._get(Keys(tenant).agent(agent_id))
        return AGENTS.loads(raw) if raw else None

    def agents(self, tenant: str, agent_ids: Sequence[str]) -> list[AgentRecord]:
        """The records of the agents that exist, in the order asked."""
        raws = self._many([Keys(tenant).agent(agent_id) for agent_id in agent_ids])
        return [AGENTS.loads(raw) for raw in raws if raw]

    def contact(self, tenant: str, contact_id: str) -> ContactRecord | None:
        raw = self._get(Keys(tenant).contact(contact_id))
        return CONTACTS.loads(raw) if raw else None

    def contacts(self, tenant: str, contact_ids: Sequence[str]) -> list[ContactRecord]:
        raws = self._many([Keys(tenant).contact(contact_id) for contact_id in contact_ids])
        return [CONTACTS.loads(raw) for raw in raws if raw]

    def members_of(self, key: str) -> list[str]:
        members: Any = self.client.smembers(key)
        return sorted(member.decode() for member in members)

    def ids(self, key: str) -> list[str]:
        """The members of a sorted set, in score order."""
        members: Any = self.client.zrange(key, 0, -1)
        return [member.decode() for member in members]

    def first(self, key: str, count: int) -> list[str]:
        members: Any = self.client.zrange(key, 0, count - 1)
        return [member.decode() for member in members]

    def counter(self, key: str) -> int:
        raw = self._get(key)
        return int(raw) if raw else 0

    def signatures(
        self, keys: Keys, slots: Sequence[tuple[str, Channel]]
    ) -> dict[tuple[str, Channel], set[str]]:
        """The registered signatures of each (queue, channel), in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for queue_id, channel in slots:
            pipe.smembers(keys.signatures(queue_id, channel))
        replies = pipe.execute()
        return {
            slot: {member.decode() for member in members}
            for slot, members in zip(slots, replies, strict=True)
        }

    def heads(self, ranges: Sequence[tuple[str, int, int]], count: int) -> list[list[str]]:
        """For each (key, low, high): the first `count` members scored in [low, high)."""
        pipe = self.client.pipeline(transaction=False)
        for key, low, high in ranges:
            pipe.zrange(key, low, f"({high}", byscore=True, offset=0, num=count)
        return [[member.decode() for member in members] for members in pipe.execute()]

    def queue_counts(
        self, keys: Keys, queues: Sequence[tuple[str, Sequence[Channel]]], now_ms: int
    ) -> list[QueueCounts]:
        """The index sizes behind each queue's status, of one moment, in one script call.

        A snapshot reads every queue of a tenant at once: as separate commands (fourteen a
        queue), their packing and parsing held the interpreter long enough to delay the contacts
        being routed meanwhile by a hundred milliseconds; the script answers in one JSON string."""
        key_list: list[str] = []
        for queue_id, channels in queues:
            key_list += [keys.in_state(queue_id, state) for state in AgentState]
            key_list.append(keys.queue_stats(queue_id))
            for channel in channels:
                key_list += [keys.depth(queue_id, channel), keys.staffed(queue_id, channel)]
        raw: Any = self._queue_counts(
            keys=key_list, args=[now_ms, len(AgentState), *(len(channels) for _, channels in queues)]
        )
        return [
            QueueCounts(
                agents_by_state=dict(zip(AgentState, states, strict=True)),
                aht_ms=int(aht_ms) if aht_ms else None,
                channels={
                    channel: ChannelCounts(
                        depth=depth,
                        oldest_ms=int(oldest) if oldest else None,
                        position=ahead + 1,
                        staffed=staffed,
                    )
                    for channel, (depth, oldest, ahead, staffed) in zip(channels, counted, strict=True)
                },
            )
            for (_, channels), (states, aht_ms, counted) in zip(queues, json.loads(raw), strict=True)
        ]

    def placement_counts(
        self, keys: Keys, queue_id: str, channel: Channel, score: int
    ) -> tuple[int, int, int | None]:
        """The queue position of a contact scored `score`, the channel's staffed agents and the
        queue's AHT in ms, in one round trip: every contact entering a queue pays for this."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zcount(keys.depth(queue_id, channel), "-inf", f"({score}")
        pipe.zcard(keys.staffed(queue_id, channel))
        pipe.hget(keys.queue_stats(queue_id), "aht_ms")
        ahead, staffed, aht_ms = pipe.execute()
        return int(ahead) + 1, int(staffed), int(aht_ms) if aht_ms else None

    def position(self, key: str, score: int) -> int:
        """1 + how many entries of the set score below `score` (ties by member count as ahead)."""
        ahead: Any = self.client.zcount(key, "-inf", f"({score}")
        return int(ahead) + 1

    def exist(self, keys: Sequence[str]) -> list[bool]:
        """Whether each key exists, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.exists(key)
        return [bool(found) for found in pipe.execute()]

    def set_size(self, key: str) -> int:
        size: Any = self.client.zcard(key)
        return int(size)

    def oldest_score(self, key: str) -> int | None:
        found: Any = self.client.zrange(key, 0, 0, withscores=True)
        return int(found[0][1]) if found else None

    def due_timers(self, tenant: str, now_ms: int, limit: int) -> list[str]:
        members: Any = self.client.zrange(
            Keys(tenant).timers(), "-inf", now_ms, byscore=True, offset=0, num=limit
        )
        return [member.decode() for member in members]

    def next_timer_ms(self, tenant: str) -> int | None:
        return self.oldest_score(Keys(tenant).timers())

    def postpone_timer(self, tenant: str, member: str, due_ms: int) -> None:
        # XX: a timer another replica handled meanwhile stays gone.
        self.client.zadd(Keys(tenant).timers(), {member: due_ms}, xx=True)

    def timer_due_ms(self, tenant: str, member: str) -> int | None:
        score: Any = self.client.zscore(Keys(tenant).timers(), member)
        return int(score) if score is not None else None

    def drop_timer_if_due(self, tenant: str, member: str, now_ms: int) -> None:
        due = self.timer_due_ms(tenant, member)
        if due is not None and due <= now_ms:
            self.drop_timer(tenant, member)

    def drop_timer(self, tenant: str, member: str) -> None:
        self.client.zrem(Keys(tenant).timers(), member)
