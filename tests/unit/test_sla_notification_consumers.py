"""The services that consume `helpline.sla` leave SlaNotificationRequested alone (the notify
service delivers it): their handlers return without touching their use cases and raise nothing,
so the record is committed, never retried or dead-lettered."""

from __future__ import annotations

from typing import Any, cast

import pytest

from helpline.events import new_event
from helpline.v1 import sla_events_pb2
from services.router.composition import Router
from services.router.consumers import RouterEvents
from services.tickets.consumers import TicketEvents
from services.tickets.usecases import Tickets


class Untouchable:
    """A use case that fails any test that reaches it."""

    def __getattr__(self, name: str) -> Any:
        pytest.fail(f"the handler used {name} for a notification request")


NOTIFICATION = new_event(
    sla_events_pb2.SlaNotificationRequested(
        tenant_id="acme", ticket_id="T-1", trigger=sla_events_pb2.SLA_TRIGGER_BREACH, recipients=["agent-1"]
    ),
    source="/helpline/sla",
    subject="T-1",
)


def test_the_tickets_service_ignores_a_notification_request() -> None:
    TicketEvents(cast(Tickets, Untouchable())).handle(NOTIFICATION)


def test_the_router_ignores_a_notification_request() -> None:
    RouterEvents(cast(Router, Untouchable())).handle(NOTIFICATION)
