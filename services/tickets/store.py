"""Tickets in Redis: every change is one Lua script that checks the version, writes the ticket,
appends its comment, moves its index entries, keeps the auto-close schedule, and appends its
events to the outbox.

Keys carry the tenant as a hash tag (`tk:{acme}:...`), so one tenant's keys share a cluster slot
and a script never crosses slots. Lists are answered from sorted-set indexes (one per filter
value, scored by `updated_at`), never by scanning tickets.

Every read is bounded: a ticket is one key of bounded fields; a ticket's comments (at most
`max_comments`, checked by the commit script) are read a page at a time, and one comment by its id
through the position the commit script recorded for it; a ticket list reads at most SCAN_BUDGET
index entries and a page of tickets.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from google.protobuf.message import Message

from helpline.events import new_event, to_record
from helpline.outbox import OutboxScript
from helpline.records import OutgoingRecord
from services.tickets.domain.errors import LimitReached
from services.tickets.domain.model import Comment, Status, Ticket, comment_from_json, comment_to_json
from services.tickets.domain.survey_settings import DEFAULT_SETTINGS, SurveyMark, SurveySettings

TOPIC = "helpline.tickets"
SOURCE = "/helpline/tickets"
OUTBOX_STREAM = "tickets:outbox"
TENANTS = "tickets:tenants"
# How long an idempotency key is remembered: a retry comes within seconds, a redelivered event
# within the consumer's last commit.
IDEMPOTENCY_TTL_S = 24 * 3600
# Enough for the longest real conversation; a ticket past it is a loop or an attack.
DEFAULT_MAX_COMMENTS = 10_000
# A list call reads at most this many index entries; past it, it returns what it found and a cursor.
SCAN_BUDGET = 5000
# A page of comments holds at most COMMENT_PAGE_MAX of them and stops early at COMMENT_PAGE_BYTES
# of stored comments (with at least one): a comment may hold 64 Ki characters, up to 768 KiB as
# stored (ASCII-escaped) JSON, so a page of large ones stays well below gRPC's 4 MiB message limit
# and costs the reader a few MiB, never the ticket's whole history.
COMMENT_PAGE_MAX = 100
COMMENT_PAGE_DEFAULT = 50
COMMENT_PAGE_BYTES = 1024 * 1024
# Tenants are read from their set a chunk at a time.
TENANT_SCAN_COUNT = 100

# KEYS: ticket, comments list, comment positions hash, due-to-close set, idempotency marker, the
# requester's survey mark, then the index sets to leave and to join. ARGV: expected version, ticket
# JSON, new version, comment JSON (or ''), comment id, most comments a ticket holds, due action
# (add|remove|''), due score, idempotency marker (or ''), its TTL, index sets to leave, to join,
# index score, ticket id, survey mark TTL in ms (or '' for none).
# The comment limit is checked on the list's length, in the script, so two writers can never both
# add the last comment a ticket may hold; a refusal writes nothing and emits nothing. The survey
# mark is checked the same way: of two solves asking one requester, the second finds the mark the
# first set and writes nothing, then decides again without the survey.
_COMMIT = """
local expected = tonumber(ARGV[1])
local raw = redis.call('GET', KEYS[1])
local current = 0
if raw then current = tonumber(cjson.decode(raw)['version']) end
if ARGV[9] ~= '' then
  local previous = redis.call('GET', KEYS[5])
  if previous then return {'idempotent', previous} end
end
if current ~= expected then return {'conflict', current} end
if ARGV[15] ~= '' and redis.call('EXISTS', KEYS[6]) == 1 then return {'surveyed', current} end
if ARGV[4] ~= '' then
  local held = redis.call('LLEN', KEYS[2])
  if held >= tonumber(ARGV[6]) then return {'full', held} end
end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[4] ~= '' then
  local held = redis.call('RPUSH', KEYS[2], ARGV[4])
  redis.call('HSET', KEYS[3], ARGV[5], held - 1)
end
if ARGV[7] == 'add' then
  redis.call('ZADD', KEYS[4], ARGV[8], ARGV[14])
elseif ARGV[7] == 'remove' then
  redis.call('ZREM', KEYS[4], ARGV[14])
end
if ARGV[9] ~= '' then
  redis.call('SET', KEYS[5], ARGV[9], 'EX', tonumber(ARGV[10]))
end
if ARGV[15] ~= '' then
  redis.call('SET', KEYS[6], ARGV[14], 'PX', tonumber(ARGV[15]))
end
local n_remove = tonumber(ARGV[11])
local n_add = tonumber(ARGV[12])
for i = 1, n_remove do redis.call('ZREM', KEYS[6 + i], ARGV[14]) end
for i = 1, n_add do redis.call('ZADD', KEYS[6 + n_remove + i], ARGV[13], ARGV[14]) end
emit_all()
return {'ok', tonumber(ARGV[3])}
"""

# KEYS: the tenant's survey settings. ARGV: the version they are expected at, the new settings
# JSON (with the next version). A lost race writes nothing and emits no audit event.
_PUT_SETTINGS = """
local raw = redis.call('GET', KEYS[1])
local current = 0
if raw then current = tonumber(cjson.decode(raw)['version']) end
if current ~= tonumber(ARGV[1]) then return {'conflict', current} end
redis.call('SET', KEYS[1], ARGV[2])
emit_all()
return {'ok', current + 1}
"""

# KEYS: comments list. ARGV: first position, most comments, most bytes. The page is cut here, in
# Redis, so the reader never receives more than the byte budget: the comment that would pass it
# starts the next page. Read in chunks of ten, so a cut page reads little past its end.
_COMMENT_PAGE = """
local first, most, budget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local total = redis.call('LLEN', KEYS[1])
local page, bytes, at = {}, 0, first
while #page < most and at < total do
  local chunk = redis.call('LRANGE', KEYS[1], at, math.min(at + 9, first + most - 1))
  for i = 1, #chunk do
    if #page > 0 and bytes + #chunk[i] > budget then return {page, total} end
    page[#page + 1] = chunk[i]
    bytes = bytes + #chunk[i]
  end
  at = at + #chunk
end
return {page, total}
"""

# KEYS: comments list, comment positions hash. ARGV: comment id.
_COMMENT_BY_ID = """
local at = redis.call('HGET', KEYS[2], ARGV[1])
if not at then return false end
return redis.call('LINDEX', KEYS[1], at)
"""

# KEYS: the index sorted sets to intersect. ARGV: tenant ticket-key prefix, direction (asc|desc),
# cursor score, cursor member, page size, minimum score (updated since), scan budget.
_LIST = """
local prefix, direction = ARGV[1], ARGV[2]
local cursor_score, cursor_member = ARGV[3], ARGV[4]
local page_size, min_score, budget = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local driver, smallest = 1, nil
for i = 1, #KEYS do
  local size = redis.call('ZCARD', KEYS[i])
  if smallest == nil or size < smallest then driver, smallest = i, size end
end
local found, scanned, offset, chunk = {}, 0, 0, 200
local last_score, last_member = nil, nil
while #found < page_size + 1 and scanned < budget do
  local batch
  if direction == 'desc' then
    local top = cursor_score ~= '' and cursor_score or '+inf'
    batch = redis.call('ZRANGE', KEYS[driver], top, min_score, 'BYSCORE', 'REV',
                       'LIMIT', offset, chunk, 'WITHSCORES')
  else
    local bottom = cursor_score ~= '' and cursor_score or min_score
    batch = redis.call('ZRANGE', KEYS[driver], bottom, '+inf', 'BYSCORE',
                       'LIMIT', offset, chunk, 'WITHSCORES')
  end
  if #batch == 0 then break end
  offset = offset + #batch / 2
  for i = 1, #batch, 2 do
    local member, score = batch[i], batch[i + 1]
    scanned = scanned + 1
    local after_cursor = true
    if cursor_score ~= '' and tonumber(score) == tonumber(cursor_score) then
      if direction == 'desc' then after_cursor = member < cursor_member
      else after_cursor = member > cursor_member end
    end
    if after_cursor then
      local everywhere = true
      for k = 1, #KEYS do
        if k ~= driver and not redis.call('ZSCORE', KEYS[k], member) then everywhere = false break end
      end
      if everywhere then
        if #found == page_size then
          return {found, last_score, last_member, 1}
        end
        found[#found + 1] = redis.call('GET', prefix .. member)
        last_score, last_member = score, member
      end
    end
    if scanned >= budget then break end
  end
end
if scanned >= budget and last_member then return {found, last_score, last_member, 1} end
return {found, last_score or '', last_member or '', 0}
"""


class VersionConflictError(Exception):
    def __init__(self, current: int) -> None:
        super().__init__(f"the ticket is at version {current}")
        self.current = current


class SurveyMarkTakenError(Exception):
    """Another solve asked the requester first: decide again, without the survey."""


class IdempotencyMismatchError(Exception):
    """The Idempotency-Key was used before with a different request."""


@dataclass(frozen=True)
class ListFilter:
    statuses: tuple[str, ...] = ()
    priority: str = ""
    assignee_id: str = ""
    group_id: str = ""
    requester_id: str = ""
    tag: str = ""
    department: str = ""
    updated_since: datetime | None = None


@dataclass(frozen=True)
class Page:
    tickets: list[Ticket]
    next_cursor: str = ""


@dataclass(frozen=True)
class CommentPage:
    comments: list[Comment]
    next_cursor: str = ""


@dataclass(frozen=True)
class CreateResult:
    ticket: Ticket
    created: bool


@dataclass(frozen=True)
class _Keys:
    tenant: str

    def base(self) -> str:
        return f"tk:{{{self.tenant}}}"

    def ticket(self, ticket_id: str) -> str:
        return f"{self.base()}:ticket:{ticket_id}"

    def comments(self, ticket_id: str) -> str:
        return f"{self.base()}:comments:{ticket_id}"

    def comment_positions(self, ticket_id: str) -> str:
        """comment id -> its position in the comments list, so one comment is found without the list."""
        return f"{self.base()}:comment-at:{ticket_id}"

    def due(self) -> str:
        return f"{self.base()}:due:close"

    def idempotency(self, key: str) -> str:
        return f"{self.base()}:idem:{key}"

    def index(self, name: str, value: str) -> str:
        return f"{self.base()}:idx:{name}:{value}"

    def survey_settings(self) -> str:
        return f"{self.base()}:settings:surveys"

    def survey_mark(self, requester_id: str) -> str:
        """Set while the requester may not be asked again; it expires with the throttle."""
        return f"{self.base()}:survey-mark:{requester_id}"


def index_entries(ticket: Ticket) -> set[str]:
    """The index keys a ticket belongs to: one per filterable value, and `all`."""
    keys = _Keys(ticket.tenant_id)
    entries = {
        keys.index("all", "-"),
        keys.index("status", ticket.status.value),
        keys.index("priority", ticket.priority.value),
        keys.index("department", ticket.department.value),
        keys.index("assignee", ticket.assignee_id or "-"),
        keys.index("group", ticket.group_id or "-"),
    }
    if ticket.requester_id:
        entries.add(keys.index("requester", ticket.requester_id))
    entries.update(keys.index("tag", tag) for tag in ticket.tags)
    return entries


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def records_for(events: Iterable[Message], ticket_id: str) -> list[OutgoingRecord]:
    return [to_record(new_event(event, source=SOURCE, subject=ticket_id), TOPIC) for event in events]


class TicketStore:
    def __init__(
        self,
        client: redis.Redis,
        close_after_ms: int,
        max_comments: int = DEFAULT_MAX_COMMENTS,
        idempotency_ttl_s: int = IDEMPOTENCY_TTL_S,
    ) -> None:
        self.client = client
        self.close_after_ms = close_after_ms
        self.max_comments = max_comments
        self.idempotency_ttl_s = idempotency_ttl_s
        self._commit = OutboxScript(client, OUTBOX_STREAM, _COMMIT)
        self._list = client.register_script(_LIST)
        self._comment_page = client.register_script(_COMMENT_PAGE)
        self._comment_by_id = client.register_script(_COMMENT_BY_ID)
        self._put_settings = OutboxScript(client, OUTBOX_STREAM, _PUT_SETTINGS)

    def survey_settings(self, tenant: str) -> tuple[SurveySettings, int]:
        """The tenant's survey settings and their version; the defaults at version 0 when never set."""
        raw = self.client.get(_Keys(tenant).survey_settings())
        if not raw:
            return DEFAULT_SETTINGS, 0
        stored = json.loads(raw)
        return SurveySettings.from_json(stored["settings"]), int(stored["version"])

    def put_survey_settings(
        self, tenant: str, settings: SurveySettings, expected_version: int, records: Sequence[OutgoingRecord]
    ) -> int:
        """Replace the settings if they are still at `expected_version`, emitting `records` (their
        audit event) with them; returns the new version, or raises VersionConflictError."""
        stored = {"version": expected_version + 1, "settings": settings.to_json()}
        reply = self._put_settings(
            keys=[_Keys(tenant).survey_settings()],
            args=[expected_version, json.dumps(stored, separators=(",", ":"))],
            records=records,
        )
        if reply[0] == b"conflict":
            raise VersionConflictError(int(reply[1]))
        return expected_version + 1

    def survey_marked(self, tenant: str, requester_id: str) -> bool:
        """Whether the requester was asked within the tenant's throttle."""
        return bool(self.client.exists(_Keys(tenant).survey_mark(requester_id)))

    def get(self, tenant: str, ticket_id: str) -> Ticket | None:
        raw = self.client.get(_Keys(tenant).ticket(ticket_id))
        return Ticket.from_json(json.loads(raw)) if raw else None

    def comment_page(self, tenant: str, ticket_id: str, *, page_size: int, cursor: str = "") -> CommentPage:
        """A page of the ticket's comments, oldest first: at most `page_size` (and COMMENT_PAGE_MAX)
        and COMMENT_PAGE_BYTES of them. A cursor this store did not issue for this ticket raises
        ValueError."""
        keys = _Keys(tenant)
        first = decode_comment_cursor(cursor, ticket_id)
        raws, total = self._comment_page(
            keys=[keys.comments(ticket_id)],
            args=[first, min(page_size, COMMENT_PAGE_MAX), COMMENT_PAGE_BYTES],
        )
        after = first + len(raws)
        return CommentPage(
            [comment_from_json(json.loads(raw)) for raw in raws],
            encode_comment_cursor(after, ticket_id) if after < total else "",
        )

    def comment(self, tenant: str, ticket_id: str, comment_id: str) -> Comment | None:
        """One comment of the ticket by its id, read by its recorded position."""
        keys = _Keys(tenant)
        raw = self._comment_by_id(
            keys=[keys.comments(ticket_id), keys.comment_positions(ticket_id)], args=[comment_id]
        )
        return comment_from_json(json.loads(raw)) if raw else None

    def create(
        self,
        ticket: Ticket,
        events: Sequence[Message],
        *,
        comment: Comment | None = None,
        idempotency_key: str = "",
        fingerprint: str = "",
    ) -> CreateResult:
        """Write a new ticket. With an idempotency key, a retry returns the first result (and a
        reuse of the key for another request raises IdempotencyMismatchError)."""
        self.client.sadd(TENANTS, ticket.tenant_id)
        marker = f"{ticket.ticket_id}\n{fingerprint}" if idempotency_key else ""
        reply = self._run(None, ticket, events, comment, idempotency_key, marker)
        if reply[0] == b"idempotent":
            first_id, _, first_fingerprint = reply[1].decode().partition("\n")
            if first_fingerprint != fingerprint:
                raise IdempotencyMismatchError(idempotency_key)
            first = self.get(ticket.tenant_id, first_id)
            if first is None:
                raise RuntimeError(f"idempotency key {idempotency_key} names a missing ticket {first_id}")
            return CreateResult(first, created=False)
        if reply[0] == b"conflict":
            raise VersionConflictError(int(reply[1]))
        return CreateResult(ticket, created=True)

    def commit(
        self,
        old: Ticket,
        new: Ticket,
        events: Sequence[Message],
        comment: Comment | None = None,
        survey_mark: SurveyMark | None = None,
    ) -> Ticket:
        """Write `new` if the stored ticket is still at `old.version`; else raise VersionConflictError.
        A comment past `max_comments` is refused (LimitReached) and nothing is written; so is a
        survey whose requester another solve marked meanwhile (SurveyMarkTakenError)."""
        reply = self._run(old, new, events, comment, "", "", survey_mark)
        if reply[0] == b"conflict":
            raise VersionConflictError(int(reply[1]))
        if reply[0] == b"surveyed":
            raise SurveyMarkTakenError(new.ticket_id)
        if reply[0] == b"full":
            raise LimitReached(
                "comment_limit_reached",
                f"ticket {new.ticket_id} holds {int(reply[1])} comments, the most a ticket may hold",
                limit=str(self.max_comments),
            )
        return new

    def _run(
        self,
        old: Ticket | None,
        new: Ticket,
        events: Sequence[Message],
        comment: Comment | None,
        idempotency_key: str,
        marker: str,
        survey_mark: SurveyMark | None = None,
    ) -> list[bytes]:
        keys = _Keys(new.tenant_id)
        old_entries = index_entries(old) if old else set()
        new_entries = index_entries(new)
        removed = sorted(old_entries - new_entries)
        added = sorted(new_entries)
        due_action = ""
        due_score = 0
        if new.status is Status.SOLVED and new.solved_at is not None:
            due_action, due_score = "add", _ms(new.solved_at) + self.close_after_ms
        elif old is not None and old.status is Status.SOLVED:
            due_action = "remove"
        result: list[bytes] = self._commit(
            keys=[
                keys.ticket(new.ticket_id),
                keys.comments(new.ticket_id),
                keys.comment_positions(new.ticket_id),
                keys.due(),
                keys.idempotency(idempotency_key or "-"),
                keys.survey_mark(survey_mark.requester_id if survey_mark else "-"),
                *removed,
                *added,
            ],
            args=[
                old.version if old else 0,
                json.dumps(new.to_json(), separators=(",", ":")),
                new.version,
                json.dumps(comment_to_json(comment), separators=(",", ":")) if comment else "",
                comment.comment_id if comment else "",
                self.max_comments,
                due_action,
                due_score,
                marker,
                self.idempotency_ttl_s,
                len(removed),
                len(added),
                _ms(new.updated_at),
                new.ticket_id,
                int(survey_mark.ttl.total_seconds() * 1000) if survey_mark else "",
            ],
            records=records_for(events, new.ticket_id),
        )
        return result

    def list_tickets(
        self,
        tenant: str,
        filters: ListFilter,
        *,
        page_size: int = 50,
        cursor: str = "",
        descending: bool = True,
    ) -> Page:
        keys = _Keys(tenant)
        index = [keys.index("all", "-")]
        if filters.statuses:
            if len(filters.statuses) > 1:
                raise ValueError("one status per list call: several would need a union of indexes")
            index.append(keys.index("status", filters.statuses[0]))
        for name, value in (
            ("priority", filters.priority),
            ("assignee", filters.assignee_id),
            ("group", filters.group_id),
            ("requester", filters.requester_id),
            ("tag", filters.tag),
            ("department", filters.department),
        ):
            if value:
                index.append(keys.index(name, value))
        cursor_score, cursor_member = decode_cursor(cursor)
        since = str(_ms(filters.updated_since)) if filters.updated_since else "-inf"
        found, last_score, last_member, more = self._list(
            keys=index,
            args=[
                keys.ticket(""),
                "desc" if descending else "asc",
                cursor_score,
                cursor_member,
                page_size,
                since,
                SCAN_BUDGET,
            ],
        )
        tickets = [Ticket.from_json(json.loads(raw)) for raw in found if raw]
        next_cursor = encode_cursor(last_score.decode(), last_member.decode()) if more else ""
        return Page(tickets, next_cursor)

    def due_for_close(self, now: datetime, limit: int = 100) -> Iterator[tuple[str, str]]:
        """(tenant, ticket id) of solved tickets whose close delay has passed, at most `limit` per
        tenant, tenant by tenant. The tenants are scanned a chunk at a time rather than read whole;
        a tenant the scan returns twice is looked at twice, and the tickets closed the first time
        have left its due set by then."""
        for raw_tenant in self.client.sscan_iter(TENANTS, count=TENANT_SCAN_COUNT):
            tenant = raw_tenant.decode()
            members: Any = self.client.zrange(
                _Keys(tenant).due(), "-inf", _ms(now), byscore=True, offset=0, num=limit
            )
            yield from ((tenant, member.decode()) for member in members)


def encode_cursor(score: str, member: str) -> str:
    return base64.urlsafe_b64encode(f"{score}|{member}".encode()).decode().rstrip("=")


def encode_comment_cursor(position: int, ticket_id: str) -> str:
    """A position in one ticket's comments; naming the ticket keeps a cursor from crossing tickets."""
    return encode_cursor(str(position), f"comments/{ticket_id}")


def decode_comment_cursor(cursor: str, ticket_id: str) -> int:
    """The position a comment cursor of this ticket names (0 for none); any other raises ValueError."""
    if not cursor:
        return 0
    position, member = decode_cursor(cursor)
    if member != f"comments/{ticket_id}" or position.startswith("-"):
        raise ValueError("malformed page cursor")
    return int(position)


def decode_cursor(cursor: str) -> tuple[str, str]:
    """An opaque cursor back to (score, member); a malformed one raises ValueError."""
    if not cursor:
        return "", ""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("malformed page cursor") from exc
    score, sep, member = raw.partition("|")
    if not sep or not score.lstrip("-").isdigit():
        raise ValueError("malformed page cursor")
    return score, member
