"""The ticket store on the real Redis: versioned writes, indexes, idempotent create, the close
schedule, and events in the outbox in the same script as the change."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from helpline.events import from_record
from helpline.outbox import decode_headers
from helpline.v1 import ticket_events_pb2
from services.tickets.domain.errors import LimitReached
from services.tickets.domain.model import Actor, AuthorType, Comment, Priority, Status, Ticket
from services.tickets.store import (
    COMMENT_PAGE_BYTES,
    OUTBOX_STREAM,
    TENANT_SCAN_COUNT,
    IdempotencyMismatchError,
    ListFilter,
    TicketStore,
    VersionConflictError,
    decode_comment_cursor,
    decode_cursor,
    encode_comment_cursor,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
DAY_MS = 86_400_000


@pytest.fixture
def store(redis_client: redis.Redis) -> TicketStore:
    redis_client.delete(OUTBOX_STREAM)
    return TicketStore(redis_client, close_after_ms=4 * DAY_MS)


def ticket(tenant: str, n: int, **fields: Any) -> Ticket:
    at = T0 + timedelta(minutes=n)
    return Ticket(
        ticket_id=f"t{n:04d}", tenant_id=tenant, subject=f"s{n}", created_at=at, updated_at=at, **fields
    )


def commented(store: TicketStore, old: Ticket, comment_id: str, body: str = "On it") -> Ticket:
    """Add one comment to `old` through the commit script, with its event."""
    new = old.evolve(old.updated_at + timedelta(seconds=1), comment_count=old.comment_count + 1)
    note = Comment(comment_id, old.ticket_id, True, Actor(AuthorType.AGENT, "ann"), body, new.updated_at)
    event = ticket_events_pb2.TicketCommented(
        tenant_id=old.tenant_id, ticket_id=old.ticket_id, comment_id=comment_id
    )
    return store.commit(old, new, [event], note)


def all_comments(store: TicketStore, t: Ticket, page_size: int) -> list[list[str]]:
    """The comment ids of every page, following the cursors."""
    pages, cursor = [], ""
    while True:
        page = store.comment_page(t.tenant_id, t.ticket_id, page_size=page_size, cursor=cursor)
        pages.append([c.comment_id for c in page.comments])
        if not page.next_cursor:
            return pages
        cursor = page.next_cursor


def created_event(t: Ticket) -> ticket_events_pb2.TicketCreated:
    event = ticket_events_pb2.TicketCreated(tenant_id=t.tenant_id)
    event.ticket.ticket_id = t.ticket_id
    return event


def test_create_get_and_the_event_in_the_outbox(
    store: TicketStore, redis_client: redis.Redis, unique: str
) -> None:
    t = ticket(unique, 1, tags=("vip",))
    result = store.create(t, [created_event(t)])
    assert result.created
    assert store.get(unique, t.ticket_id) == t
    assert store.get("someone-else", t.ticket_id) is None
    # redis-py types every reply shape at once; this one is [(id, {field: value})].
    entries: Any = redis_client.xrange(OUTBOX_STREAM)
    ((_, fields),) = entries
    assert fields[b"t"] == b"helpline.tickets"
    assert fields[b"k"] == t.ticket_id.encode()
    envelope = from_record(decode_headers(fields[b"h"]), fields[b"v"])
    assert envelope.type == "helpline.ticket.created.v1"
    assert envelope.subject == t.ticket_id


def test_stale_version_is_refused_and_nothing_changes(
    store: TicketStore, redis_client: redis.Redis, unique: str
) -> None:
    t = ticket(unique, 1)
    store.create(t, [created_event(t)])
    v2 = t.evolve(T0 + timedelta(hours=1), priority=Priority.HIGH)
    store.commit(t, v2, [created_event(v2)])
    stale = t.evolve(T0 + timedelta(hours=2), priority=Priority.LOW)
    with pytest.raises(VersionConflictError) as err:
        store.commit(t, stale, [created_event(stale)])
    assert err.value.current == 2
    assert store.get(unique, t.ticket_id) == v2
    assert redis_client.xlen(OUTBOX_STREAM) == 2


def test_concurrent_commits_on_one_version_let_exactly_one_through(store: TicketStore, unique: str) -> None:
    t = ticket(unique, 1)
    store.create(t, [])
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            store.commit(t, t.evolve(T0 + timedelta(seconds=i), subject=f"by {i}"), [])
            outcomes.append("ok")
        except VersionConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["ok"]
    stored = store.get(unique, t.ticket_id)
    assert stored is not None
    assert stored.version == 2


def test_idempotent_create(store: TicketStore, unique: str) -> None:
    first = ticket(unique, 1)
    assert store.create(first, [], idempotency_key="k1", fingerprint="f").created
    retry = store.create(ticket(unique, 2), [], idempotency_key="k1", fingerprint="f")
    assert not retry.created
    assert retry.ticket == first
    assert store.get(unique, "t0002") is None
    with pytest.raises(IdempotencyMismatchError):
        store.create(ticket(unique, 3), [], idempotency_key="k1", fingerprint="other")


def test_an_idempotency_key_is_remembered_for_its_retention(redis_client: redis.Redis, unique: str) -> None:
    default, short = f"d{unique}", f"s{unique}"
    TicketStore(redis_client, close_after_ms=DAY_MS).create(
        ticket(default, 1), [], idempotency_key="k1", fingerprint="f"
    )
    TicketStore(redis_client, close_after_ms=DAY_MS, idempotency_ttl_s=60).create(
        ticket(short, 1), [], idempotency_key="k1", fingerprint="f"
    )
    assert 86_400 - 60 < redis_client.ttl(f"tk:{{{default}}}:idem:k1") <= 86_400
    assert 0 < redis_client.ttl(f"tk:{{{short}}}:idem:k1") <= 60


def test_list_filters_and_pages_through_indexes(store: TicketStore, unique: str) -> None:
    tickets = [
        ticket(
            unique,
            n,
            status=Status.OPEN if n % 2 else Status.PENDING,
            assignee_id="ann" if n % 3 == 0 else "",
            tags=("billing",) if n % 4 == 0 else (),
        )
        for n in range(1, 41)
    ]
    for t in tickets:
        store.create(t, [])

    everything = []
    cursor = ""
    while True:
        page = store.list_tickets(unique, ListFilter(), page_size=7, cursor=cursor)
        everything += page.tickets
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert [t.ticket_id for t in everything] == [t.ticket_id for t in reversed(tickets)]

    open_by_ann = store.list_tickets(unique, ListFilter(statuses=("open",), assignee_id="ann"), page_size=100)
    assert [t.ticket_id for t in open_by_ann.tickets] == [
        t.ticket_id for t in reversed(tickets) if t.status is Status.OPEN and t.assignee_id == "ann"
    ]
    billing = store.list_tickets(unique, ListFilter(tag="billing"), page_size=100, descending=False)
    assert [t.ticket_id for t in billing.tickets] == [t.ticket_id for t in tickets if "billing" in t.tags]
    since = store.list_tickets(unique, ListFilter(updated_since=T0 + timedelta(minutes=35)), page_size=100)
    assert {t.ticket_id for t in since.tickets} == {f"t{n:04d}" for n in range(35, 41)}
    assert store.list_tickets("another-tenant", ListFilter(), page_size=100).tickets == []


def test_a_changed_ticket_moves_between_indexes(store: TicketStore, unique: str) -> None:
    t = ticket(unique, 1, status=Status.OPEN, assignee_id="ann")
    store.create(t, [])
    moved = t.evolve(T0 + timedelta(hours=1), status=Status.PENDING, assignee_id="bob")
    store.commit(t, moved, [])
    assert store.list_tickets(unique, ListFilter(statuses=("open",))).tickets == []
    assert store.list_tickets(unique, ListFilter(assignee_id="ann")).tickets == []
    assert store.list_tickets(unique, ListFilter(statuses=("pending",), assignee_id="bob")).tickets == [moved]


def test_solved_tickets_are_scheduled_to_close_and_unscheduled_on_reopen(
    store: TicketStore, unique: str
) -> None:
    t = ticket(unique, 1, status=Status.OPEN)
    store.create(t, [])
    solved_at = T0 + timedelta(hours=1)
    solved = t.evolve(solved_at, status=Status.SOLVED, solved_at=solved_at)
    store.commit(t, solved, [])
    assert (unique, t.ticket_id) not in store.due_for_close(solved_at + timedelta(days=3))
    assert (unique, t.ticket_id) in store.due_for_close(solved_at + timedelta(days=4))
    reopened = solved.evolve(solved_at + timedelta(days=1), status=Status.OPEN, solved_at=None)
    store.commit(solved, reopened, [])
    assert (unique, t.ticket_id) not in store.due_for_close(solved_at + timedelta(days=30))


def test_every_tenants_due_tickets_are_found_past_one_scan_of_the_tenants(
    store: TicketStore, unique: str
) -> None:
    solved_at = T0 + timedelta(hours=1)
    due = set()
    for n in range(TENANT_SCAN_COUNT + 50):
        t = ticket(f"{unique}-{n}", 1, status=Status.OPEN)
        store.create(t, [])
        store.commit(t, t.evolve(solved_at, status=Status.SOLVED, solved_at=solved_at), [])
        due.add((t.tenant_id, t.ticket_id))
    assert due <= set(store.due_for_close(solved_at + timedelta(days=4)))


def test_comments_are_read_a_page_at_a_time(store: TicketStore, unique: str) -> None:
    t = ticket(unique, 1)
    store.create(t, [])
    assert all_comments(store, t, page_size=3) == [[]]
    for n in range(7):
        t = commented(store, t, f"c{n}")
    assert all_comments(store, t, page_size=3) == [["c0", "c1", "c2"], ["c3", "c4", "c5"], ["c6"]]
    assert all_comments(store, t, page_size=7) == [[f"c{n}" for n in range(7)]]
    other = ticket(unique, 2)
    store.create(other, [])
    cursor = store.comment_page(unique, t.ticket_id, page_size=3).next_cursor
    with pytest.raises(ValueError, match="cursor"):
        store.comment_page(unique, other.ticket_id, page_size=3, cursor=cursor)


def test_a_page_of_comments_stops_at_its_byte_budget(store: TicketStore, unique: str) -> None:
    t = ticket(unique, 1)
    store.create(t, [])
    # Two of these fit a page's bytes, three do not; one larger than a page still makes a page.
    for n in range(5):
        t = commented(store, t, f"c{n}", body="x" * (COMMENT_PAGE_BYTES // 3))
    t = commented(store, t, "huge", body="x" * (COMMENT_PAGE_BYTES + 1))
    t = commented(store, t, "last")
    assert all_comments(store, t, page_size=100) == [["c0", "c1"], ["c2", "c3"], ["c4"], ["huge"], ["last"]]


def test_a_comment_is_found_by_its_id(store: TicketStore, unique: str) -> None:
    t = ticket(unique, 1)
    store.create(t, [])
    for n in range(30):
        t = commented(store, t, f"c{n}", body=f"body {n}")
    found = store.comment(unique, t.ticket_id, "c17")
    assert found is not None
    assert (found.comment_id, found.body) == ("c17", "body 17")
    assert store.comment(unique, t.ticket_id, "c99") is None
    assert store.comment(unique, "t9999", "c17") is None
    assert store.comment("another-tenant", t.ticket_id, "c17") is None


def test_a_comment_past_the_limit_is_refused_and_nothing_is_written(
    redis_client: redis.Redis, unique: str
) -> None:
    store = TicketStore(redis_client, close_after_ms=4 * DAY_MS, max_comments=3)
    t = ticket(unique, 1)
    store.create(t, [])
    for n in range(3):
        t = commented(store, t, f"c{n}")
    events_before = redis_client.xlen(OUTBOX_STREAM)
    with pytest.raises(LimitReached) as refused:
        commented(store, t, "c3")
    assert (refused.value.rule, refused.value.detail) == ("comment_limit_reached", {"limit": "3"})
    assert store.get(unique, t.ticket_id) == t
    assert all_comments(store, t, page_size=10) == [["c0", "c1", "c2"]]
    assert store.comment(unique, t.ticket_id, "c3") is None
    assert redis_client.xlen(OUTBOX_STREAM) == events_before
    # A change without a comment still goes through.
    store.commit(t, t.evolve(T0 + timedelta(hours=1), priority=Priority.HIGH), [])


def test_malformed_cursor_is_refused() -> None:
    with pytest.raises(ValueError, match="cursor"):
        decode_cursor("not-a-cursor!")
    with pytest.raises(ValueError, match="cursor"):
        decode_cursor("Zm9v")  # "foo": no separator


def test_a_comment_cursor_names_its_ticket() -> None:
    assert decode_comment_cursor("", "t1") == 0
    assert decode_comment_cursor(encode_comment_cursor(40, "t1"), "t1") == 40
    for cursor, ticket_id in [
        (encode_comment_cursor(40, "t1"), "t2"),
        (encode_comment_cursor(-1, "t1"), "t1"),
        ("not-a-cursor!", "t1"),
    ]:
        with pytest.raises(ValueError, match="cursor"):
            decode_comment_cursor(cursor, ticket_id)


def test_ticket_json_round_trip() -> None:
    t = replace(
        ticket("acme", 1, tags=("a", "b"), custom_fields={"order": "42"}), reopen_count=2, solved_at=T0
    )
    assert Ticket.from_json(t.to_json()) == t
