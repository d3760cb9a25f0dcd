"""Builders shared by the router domain tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.router.domain.model import (
    Agent,
    AgentStatus,
    Channel,
    CrossChannelRule,
    Queue,
    QueueMembership,
    RoutingProfile,
    Strategy,
    WaitingContact,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def queue(queue_id: str = "q1", **fields: Any) -> Queue:
    values: dict[str, Any] = {
        "tenant_id": "acme",
        "name": queue_id,
        "channels": frozenset({Channel.VOICE, Channel.CALLBACK, Channel.CHAT, Channel.EMAIL, Channel.SMS}),
        "strategy": Strategy.LONGEST_IDLE,
    }
    values.update(fields)
    return Queue(queue_id=queue_id, **values)


def profile(*queue_ids: str, **fields: Any) -> RoutingProfile:
    values: dict[str, Any] = {
        "queues": tuple(QueueMembership(queue_id) for queue_id in queue_ids or ("q1",)),
        "capacity": {Channel.VOICE: 1, Channel.CHAT: 3, Channel.EMAIL: 2},
        "cross_channel": CrossChannelRule.ANY,
    }
    values.update(fields)
    return RoutingProfile(**values)


def agent(agent_id: str = "a1", **fields: Any) -> Agent:
    values: dict[str, Any] = {
        "tenant_id": "acme",
        "profile": profile(),
        "status": AgentStatus.AVAILABLE,
        "idle_since": T0,
    }
    values.update(fields)
    return Agent(agent_id=agent_id, **values)


def contact(contact_id: str = "c1", **fields: Any) -> WaitingContact:
    values: dict[str, Any] = {
        "tenant_id": "acme",
        "queue_id": "q1",
        "channel": Channel.VOICE,
        "enqueued_at": T0,
    }
    values.update(fields)
    return WaitingContact(contact_id=contact_id, **values)
