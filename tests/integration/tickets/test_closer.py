"""The auto-close worker on the real Redis: a solved ticket closes once its delay has passed (by a
FakeClock), a reopened one is left alone, two closers at once close a ticket exactly once, and the
runtime starts and stops the worker."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

from helpline.clock import FakeClock, SystemClock
from helpline.service import ServiceRuntime
from helpline.settings import load_settings
from helpline.v1 import ticket_events_pb2
from services.tickets.app import TicketsSettings, build
from services.tickets.closer import AutoCloser
from services.tickets.domain import commands
from services.tickets.domain.commands.creation import NewTicket
from services.tickets.domain.model import Actor, AuthorType, Status, Ticket
from services.tickets.store import TicketStore
from services.tickets.usecases import Tickets
from tests.integration.helpers import wait_until
from tests.integration.tickets.outbox_events import ticket_events

T0 = datetime(2031, 1, 6, 9, 0, tzinfo=UTC)
CLOSE_AFTER = timedelta(days=4)
AGENT = Actor(AuthorType.AGENT, "agent-1")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def clients(redis_url: str) -> Iterator[list[redis.Redis]]:
    made: list[redis.Redis] = []
    yield made
    for client in made:
        client.close()


def tickets_on(clients: list[redis.Redis], redis_url: str, clock: FakeClock | SystemClock) -> Tickets:
    """Use cases on a Redis connection of their own, like one replica of the service."""
    client = redis.Redis.from_url(redis_url)
    clients.append(client)
    store = TicketStore(client, close_after_ms=int(CLOSE_AFTER.total_seconds() * 1000))
    return Tickets(store, clock, CLOSE_AFTER)


def solved(tickets: Tickets, tenant: str) -> Ticket:
    created = tickets.create(
        lambda ticket_id, now: commands.create(
            NewTicket(tenant, "Printer on fire"), AGENT, now, ticket_id=ticket_id
        )
    ).ticket
    return tickets.change(
        tenant, created.ticket_id, lambda ticket, now: commands.transition(ticket, Status.SOLVED, AGENT, now)
    ).ticket


def closed_events(client: redis.Redis, ticket_id: str) -> list[ticket_events_pb2.TicketClosed]:
    return [e for e in ticket_events(client, ticket_id) if isinstance(e, ticket_events_pb2.TicketClosed)]


def test_a_solved_ticket_closes_once_its_delay_has_passed(
    clients: list[redis.Redis], redis_url: str, redis_client: redis.Redis, clock: FakeClock, unique: str
) -> None:
    tickets = tickets_on(clients, redis_url, clock)
    closer = AutoCloser(tickets)
    ticket = solved(tickets, unique)

    clock.advance(CLOSE_AFTER - timedelta(minutes=1))
    closer.run_once()
    assert tickets.get(unique, ticket.ticket_id).status is Status.SOLVED

    due = clock.advance(timedelta(minutes=1))
    closer.run_once()
    after = tickets.get(unique, ticket.ticket_id)
    assert after.status is Status.CLOSED
    assert after.closed_at == due
    (closed,) = closed_events(redis_client, ticket.ticket_id)
    assert closed.automatic
    assert closed.version == after.version
    # Closed, it left the due set: later rounds do not find it.
    assert (unique, ticket.ticket_id) not in tickets.store.due_for_close(clock.advance(timedelta(days=30)))


def test_a_reopened_ticket_is_left_alone(
    clients: list[redis.Redis], redis_url: str, clock: FakeClock, unique: str
) -> None:
    tickets = tickets_on(clients, redis_url, clock)
    closer = AutoCloser(tickets)
    ticket = solved(tickets, unique)
    tickets.change(unique, ticket.ticket_id, lambda t, now: commands.transition(t, Status.OPEN, AGENT, now))

    clock.advance(CLOSE_AFTER + timedelta(days=1))
    assert (unique, ticket.ticket_id) not in tickets.store.due_for_close(clock.now())
    closer.run_once()
    # A poll that read the ticket as due just before the reopen is refused and skips it.
    assert closer.close(unique, ticket.ticket_id) is False
    after = tickets.get(unique, ticket.ticket_id)
    assert after.status is Status.OPEN
    assert after.reopen_count == 1


def test_two_closers_at_once_close_each_ticket_exactly_once(
    clients: list[redis.Redis], redis_url: str, redis_client: redis.Redis, clock: FakeClock, unique: str
) -> None:
    setup = tickets_on(clients, redis_url, clock)
    ticket_ids = [solved(setup, unique).ticket_id for _ in range(20)]
    clock.advance(CLOSE_AFTER)
    closers = [AutoCloser(tickets_on(clients, redis_url, clock)) for _ in range(2)]
    start = threading.Barrier(len(closers))
    errors: list[BaseException] = []

    def run(closer: AutoCloser) -> None:
        try:
            start.wait()
            closer.run_once()
        except BaseException as exc:  # the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(closer,)) for closer in closers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for ticket_id in ticket_ids:
        assert setup.get(unique, ticket_id).status is Status.CLOSED
        assert len(closed_events(redis_client, ticket_id)) == 1, ticket_id


def test_the_runtime_runs_the_closer_until_stopped(
    clients: list[redis.Redis], redis_url: str, kafka_bootstrap: str, clock: FakeClock, unique: str
) -> None:
    settings = load_settings(
        service_name=f"closer-{unique}",
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        auth_redis_url=redis_url,
        http_port=0,
        log_format="console",
    )
    runtime = ServiceRuntime(settings)
    tickets = tickets_on(clients, redis_url, clock)
    closer = AutoCloser(tickets, interval_s=0.05)
    runtime.add_worker("auto-close", closer.run, closer.stop)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(runtime.run(install_signals=False)))
    thread.start()
    try:
        ticket = solved(tickets, unique)
        clock.advance(CLOSE_AFTER)
        wait_until(
            lambda: tickets.get(unique, ticket.ticket_id).status is Status.CLOSED, what="the auto-close"
        )
    finally:
        runtime.stop()
        thread.join(60)
    assert not thread.is_alive()
    assert result == [0]


def test_the_built_service_closes_due_tickets(
    clients: list[redis.Redis], redis_url: str, kafka_bootstrap: str, unique: str
) -> None:
    settings = TicketsSettings(
        service_name="tickets",
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        auth_redis_url=redis_url,
        http_port=0,
        log_format="console",
        close_after_days=1 / 86_400,
        close_poll_seconds=0.1,
        api_key_pepper=unique,
    )
    runtime = build(settings)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(runtime.run(install_signals=False)))
    thread.start()
    try:
        client = redis.Redis.from_url(redis_url)
        clients.append(client)
        close_after = timedelta(seconds=1)
        tickets = Tickets(TicketStore(client, close_after_ms=1000), SystemClock(), close_after)
        ticket = solved(tickets, unique)
        wait_until(
            lambda: tickets.get(unique, ticket.ticket_id).status is Status.CLOSED,
            timeout=30,
            what="the built service's auto-close",
        )
    finally:
        runtime.stop()
        thread.join(60)
    assert result == [0]
