"""The little state the exporter needs, in the metrics service's own Redis, shared by its replicas.

Counters count events, so they need no state; what does need it is whatever one event alone cannot
tell: a queue's service-level threshold when its contacts are answered, an agent's status and state
before a change, a ticket's status before a change and its creation instant at its first reply, and
whether a solved ticket was a first-contact resolution when it is reopened. What such an event
counts is counted in the script that reads the state, into the replica's counts
(services.metrics.counts), so that the state and the count move together or not at all.

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis

from helpline.events import Envelope
from services.metrics.counts import Counts
from services.metrics.domain.kpis import FCR_REOPEN_WINDOW
from services.metrics.labels import EVERY_CHANNEL
from services.metrics.round_trip import Arg, Lua, Reply, RoundTrip

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
    # A replica's counts, from its last count or scrape: far longer than a replica's container takes
    # to start again, after which it carries on from them.
    counts: timedelta = timedelta(days=7)


# Time in a state is counted in segments, each closed by a change of state or of status, so that
# each segment has one status: idle time counts as open for contacts only while available. The
# agent's `segment_at` is where the current segment began.

# KEYS: the agent, the counts by status, the replica's counts. ARGV: tenant, the new status ('' when
# the agent is removed), the change instant (epoch ms), the milliseconds a removed agent's record is
# kept, the start of the state-time counter's fields (its name and the tenant). Unless not newer
# than the last applied status change, counts the segment it closes, when its state is known, under
# the status left. An agent with no state known who logs in (from offline, or first seen) is idle:
# the router creates agents idle and tells only changes of state, so the stretch from the login to
# the first offer would otherwise count nowhere. A removal sets the record to expire, and a status
# after it (the agent added again) keeps it for good.
_AGENT_STATUS = Lua("""
local at = tonumber(ARGV[3])
if at <= tonumber(redis.call('HGET', KEYS[1], 'status_at') or '-1') then return end
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
if state ~= '' then
  redis.call('HINCRBYFLOAT', KEYS[3], ARGV[5] .. '\\31' .. old .. '\\31' .. state,
             string.format('%.17g', math.max(at - since, 0) / 1000))
end
""")

# KEYS: the agent, the replica's counts. ARGV: the new state, the change instant (epoch ms), the
# milliseconds a removed agent's record is kept, the start of the state-time counter's fields. The
# record of an agent with no status (removed, or not logged in as far as this service knows)
# expires as a removed agent's does. Unless not newer than the last applied state change, counts
# the segment it closes, when the state left is known, as _AGENT_STATUS does.
_AGENT_STATE = Lua("""
local at = tonumber(ARGV[2])
if at <= tonumber(redis.call('HGET', KEYS[1], 'state_at') or '-1') then return end
local old = redis.call('HGET', KEYS[1], 'state') or ''
local status = redis.call('HGET', KEYS[1], 'status') or ''
local segment = redis.call('HGET', KEYS[1], 'segment_at')
local since = tonumber(segment or ARGV[2])
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'state_at', ARGV[2])
if not segment or at > since then redis.call('HSET', KEYS[1], 'segment_at', ARGV[2]) end
if status == '' then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if old ~= '' then
  redis.call('HINCRBYFLOAT', KEYS[2], ARGV[4] .. '\\31' .. status .. '\\31' .. old,
             string.format('%.17g', math.max(at - since, 0) / 1000))
end
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


# KEYS: the ticket's first-contact solve, the replica's counts. ARGV: the reopen instant (epoch
# microseconds), the FCR window (microseconds), the field of the reopens within it. The first reopen
# of a ticket solved on its first contact counts within the window (inclusive, as
# domain.kpis.first_contact_resolved has it) or not at all, and leaves a mark for the rest of the
# key's life, so a redelivered reopen counts nothing.
_FCR_REOPENED = Lua("""
local solved = redis.call('GET', KEYS[1])
if not solved or solved == 'reopened' then return end
redis.call('SET', KEYS[1], 'reopened', 'KEEPTTL')
if math.max(tonumber(ARGV[1]) - tonumber(solved) * 1000, 0) <= tonumber(ARGV[2]) then
  redis.call('HINCRBYFLOAT', KEYS[2], ARGV[3], 1)
end
""")

# KEYS: the contact's first-answer mark, the replica's counts, the queues' thresholds. ARGV: the
# mark's life (ms), the queue's field in the thresholds, the wait (seconds), the field of answers
# within the threshold, then pairs of a field and its increment. The contact's first answer makes
# the increments, and counts within the threshold when its queue has one the wait is within (an
# answer in a queue whose threshold was never seen counts as not within, so service level reads low,
# and visibly so, rather than high).
_ANSWERED = Lua("""
if not redis.call('SET', KEYS[1], 1, 'NX', 'PX', ARGV[1]) then return end
for i = 5, #ARGV, 2 do redis.call('HINCRBYFLOAT', KEYS[2], ARGV[i], ARGV[i + 1]) end
local within = redis.call('HGET', KEYS[3], ARGV[2])
if within and tonumber(ARGV[3]) <= tonumber(within) then redis.call('HINCRBYFLOAT', KEYS[2], ARGV[4], 1) end
""")

# KEYS: the event's delivery mark, the replica's counts, the ticket. ARGV: the mark's life (ms), the
# reply's instant (epoch microseconds), the start of the first-reply histogram's fields (its name
# and the tenant), then its buckets' upper bounds (seconds). The first delivery of a ticket's first
# reply observes the time from the ticket's creation, under the ticket's channel and department;
# returns 2 when the ticket's creation is not known (created before the metrics state), 1 when
# observed, 0 when delivered before.
_FIRST_REPLY = Lua("""
if not redis.call('SET', KEYS[1], 1, 'NX', 'PX', ARGV[1]) then return 0 end
local facts = redis.call('HMGET', KEYS[3], 'created', 'channel', 'department')
if not facts[1] then return 2 end
local seconds = math.max((tonumber(ARGV[2]) - tonumber(facts[1]) * 1000) / 1000000, 0)
local bucket = #ARGV - 3
for i = 4, #ARGV do
  if seconds <= tonumber(ARGV[i]) then bucket = i - 4 break end
end
local start = ARGV[3] .. '\\31' .. (facts[2] or '') .. '\\31' .. (facts[3] or '') .. '\\31'
redis.call('HINCRBYFLOAT', KEYS[2], start .. bucket, 1)
redis.call('HINCRBYFLOAT', KEYS[2], start .. 'sum', string.format('%.17g', seconds))
return 1
""")


@dataclass(frozen=True)
class AnswerTarget:
    """A queue's service-level goal: `share` of its contacts answered within `threshold`."""

    threshold: timedelta
    share: float


@dataclass(frozen=True)
class TicketFacts:
    """What the exporter remembers of a ticket for events that do not carry it."""

    created_at: datetime
    channel: str
    department: str


class MetricsState:
    """The exporter's state; each change or read of an event is queued on the batch's `RoundTrip`
    and answers, if anything, with a `Reply` read once the trip has run."""

    def __init__(self, client: redis.Redis, counts: Counts, retention: Retention | None = None) -> None:
        self.client = client
        self.counts = counts
        self.retention = retention or Retention()

    # -- queues --

    def set_threshold(self, trip: RoundTrip, tenant_id: str, queue_id: str, threshold: timedelta) -> None:
        trip.call("HSET", THRESHOLDS, _field(tenant_id, queue_id), threshold.total_seconds())

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

    def answered(
        self,
        trip: RoundTrip,
        tenant_id: str,
        contact_id: str,
        queue_id: str,
        wait: float,
        within: str,
        moves: Sequence[Arg],
    ) -> None:
        """Make `moves` on the contact's first answer, and count it `within` its queue's threshold
        when the wait is: a contact connected again after a transfer is answered once, as it
        entered the queues once, and a redelivered answer is not counted."""
        trip.script(
            _ANSWERED,
            [f"{PREFIX}answered:{_field(tenant_id, contact_id)}", self.counts.key, THRESHOLDS],
            [_ms_of(self.retention.answered), _field(tenant_id, queue_id), wait, within, *moves],
        )

    def delivered(self, trip: RoundTrip, source: str, event_id: str, moves: Sequence[Arg]) -> None:
        """Make `moves` on the event's first delivery (CloudEvents' source and id name one event),
        so that what it counts is counted once however often it is delivered."""
        self.counts.once(trip, self._delivery(source, event_id), 1, _ms_of(self.retention.delivered), moves)

    def first_reply(
        self,
        trip: RoundTrip,
        event: Envelope,
        ticket: tuple[str, str],
        at_us: int,
        histogram: tuple[str, Sequence[float]],
    ) -> Reply[int]:
        """Observe the (tenant, ticket)'s first reply at `at_us` (epoch microseconds) on the first
        delivery of its event, into the histogram of the fields' start and bucket bounds given; 2
        when the ticket's creation is not known."""
        start, bounds = histogram
        trip.script(
            _FIRST_REPLY,
            [self._delivery(event.source, event.id), self.counts.key, _ticket(*ticket)],
            [_ms_of(self.retention.delivered), at_us, start, *bounds],
        )
        return trip.reply(int)

    @staticmethod
    def _delivery(source: str, event_id: str) -> str:
        return f"{PREFIX}delivered:{_field(source, event_id)}"

    # -- agents --

    def agent_status(
        self, trip: RoundTrip, tenant_id: str, agent_id: str, status: str, at_ms: int, state_time: str
    ) -> None:
        """Record the agent's status ('' once removed) as of `at_ms` (epoch ms), unless not newer,
        counting the stretch it closes into the counter whose fields begin with `state_time`."""
        trip.script(
            _AGENT_STATUS,
            [_agent(tenant_id, agent_id), AGENT_COUNTS, self.counts.key],
            [tenant_id, status, at_ms, _ms_of(self.retention.removed_agent), state_time],
        )

    def agent_state(
        self, trip: RoundTrip, tenant_id: str, agent_id: str, state: str, at_ms: int, state_time: str
    ) -> None:
        """Record the agent's state as of `at_ms` (epoch ms), unless not newer, counting the
        stretch it closes as `agent_status` does."""
        trip.script(
            _AGENT_STATE,
            [_agent(tenant_id, agent_id), self.counts.key],
            [state, at_ms, _ms_of(self.retention.removed_agent), state_time],
        )

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

    def ticket_counts(self) -> Iterable[tuple[tuple[str, str], float]]:
        return _counts(self.client.hgetall(TICKET_COUNTS))

    def first_contact_solve(
        self, trip: RoundTrip, tenant_id: str, ticket_id: str, solved_at: datetime, moves: Sequence[Arg]
    ) -> None:
        """Remember a solve on the first contact, making `moves` the first time (not on a redelivery)."""
        self.counts.once(
            trip,
            _fcr(tenant_id, ticket_id),
            _ms(solved_at),
            _ms_of(self.retention.first_contact_solve),
            moves,
        )

    def first_contact_reopened(
        self, trip: RoundTrip, tenant_id: str, ticket_id: str, at_us: int, window: timedelta, within: str
    ) -> None:
        """Count `within` the first reopen (at `at_us`, epoch microseconds) of a ticket solved on its
        first contact when it came within `window` of the solve; a redelivered reopen finds the mark
        left by the first one and counts nothing."""
        trip.script(
            _FCR_REOPENED,
            [_fcr(tenant_id, ticket_id), self.counts.key],
            [at_us, window // timedelta(microseconds=1), within],
        )


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
