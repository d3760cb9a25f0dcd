"""The little state the exporter needs, in the metrics service's own Redis, shared by its replicas.

Counters count events, so they need no state; what does need it is whatever one event alone cannot
tell: a queue's service-level threshold when its contacts are answered, an agent's status and state
before a change, a ticket's status before a change and its creation instant at its first reply, and
whether a solved ticket was a first-contact resolution when it is reopened.

Each change is one command or one Lua script, so replicas sharing the Redis never interleave, and
each is idempotent under the bus's at-least-once delivery: agent changes apply only when newer than
the last applied `changed_at`, ticket changes only when their version is above the stored one, so
a redelivered or out-of-order event changes nothing. The changes and reads of a batch of events go
to Redis together, in one `RoundTrip`.

The per-tenant counts of agents by status and of tickets by status live beside the records they
count, in one hash each (field `tenant<SEP>status`), changed in the same script as the record, and
are read whole at scrape time: every replica exports the same figure, so rules aggregate those
gauges with `max without(instance)`, never `sum`.

Every record has an end of life (docs/metrics.md, Retention): a mark kept per contact or ticket
expires after its `Retention`, set by the command or script that makes it final, and a removed
queue's or agent's entries go with it. Each retention is counted from the change that made the
record final, and outlasts how far back an event that could still need the record can be
delivered again: events of one contact, agent or ticket come in order on one partition, so only a
redelivery (a consumer group rewound to an offset before the final event) can bring an older one
after it. What stays for good is bounded by the configuration: the queues' goals and channels, the
agents not removed, the counts per tenant and status, and the tickets not closed (the backlog).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from helpline.clock import Clock
from services.metrics.claims import Claim
from services.metrics.domain.kpis import FCR_REOPEN_WINDOW
from services.metrics.labels import EVERY_CHANNEL
from services.metrics.round_trip import Arg, Known, Lua, Reply, RoundTrip

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
# A replica keeps the queues' thresholds this long between reads of them all: every answer needs its
# queue's, and a threshold changed through another replica reaches this one within this.
THRESHOLDS_KEPT = timedelta(seconds=10)


@dataclass(frozen=True)
class Retention:
    """How long each mark outlives what it tracks."""

    # A contact's first answer, from that answer: far longer than a contact stays in the queues (a
    # transfer connects it again within its call) and than its events are redelivered.
    answered: timedelta = timedelta(days=1)
    # A closed ticket's record, from the close: a closed ticket is immutable, so only redeliveries
    # of its earlier events follow, and the record stays as long as the tickets topic keeps them
    # (30 days), so that even a consumer group rewound to the topic's start finds each version
    # applied; a creation replayed after the record went would count the ticket in the backlog
    # again.
    closed_ticket: timedelta = timedelta(days=30)
    # A solve on the first contact, from the solve: the reopen window, and a day of slack for a
    # reopen delivered late.
    first_contact_solve: timedelta = FCR_REOPEN_WINDOW + timedelta(days=1)
    # A removed agent's record, from the removal: as long as the agents topic keeps the agent's
    # older changes (7 days), which must still find the removal's instant and be ignored.
    removed_agent: timedelta = timedelta(days=7)
    # A counted event's delivery, from the first: an event comes again up to an outage's length
    # later (a relay publishing again the entries it could not acknowledge while Redis was away, a
    # group handing over again the records it could not commit while Kafka was away).
    delivered: timedelta = timedelta(hours=1)


# Time in a state is counted in segments, each closed by a change of state or of status, so that
# each segment has one status: idle time counts as open for contacts only while available. The
# agent's `segment_at` is where the current segment began.

# KEYS: the agent, the counts. ARGV: tenant, the new status ('' when the agent is removed), the
# change instant (epoch ms), the milliseconds a removed agent's record is kept. Returns nil when not
# newer than the last applied status change, else the segment it closes: the state ('' for none
# known), its milliseconds and the status left, as one string with SEP between them (a reply of one
# string is read back in a third of the time of a list of three). An agent with no state known who
# logs in (from offline, or first seen) is idle: the router creates agents idle and tells only
# changes of state, so the stretch from the login to the first offer would otherwise count nowhere.
# A removal sets the record to expire, and a status after it (the agent added again) keeps it for
# good.
_AGENT_STATUS = Lua("""
local at = tonumber(ARGV[3])
if at <= tonumber(redis.call('HGET', KEYS[1], 'status_at') or '-1') then return false end
local old = redis.call('HGET', KEYS[1], 'status') or ''
local state = redis.call('HGET', KEYS[1], 'state') or ''
local segment = redis.call('HGET', KEYS[1], 'segment_at')
local since = tonumber(segment or ARGV[3])
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'status_at', ARGV[3])
if not segment or at > since then redis.call('HSET', KEYS[1], 'segment_at', ARGV[3]) end
if state == '' and (old == '' or old == 'offline') and ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'state', 'idle', 'state_at', ARGV[3])
end
if old ~= ARGV[2] then
  if old ~= '' then redis.call('HINCRBY', KEYS[2], ARGV[1] .. '\\31' .. old, -1) end
  if ARGV[2] ~= '' then redis.call('HINCRBY', KEYS[2], ARGV[1] .. '\\31' .. ARGV[2], 1) end
end
if ARGV[2] == '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
else
  redis.call('PERSIST', KEYS[1])
end
return state .. '\\31' .. math.max(at - since, 0) .. '\\31' .. old
""")

# KEYS: the agent. ARGV: the new state, the change instant (epoch ms), the milliseconds a removed
# agent's record is kept. The record of an agent with no status (removed, or not logged in as far
# as this service knows) expires as a removed agent's does. Returns nil when not newer than the
# last applied state change, else the segment it closes, as _AGENT_STATUS does.
_AGENT_STATE = Lua("""
local at = tonumber(ARGV[2])
if at <= tonumber(redis.call('HGET', KEYS[1], 'state_at') or '-1') then return false end
local old = redis.call('HGET', KEYS[1], 'state') or ''
local status = redis.call('HGET', KEYS[1], 'status') or ''
local segment = redis.call('HGET', KEYS[1], 'segment_at')
local since = tonumber(segment or ARGV[2])
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'state_at', ARGV[2])
if not segment or at > since then redis.call('HSET', KEYS[1], 'segment_at', ARGV[2]) end
if status == '' then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return old .. '\\31' .. math.max(at - since, 0) .. '\\31' .. status
""")

# KEYS: the ticket, the counts. ARGV: tenant, version, status, created (epoch ms), channel,
# department. A ticket already known (from a redelivery, or a status change read first) keeps its
# status and only learns what creation tells.
_TICKET_CREATED = Lua("""
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
""")

# KEYS: the ticket, the counts. ARGV: tenant, version, the new status, milliseconds a closed
# ticket's record is kept. Returns 1 when applied, 0 when the version is not above the stored one.
_TICKET_STATUS = Lua("""
local version = tonumber(ARGV[2])
if version <= tonumber(redis.call('HGET', KEYS[1], 'version') or '-1') then return 0 end
local old = redis.call('HGET', KEYS[1], 'status') or ''
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'status', ARGV[3])
if old ~= ARGV[3] then
  if old ~= '' and old ~= 'closed' then redis.call('HINCRBY', KEYS[2], ARGV[1] .. '\\31' .. old, -1) end
  if ARGV[3] ~= 'closed' then redis.call('HINCRBY', KEYS[2], ARGV[1] .. '\\31' .. ARGV[3], 1) end
end
if ARGV[3] == 'closed' then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return 1
""")


# KEYS: the ticket's first-contact solve. Returns the solve instant (epoch ms) the first time, nil
# after, leaving a mark for the rest of the key's life so a redelivered solve cannot set it again.
_FCR_REOPENED = Lua("""
local solved = redis.call('GET', KEYS[1])
if not solved or solved == 'reopened' then return false end
redis.call('SET', KEYS[1], 'reopened', 'KEEPTTL')
return solved
""")


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
    """The exporter's state; each change or read of an event is queued on the batch's `RoundTrip`
    and answers, if anything, with a `Reply` read once the trip has run."""

    def __init__(self, client: redis.Redis, clock: Clock, retention: Retention | None = None) -> None:
        self.client = client
        self._clock = clock
        self.retention = retention or Retention()
        self._thresholds: dict[str, timedelta] = {}
        self._thresholds_read_at: datetime | None = None

    # -- queues --

    def read_thresholds(self) -> None:
        """Refresh the thresholds this replica keeps, when THRESHOLDS_KEPT has passed since it last
        read them; called before a batch, whose own changes then go on top."""
        now = self._clock.now()
        if self._thresholds_read_at is not None and now - self._thresholds_read_at < THRESHOLDS_KEPT:
            return
        raw = self.client.hgetall(THRESHOLDS)
        self._thresholds = {_text(field): timedelta(seconds=float(seconds)) for field, seconds in raw.items()}
        self._thresholds_read_at = now

    def set_threshold(self, trip: RoundTrip, tenant_id: str, queue_id: str, threshold: timedelta) -> None:
        field = _field(tenant_id, queue_id)
        trip.call("HSET", THRESHOLDS, field, threshold.total_seconds())
        self._thresholds[field] = threshold

    def threshold(
        self, trip: RoundTrip, tenant_id: str, queue_id: str
    ) -> Known[timedelta | None] | Reply[timedelta | None]:
        """The queue's threshold as this replica keeps it, or from Redis for a queue it does not
        know yet (configured through another replica since it last read them, or not at all)."""
        field = _field(tenant_id, queue_id)
        known = self._thresholds.get(field)
        if known is not None:
            return Known(known)
        trip.call("HGET", THRESHOLDS, field)
        return trip.reply(_seconds)

    def add_queue_channels(
        self, trip: RoundTrip, tenant_id: str, queue_id: str, channels: Iterable[str]
    ) -> None:
        """Remember the queue's channels, whose series every replica then exports from zero."""
        items: list[Arg] = []
        for channel in channels:
            items += [_field(tenant_id, queue_id, channel), 1]
        if items:
            trip.call("HSET", QUEUE_CHANNELS, *items)

    def queue_channels(self) -> list[tuple[str, str, str]]:
        known = []
        for field in self.client.hkeys(QUEUE_CHANNELS):
            tenant_id, queue_id, channel = _text(field).split(SEP)
            known.append((tenant_id, queue_id, channel))
        return known

    def set_target(self, trip: RoundTrip, tenant_id: str, queue_id: str, target: float) -> None:
        trip.call("HSET", TARGETS, _field(tenant_id, queue_id), target)

    def remove_queue(self, trip: RoundTrip, tenant_id: str, queue_id: str) -> None:
        """Forget a removed queue's goal and channels, so no replica exports its zero series again.
        A configuration or snapshot of it delivered after the removal brings them back, as it
        would a queue configured again."""
        field = _field(tenant_id, queue_id)
        trip.call("HDEL", THRESHOLDS, field)
        trip.call("HDEL", TARGETS, field)
        trip.call(
            "HDEL", QUEUE_CHANNELS, *(_field(tenant_id, queue_id, channel) for channel in EVERY_CHANNEL)
        )
        self._thresholds.pop(field, None)

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

    def first_answer(self, trip: RoundTrip, tenant_id: str, contact_id: str, token: str) -> Claim:
        """The contact's first-answer mark (services.metrics.claims): a contact connected again
        after a transfer is answered once, as it entered the queues once, and a redelivered answer
        is not counted."""
        return self._claim(
            trip, f"{PREFIX}answered:{_field(tenant_id, contact_id)}", token, self.retention.answered
        )

    def first_delivery(self, trip: RoundTrip, source: str, event_id: str, token: str) -> Claim:
        """The event's delivery mark (CloudEvents' source and id name one event), so that what it
        counts is counted once however often it is delivered."""
        return self._claim(
            trip, f"{PREFIX}delivered:{_field(source, event_id)}", token, self.retention.delivered
        )

    @staticmethod
    def _claim(trip: RoundTrip, key: str, token: str, keep: timedelta) -> Claim:
        # GET beside NX (Redis 7.0): the trip that had made the mark, or nil when this one did.
        trip.call("SET", key, token, "NX", "GET", "PX", _ms_of(keep))
        return Claim(key, token, trip.reply(_token))

    # -- agents --

    def agent_status(
        self, trip: RoundTrip, tenant_id: str, agent_id: str, status: str, at_ms: int
    ) -> Reply[StateTime | None]:
        """Record the agent's status ('' once removed) as of `at_ms` (epoch ms); the stretch it
        closes, None when the change is not newer or no state is known."""
        trip.script(
            _AGENT_STATUS,
            [_agent(tenant_id, agent_id), AGENT_COUNTS],
            [tenant_id, status, at_ms, _ms_of(self.retention.removed_agent)],
        )
        return trip.reply(_stretch)

    def agent_state(
        self, trip: RoundTrip, tenant_id: str, agent_id: str, state: str, at_ms: int
    ) -> Reply[StateTime | None]:
        """Record the agent's state as of `at_ms` (epoch ms); the stretch it closes, None when the
        change is not newer or no earlier state is known."""
        trip.script(
            _AGENT_STATE, [_agent(tenant_id, agent_id)], [state, at_ms, _ms_of(self.retention.removed_agent)]
        )
        return trip.reply(_stretch)

    def agent_counts(self) -> Iterable[tuple[tuple[str, str], float]]:
        return _counts(self.client.hgetall(AGENT_COUNTS))

    # -- tickets --

    def ticket_created(
        self,
        trip: RoundTrip,
        tenant_id: str,
        ticket_id: str,
        version: int,
        status: str,
        created_at: datetime,
        facts: TicketFacts,
    ) -> None:
        trip.script(
            _TICKET_CREATED,
            [_ticket(tenant_id, ticket_id), TICKET_COUNTS],
            [tenant_id, version, status, _ms(created_at), facts.channel, facts.department],
        )

    def ticket_status(
        self, trip: RoundTrip, tenant_id: str, ticket_id: str, version: int, status: str
    ) -> None:
        """Move the ticket to `status`, unless the version is not above the stored one."""
        trip.script(
            _TICKET_STATUS,
            [_ticket(tenant_id, ticket_id), TICKET_COUNTS],
            [tenant_id, version, status, _ms_of(self.retention.closed_ticket)],
        )

    def ticket_facts(self, trip: RoundTrip, tenant_id: str, ticket_id: str) -> Reply[TicketFacts | None]:
        trip.call("HMGET", _ticket(tenant_id, ticket_id), "created", "channel", "department")
        return trip.reply(_facts)

    def ticket_counts(self) -> Iterable[tuple[tuple[str, str], float]]:
        return _counts(self.client.hgetall(TICKET_COUNTS))

    def first_contact_solve(
        self, trip: RoundTrip, tenant_id: str, ticket_id: str, solved_at: datetime
    ) -> Reply[bool]:
        """Remember a solve on the first contact; False when it was already remembered (a redelivery)."""
        trip.call(
            "SET",
            _fcr(tenant_id, ticket_id),
            _ms(solved_at),
            "NX",
            "PX",
            _ms_of(self.retention.first_contact_solve),
        )
        return trip.reply(bool)

    def first_contact_reopened(
        self, trip: RoundTrip, tenant_id: str, ticket_id: str
    ) -> Reply[datetime | None]:
        """When the reopened ticket was solved on its first contact, if it was and this is its first
        reopen seen; a redelivered reopen finds the mark left by the first one and gets None."""
        trip.script(_FCR_REOPENED, [_fcr(tenant_id, ticket_id)])
        return trip.reply(_instant)


def _stretch(closed: bytes | None) -> StateTime | None:
    if not closed:
        return None
    state, milliseconds, status = closed.decode().split(SEP)
    if not state:
        return None
    return StateTime(state, status, timedelta(milliseconds=int(milliseconds)))


def _seconds(raw: bytes | None) -> timedelta | None:
    return None if raw is None else timedelta(seconds=float(raw))


def _facts(raw: list[bytes | None]) -> TicketFacts | None:
    created, channel, department = raw
    if created is None:
        return None
    return TicketFacts(_from_ms(created), _text(channel), _text(department))


def _instant(raw: bytes | None) -> datetime | None:
    return None if raw is None else _from_ms(raw)


def _from_ms(raw: bytes) -> datetime:
    return datetime.fromtimestamp(int(raw) / 1000, UTC)


def _field(*parts: str) -> str:
    return SEP.join(parts)


def _agent(tenant_id: str, agent_id: str) -> str:
    return f"{PREFIX}agent:{tenant_id}{SEP}{agent_id}"


def _ticket(tenant_id: str, ticket_id: str) -> str:
    return f"{PREFIX}ticket:{_field(tenant_id, ticket_id)}"


def _fcr(tenant_id: str, ticket_id: str) -> str:
    return f"{PREFIX}fcr:{_field(tenant_id, ticket_id)}"


def _ms_of(span: timedelta) -> int:
    # A whole millisecond at least: Redis refuses an expiry of 0.
    return max(1, math.ceil(span / timedelta(milliseconds=1)))


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _token(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode()


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
