"""Builders shared by the contact lifecycle tests: a contact walked to each status by the commands
themselves, so every fixture is a state the domain can reach."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.message import Message

from services.router.domain import arrival, conversation, offers
from services.router.domain.contact import Contact, ContactContext
from services.router.domain.errors import DomainError, RoutingRefused
from services.router.domain.model import Channel, Department, Priority

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OFFER_TIMEOUT = timedelta(seconds=20)
WRAP_UP = timedelta(seconds=60)
RESUME_WINDOW = timedelta(seconds=60)
CONTEXT = ContactContext(
    customer_id="cust-1",
    language="en-GB",
    intent="billing.refund",
    priority=Priority.HIGH,
    ticket_id="t-9",
    attributes={"plan": "gold"},
    customer_address="+441234567890",
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def received(channel: Channel = Channel.VOICE, **fields: Any) -> Contact:
    request: dict[str, Any] = {
        "contact_id": "k-1",
        "tenant_id": "acme",
        "channel": channel,
        "department": Department.SERVICE,
        "now": T0,
        "context": CONTEXT,
    }
    request.update(fields)
    return arrival.receive(**request).contact


def queued(channel: Channel = Channel.VOICE, at_s: float = 0, queue_id: str = "q-1") -> Contact:
    return arrival.enqueue(received(channel), queue_id, at(at_s)).contact


def offered(channel: Channel = Channel.VOICE, at_s: float = 10, agent_id: str = "a-1") -> Contact:
    return offers.offer(
        queued(channel), agent_id, at(at_s), offer_id="o-1", offer_timeout=OFFER_TIMEOUT
    ).contact


def connected(channel: Channel = Channel.VOICE, at_s: float = 15) -> Contact:
    """Queued at 0, offered at 10, accepted at 12, connected at `at_s`."""
    contact = offers.accept(offered(channel), "a-1", "o-1", at(12)).contact
    return conversation.connect(contact, "a-1", at(at_s)).contact


def types(events: tuple[Message, ...]) -> list[str]:
    return [type(event).__name__ for event in events]


def refused(
    rule: str, error: type[DomainError] = RoutingRefused
) -> AbstractContextManager[pytest.ExceptionInfo[DomainError]]:
    """Expect a refusal of class `error` naming `rule`."""
    return pytest.raises(error, match=rf"\({rule}\)$")
