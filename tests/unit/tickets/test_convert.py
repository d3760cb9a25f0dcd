"""The model in the contracts' terms, and the enums back."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import pytest

from helpline.domain import from_timestamp, timestamp
from helpline.v1 import common_pb2
from services.tickets.domain import convert
from services.tickets.domain.errors import InvalidCommand
from services.tickets.domain.model import (
    Actor,
    AuthorType,
    Channel,
    Comment,
    Department,
    Priority,
    Status,
    TicketType,
    Tier,
)
from tests.unit.tickets.support import T0, later, new_ticket

ROUND_TRIPS: list[tuple[type[StrEnum], Any, Any]] = [
    (Status, convert.STATUS_TO_PROTO, convert.status_from_proto),
    (TicketType, convert.TYPE_TO_PROTO, convert.type_from_proto),
    (Priority, convert.PRIORITY_TO_PROTO, convert.priority_from_proto),
    (Department, convert.DEPARTMENT_TO_PROTO, convert.department_from_proto),
    (Tier, convert.TIER_TO_PROTO, convert.tier_from_proto),
    (AuthorType, convert.AUTHOR_TYPE_TO_PROTO, convert.author_type_from_proto),
    (Channel, convert.CHANNEL_TO_PROTO, convert.channel_from_proto),
]


@pytest.mark.parametrize(("enum", "to_proto", "from_proto"), ROUND_TRIPS)
def test_every_enum_member_round_trips(enum: type[StrEnum], to_proto: Any, from_proto: Any) -> None:
    assert set(to_proto) == set(enum)
    assert len(set(to_proto.values())) == len(enum)  # one proto value per member
    for member in enum:
        assert from_proto(to_proto[member]) is member


def test_named_values() -> None:
    assert convert.STATUS_TO_PROTO[Status.ON_HOLD] == common_pb2.TICKET_STATUS_ON_HOLD
    assert convert.TYPE_TO_PROTO[TicketType.FIELD_SERVICE] == common_pb2.TICKET_TYPE_FIELD_SERVICE
    assert convert.CHANNEL_TO_PROTO[Channel.WEB_FORM] == common_pb2.CHANNEL_WEB_FORM


def test_api_channel_is_unspecified_and_back() -> None:
    assert convert.CHANNEL_TO_PROTO[Channel.API] == common_pb2.CHANNEL_UNSPECIFIED
    assert convert.channel_from_proto(common_pb2.CHANNEL_UNSPECIFIED) is Channel.API


def test_unspecified_is_refused_unless_a_default_is_named() -> None:
    with pytest.raises(InvalidCommand) as refused:
        convert.status_from_proto(common_pb2.TICKET_STATUS_UNSPECIFIED)
    assert refused.value.rule == "unspecified_enum"
    assert convert.priority_from_proto(common_pb2.PRIORITY_UNSPECIFIED, Priority.NORMAL) is Priority.NORMAL


def test_unknown_values_are_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        convert.tier_from_proto(99)
    assert refused.value.rule == "unknown_enum"


def test_timestamps_are_utc_and_refuse_naive() -> None:
    paris = timezone(timedelta(hours=1))
    stamp = timestamp(datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=paris))
    assert from_timestamp(stamp) == datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
    assert from_timestamp(stamp).tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        timestamp(datetime(2026, 3, 2))


def test_actor_round_trips() -> None:
    actor = Actor(AuthorType.CUSTOMER, "cust-1")
    assert convert.actor_from_proto(convert.actor_to_proto(actor)) == actor


def test_to_proto_carries_every_field_and_leaves_unset_moments_absent() -> None:
    ticket = replace(
        new_ticket(tags=["b", "a"], custom_fields={"plan": "gold"}, channel=Channel.CHAT, group_id="g"),
        status=Status.SOLVED,
        contact_ids=("k-1",),
        follow_up_of="t-0",
        follow_up_ids=("t-9",),
        reopen_count=2,
        first_agent_reply_at=later(1),
        solved_at=later(2),
        version=7,
    )
    message = convert.to_proto(ticket)
    assert (message.ticket_id, message.version, message.subject) == ("t-1", 7, "Printer on fire")
    assert message.status == common_pb2.TICKET_STATUS_SOLVED
    assert message.channel == common_pb2.CHANNEL_CHAT
    assert (message.group_id, message.requester_id) == ("g", "cust-1")
    assert list(message.tags) == ["a", "b"]
    assert dict(message.custom_fields) == {"plan": "gold"}
    assert list(message.contact_ids) == ["k-1"]
    assert message.follow_up_of_ticket_id == "t-0"
    assert list(message.follow_up_ticket_ids) == ["t-9"]
    assert message.reopen_count == 2
    assert from_timestamp(message.created_at) == T0
    assert from_timestamp(message.first_responded_at) == later(1)
    assert from_timestamp(message.solved_at) == later(2)
    assert not message.HasField("closed_at")
    assert not convert.to_proto(new_ticket()).HasField("solved_at")


def test_snapshot() -> None:
    snap = convert.to_snapshot(replace(new_ticket(), status=Status.PENDING, assignee_id="a-1", version=3))
    assert (snap.ticket_id, snap.version, snap.assignee_id) == ("t-1", 3, "a-1")
    assert snap.status == common_pb2.TICKET_STATUS_PENDING
    assert snap.department == common_pb2.DEPARTMENT_SERVICE
    assert snap.tier == common_pb2.TIER_L1
    assert from_timestamp(snap.updated_at) == T0


def test_comment_to_proto() -> None:
    comment = Comment("c-1", "t-1", False, Actor(AuthorType.AGENT, "a-1"), "note", later(3), "k-1")
    message = convert.comment_to_proto(comment)
    assert (message.comment_id, message.ticket_id, message.public) == ("c-1", "t-1", False)
    assert (message.author_type, message.author_id) == (common_pb2.AUTHOR_TYPE_AGENT, "a-1")
    assert (message.body, message.contact_id) == ("note", "k-1")
    assert from_timestamp(message.created_at) == later(3)
