"""Builders shared by the ticket domain tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.message import Message

from services.tickets.domain import commands
from services.tickets.domain.model import Actor, AuthorType, Status, Ticket

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AGENT = Actor(AuthorType.AGENT, "agent-1")
CUSTOMER = Actor(AuthorType.CUSTOMER, "cust-1")
SYSTEM_ACTOR = Actor(AuthorType.SYSTEM, "sla")


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def new_ticket(**draft: Any) -> Ticket:
    fields: dict[str, Any] = {"tenant_id": "acme", "subject": "Printer on fire", "requester_id": "cust-1"}
    fields.update(draft)
    return commands.create(commands.NewTicket(**fields), AGENT, T0, ticket_id="t-1").ticket


def ticket_in(status: Status, **overrides: Any) -> Ticket:
    """A ticket already in `status`, with the stamps that status implies."""
    stamps: dict[str, Any] = {"status": status}
    if status is not Status.NEW:
        stamps["first_agent_reply_at"] = later(1)
    if status in (Status.SOLVED, Status.CLOSED):
        stamps["solved_at"] = later(10)
    if status is Status.CLOSED:
        stamps["closed_at"] = later(20)
    stamps.update(overrides)
    return replace(new_ticket(), version=5, **stamps)


def types(events: tuple[Message, ...]) -> list[str]:
    return [type(event).__name__ for event in events]
