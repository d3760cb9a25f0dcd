"""The use-case layer on the real store: If-Match gives 412 on a stale version, a write without it
is decided again after a lost race, and a no-op writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import redis
from google.protobuf.message import Message

from helpline.clock import FakeClock
from helpline.domain import NotFoundError
from services.tickets.domain.model import Comment, Priority, Ticket
from services.tickets.domain.survey_settings import SurveyMark
from services.tickets.store import OUTBOX_STREAM, TicketStore
from services.tickets.usecases import PreconditionFailedError, Tickets

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Decided:
    ticket: Ticket
    events: tuple[Message, ...] = ()
    comment: Comment | None = None
    follow_up: Ticket | None = None
    survey_mark: SurveyMark | None = None


@pytest.fixture
def tickets(redis_client: redis.Redis) -> Tickets:
    redis_client.delete(OUTBOX_STREAM)
    return Tickets(TicketStore(redis_client, close_after_ms=0), FakeClock(T0), timedelta(days=4))


def create(tickets: Tickets, tenant: str) -> Ticket:
    result = tickets.create(
        lambda ticket_id, now: Decided(
            Ticket(ticket_id=ticket_id, tenant_id=tenant, subject="s", created_at=now, updated_at=now)
        )
    )
    assert result.created
    return result.ticket


def test_if_match_on_a_stale_version_is_refused(tickets: Tickets, unique: str) -> None:
    t = create(tickets, unique)
    raise_priority = lambda cur, now: Decided(cur.evolve(now, priority=Priority.HIGH))  # noqa: E731
    assert tickets.change(unique, t.ticket_id, raise_priority, expected_version=1).ticket.version == 2
    with pytest.raises(PreconditionFailedError) as err:
        tickets.change(unique, t.ticket_id, raise_priority, expected_version=1)
    assert (err.value.expected, err.value.current) == (1, 2)


def test_a_lost_race_without_if_match_is_decided_again(tickets: Tickets, unique: str) -> None:
    t = create(tickets, unique)
    calls: list[int] = []

    def decide(current: Ticket, now: datetime) -> Decided:
        calls.append(current.version)
        if len(calls) == 1:
            # Another writer gets in between this read and the commit.
            tickets.store.commit(current, current.evolve(now, subject="other writer"), [])
        return Decided(current.evolve(now, priority=Priority.URGENT))

    changed = tickets.change(unique, t.ticket_id, decide)
    assert calls == [1, 2]
    assert changed.ticket.version == 3
    assert changed.ticket.subject == "other writer"
    assert changed.ticket.priority is Priority.URGENT


def test_no_op_writes_nothing(tickets: Tickets, redis_client: redis.Redis, unique: str) -> None:
    t = create(tickets, unique)
    assert tickets.change(unique, t.ticket_id, lambda cur, _now: Decided(cur)).ticket == t
    assert tickets.get(unique, t.ticket_id).version == 1


def test_other_tenants_tickets_are_not_found(tickets: Tickets, unique: str) -> None:
    t = create(tickets, unique)
    with pytest.raises(NotFoundError):
        tickets.get("intruder", t.ticket_id)
    with pytest.raises(NotFoundError):
        tickets.change("intruder", t.ticket_id, lambda cur, now: Decided(cur.evolve(now, subject="x")))
