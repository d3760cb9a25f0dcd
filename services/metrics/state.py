"""The little state the exporter needs, in the metrics service's own Redis, shared by its replicas.

Counters count events, so they need no state; what does need it is whatever one event alone cannot
tell: a queue's service-level threshold when its contacts are answered, an agent's status and state
before a change, a ticket's status before a change and its creation instant at its first reply, and
whether a solved ticket was a first-contact resolution when it is reopened.

Each change is one command or one Lua script, so replicas sharing the Redis never interleave, and
each is idempotent under the bus's at-least-once delivery: agent changes apply only when newer than
the last applied `changed_at`, ticket changes only when their version is above the stored one, so
a redelivered or out-of-order event changes nothing.

The per-tenant counts of agents by status and of tickets by status live beside the records they
count, in one hash each (field `tenant<SEP>status`), changed in the same script as the record, and
are read whole at scrape time: every replica exports the same figure, so rules aggregate those
gauges with `max without(instance)`, never `sum`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from services.metrics.domain.kpis import FCR_REOPEN_WINDOW

PREFIX = "metrics:"
THRESHOLDS = f"{PREFIX}thresholds"
TARGETS = f"{PREFIX}targets"
QUEUE_CHANNELS = f"{PREFIX}queue_channels"
AGENT_COUNTS = f"{PREFIX}agents"
TICKET_COUNTS = f"{PREFIX}tickets"
# Ids never hold control characters (the APIs refuse them), so this separates a key's parts.
SEP = "\x1f"
# The status that leaves the backlog; its tickets are not counted.
CLOSED = "closed"
# The router's default, for configurations older than the target field.
DEFAULT_SERVICE_LEVEL_TARGET = 0.8
# A solved first-contact ticket is remembered past its reopen window by a day of slack, so a reopen
# delivered late still finds it.
FCR_MEMORY = FCR_REOPEN_WINDOW + timedelta(days=1)
# A closed ticket is immutable; its record stays as long as the tickets topic keeps its events, so
# a redelivered older event still finds its version and is ignored.
CLOSED_MEMORY = timedelta(days=30)
# A contact's first answer is remembered this long: far longer than any contact stays in queues.
ANSWERED_MEMORY = timedelta(days=1)

# Time in a state is counted in segments, each closed by a change of state or of status, so that
# each segment has one status: idle time counts as open for contacts only while available. The
# agent's `segment_at` is where the current segment began.

# KEYS: the agent, the counts. ARGV: tenant, the new status ('' when the agent is removed), the
# change instant (epoch ms). Returns nil when not newer than the last applied status change, else
# the segment it closes: the state ('' for none known), its milliseconds and the status left.
_AGENT_STATUS = """
local at = tonumber(ARGV[3])
if at <= tonumber(redis.call('HGET', KEYS[1], 'status_at') or '-1') then return false end
local old = redis.call('HGET', KEYS[1], 'status') or ''
local state = redis.call('HGET', KEYS[1], 'state') or ''
local segment = redis.call('HGET', KEYS[1], 'segment_at')
local since = tonumber(segment or ARGV[3])
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'status_at', ARGV[3])
if not segment or at > since then redis.call('HSET', KEYS[1], 'segment_at', ARGV[3]) end
if old ~= ARGV[2] then
  if old ~= '' then redis.call('HINCRBY', KEYS[2], ARGV[1] .. '\\31' .. old, -1) end
  if ARGV[2] ~= '' then redis.call('HINCRBY', KEYS[2], ARGV[1] .. '\\31' .. ARGV[2], 1) end
end
return {state, math.max(at - since, 0), old}
"""

# KEYS: the agent. ARGV: the new state, the change instant (epoch ms). Returns nil when not newer
# than the last applied state change, else the segment it closes, as _AGENT_STATUS does.
_AGENT_STATE = """
local at = tonumber(ARGV[2])
if at <= tonumber(redis.call('HGET', KEYS[1], 'state_at') or '-1') then return false end
local old = redis.call('HGET', KEYS[1], 'state') or ''
local status = redis.call('HGET', KEYS[1], 'status') or ''
local segment = redis.call('HGET', KEYS[1], 'segment_at')
local since = tonumber(segment or ARGV[2])
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'state_at', ARGV[2])
if not segment or at > since then redis.call('HSET', KEYS[1], 'segment_at', ARGV[2]) end
return {old, math.max(at - since, 0), status}
"""

# KEYS: the ticket, the counts. ARGV: tenant, version, status, created (epoch ms), channel,
# department. A ticket already known (from a redelivery, or a status change read first) keeps its
# status and only learns what creation tells.
_TICKET_CREATED = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSETNX', KEYS[1], 'created', ARGV[4])
  redis.call('HSETNX', KEYS[1], 'channel', ARGV[5])
  redis.call('HSETNX', KEYS[1], 'department', ARGV[6])
  return 0
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'status', ARGV[3], 'created', ARGV[4],
           'channel', ARGV[5], 'department', ARGV[6])
redis.call('HINCRBY', KEYS[2], ARGV[1] .. '\\31' .. ARGV[3], 1)
return 1
"""

# KEYS: the ticket, the counts. ARGV: tenant, version, the new status, seconds a closed ticket's
# record is kept. Returns 1 when applied, 0 when the version is not above the stored one.
_TICKET_STATUS = """
local version = tonumber(ARGV[2])
if version <= tonumber(redis.call('HGET', KEYS[1], 'version') or '-1') then return 0 end
local old = redis.call('HGET', KEYS[1], 'status') or ''
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'status', ARGV[3])
if old ~= ARGV[3] then
  if old ~= '' and old ~= 'closed' then redis.call('HINCRBY', KEYS[2], ARGV[1] .. '\\31' .. old, -1) end
  if ARGV[3] ~= 'closed' then redis.call('HINCRBY', KEYS[2], ARGV[1] .. '\\31' .. ARGV[3], 1) end
end
if ARGV[3] == 'closed' then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4])) end
return 1
"""


# KEYS: the ticket's first-contact solve. Returns the solve instant (epoch ms) the first time, nil
# after, leaving a mark for the rest of the key's life so a redelivered solve cannot set it again.
_FCR_REOPENED = """
local solved = redis.call('GET', KEYS[1])
if not solved or solved == 'reopened' then return false end
redis.call('SET', KEYS[1], 'reopened', 'KEEPTTL')
return solved
"""


@dataclass(frozen=True)
class AnswerTarget:
    """A queue's service-level goal: `share` of its contacts answered within `threshold`."""

    threshold: timedelta
    share: float


@dataclass(frozen=True)
class StateTime:
    """A stretch an agent spent in one state under one status, closed by a change of either."""

    state: str
    status: str
    duration: timedelta


@dataclass(frozen=True)
class TicketFacts:
    """What the exporter remembers of a ticket for events that do not carry it."""

    created_at: datetime
    channel: str
    department: str


class MetricsState:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._agent_status = client.register_script(_AGENT_STATUS)
        self._agent_state = client.register_script(_AGENT_STATE)
        self._ticket_created = client.register_script(_TICKET_CREATED)
        self._ticket_status = client.register_script(_TICKET_STATUS)
        self._fcr_reopened = client.register_script(_FCR_REOPENED)

    # -- queues --

    def set_threshold(self, tenant_id: str, queue_id: str, threshold: timedelta) -> None:
        self.client.hset(THRESHOLDS, _field(tenant_id, queue_id), threshold.total_seconds())

    def threshold(self, tenant_id: str, queue_id: str) -> timedelta | None:
        raw = self.client.hget(THRESHOLDS, _field(tenant_id, queue_id))
        return None if raw is None else timedelta(seconds=float(raw))

    def add_queue_channels(self, tenant_id: str, queue_id: str, channels: Iterable[str]) -> None:
        """Remember the queue's channels, whose series every replica then exports from zero."""
        items: list[str | int] = []
        for channel in channels:
            items += [_field(tenant_id, queue_id, channel), 1]
        if items:
            self.client.hset(QUEUE_CHANNELS, items=items)

    def queue_channels(self) -> list[tuple[str, str, str]]:
        known = []
        for field in self.client.hkeys(QUEUE_CHANNELS):
            tenant_id, queue_id, channel = _text(field).split(SEP)
            known.append((tenant_id, queue_id, channel))
        return known

    def set_target(self, tenant_id: str, queue_id: str, target: float) -> None:
        self.client.hset(TARGETS, _field(tenant_id, queue_id), target)

    def answer_targets(self) -> dict[tuple[str, str], AnswerTarget]:
        """Every queue's service-level goal, by (tenant, queue); a queue whose target was never
        seen (a configuration older than the field) takes the router's default."""
        thresholds = self.client.hgetall(THRESHOLDS)
        targets = self.client.hgetall(TARGETS)
        goals = {}
        for field, seconds in thresholds.items():
            tenant_id, _, queue_id = _text(field).partition(SEP)
            target = targets.get(field)
            goals[(tenant_id, queue_id)] = AnswerTarget(
                timedelta(seconds=float(seconds)),
                DEFAULT_SERVICE_LEVEL_TARGET if target is None else float(target),
            )
        return goals

    def first_answer(self, tenant_id: str, contact_id: str) -> bool:
        """Whether this is the contact's first answer: a contact connected again after a transfer
        is answered once, as it entered the queues once, and a redelivered answer is not counted."""
        key = f"{PREFIX}answered:{_field(tenant_id, contact_id)}"
        return bool(self.client.set(key, 1, nx=True, ex=ANSWERED_MEMORY))

    # -- agents --

    def agent_status(self, tenant_id: str, agent_id: str, status: str, at: datetime) -> StateTime | None:
        """Record the agent's status ('' once removed); the stretch it closes, None when the change
        is not newer or no state is known."""
        closed = self._agent_status(
            keys=[_agent(tenant_id, agent_id), AGENT_COUNTS], args=[tenant_id, status, _ms(at)]
        )
        return _stretch(closed[0], closed[2], closed[1]) if closed else None

    def agent_state(self, tenant_id: str, agent_id: str, state: str, at: datetime) -> StateTime | None:
        """Record the agent's state; the stretch it closes, None when the change is not newer or no
        earlier state is known."""
        closed = self._agent_state(keys=[_agent(tenant_id, agent_id)], args=[state, _ms(at)])
        return _stretch(closed[0], closed[2], closed[1]) if closed else None

    def agent_counts(self) -> Iterable[tuple[tuple[str, str], float]]:
        return _counts(self.client.hgetall(AGENT_COUNTS))

    # -- tickets --

    def ticket_created(
        self,
        tenant_id: str,
        ticket_id: str,
        version: int,
        status: str,
        created_at: datetime,
        facts: TicketFacts,
    ) -> bool:
        return bool(
            self._ticket_created(
                keys=[_ticket(tenant_id, ticket_id), TICKET_COUNTS],
                args=[tenant_id, version, status, _ms(created_at), facts.channel, facts.department],
            )
        )

    def ticket_status(self, tenant_id: str, ticket_id: str, version: int, status: str) -> bool:
        """Move the ticket to `status`; False when the version is not above the stored one."""
        return bool(
            self._ticket_status(
                keys=[_ticket(tenant_id, ticket_id), TICKET_COUNTS],
                args=[tenant_id, version, status, int(CLOSED_MEMORY.total_seconds())],
            )
        )

    def ticket_facts(self, tenant_id: str, ticket_id: str) -> TicketFacts | None:
        created, channel, department = self.client.hmget(
            _ticket(tenant_id, ticket_id), ["created", "channel", "department"]
        )
        if created is None:
            return None
        return TicketFacts(
            datetime.fromtimestamp(int(created) / 1000, UTC),
            _text(channel),
            _text(department),
        )

    def ticket_counts(self) -> Iterable[tuple[tuple[str, str], float]]:
        return _counts(self.client.hgetall(TICKET_COUNTS))

    def first_contact_solve(self, tenant_id: str, ticket_id: str, solved_at: datetime) -> bool:
        """Remember a solve on the first contact; False when it was already remembered (a redelivery)."""
        return bool(self.client.set(_fcr(tenant_id, ticket_id), _ms(solved_at), nx=True, ex=FCR_MEMORY))

    def first_contact_reopened(self, tenant_id: str, ticket_id: str) -> datetime | None:
        """When the reopened ticket was solved on its first contact, if it was and this is its first
        reopen seen; a redelivered reopen finds the mark left by the first one and gets None."""
        raw = self._fcr_reopened(keys=[_fcr(tenant_id, ticket_id)])
        return None if raw is None else datetime.fromtimestamp(int(raw) / 1000, UTC)


def _stretch(state: bytes, status: bytes, milliseconds: int) -> StateTime | None:
    if not state:
        return None
    return StateTime(state.decode(), status.decode(), timedelta(milliseconds=int(milliseconds)))


def _field(*parts: str) -> str:
    return SEP.join(parts)


def _agent(tenant_id: str, agent_id: str) -> str:
    return f"{PREFIX}agent:{_field(tenant_id, agent_id)}"


def _ticket(tenant_id: str, ticket_id: str) -> str:
    return f"{PREFIX}ticket:{_field(tenant_id, ticket_id)}"


def _fcr(tenant_id: str, ticket_id: str) -> str:
    return f"{PREFIX}fcr:{_field(tenant_id, ticket_id)}"


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _text(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    return raw.decode() if isinstance(raw, bytes) else raw


def _counts(raw: Mapping[bytes | str, bytes | str]) -> list[tuple[tuple[str, str], float]]:
    counts = []
    for field, value in raw.items():
        tenant_id, _, status = _text(field).partition(SEP)
        counts.append(((tenant_id, status), float(value)))
    return counts
