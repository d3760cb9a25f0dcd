"""The retry schedule, the disable rule, event-type filters, lanes and the CloudEvent body."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from helpline.domain import DomainError
from helpline.v1 import ticket_events_pb2
from services.notify.app import NotifySettings
from services.notify.domain.delivery import Delivery, Status, cloudevent_body, delivery_id, lane_of
from services.notify.domain.schedule import (
    DEFAULT_DISABLE_AFTER,
    DEFAULT_SCHEDULE_S,
    RetrySchedule,
    should_disable,
)
from services.notify.domain.subscription import MAX_FILTERS, SubscriptionError, check_filters, matches

T0 = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)


def test_the_default_schedule_retries_for_most_of_a_day() -> None:
    schedule = RetrySchedule.of_seconds(DEFAULT_SCHEDULE_S)
    assert schedule.attempts == 10
    assert schedule.first_wait == timedelta(0)
    total = sum(schedule.waits, timedelta())
    assert timedelta(hours=22) < total < timedelta(hours=24)


def test_each_failure_waits_the_next_step_and_the_last_is_dead() -> None:
    schedule = RetrySchedule.of_seconds([0, 1, 5])
    assert schedule.after_failure(1, T0) == T0 + timedelta(seconds=1)
    assert schedule.after_failure(2, T0) == T0 + timedelta(seconds=5)
    assert schedule.after_failure(3, T0) is None


@pytest.mark.parametrize("waits", [[], [0, -1], [0] * 51])
def test_bad_schedules_are_refused(waits: list[float]) -> None:
    with pytest.raises(DomainError):
        RetrySchedule.of_seconds(waits)


def test_a_subscription_failing_for_the_window_is_disabled() -> None:
    window = DEFAULT_DISABLE_AFTER
    assert not should_disable(None, T0, window)
    assert not should_disable(T0, T0 + window - timedelta(seconds=1), window)
    assert should_disable(T0, T0 + window, window)


@pytest.mark.parametrize(
    ("filters", "event_type", "expected"),
    [
        (["helpline.ticket.created.v1"], "helpline.ticket.created.v1", True),
        (["helpline.ticket.created.v1"], "helpline.ticket.closed.v1", False),
        (["helpline.ticket.*"], "helpline.ticket.closed.v1", True),
        (["helpline.ticket.*"], "helpline.tickets_other.x.v1", False),
        (["helpline.*"], "helpline.sla.breached.v1", True),
        (["*"], "helpline.agent.state_changed.v1", True),
        (["helpline.sla.*", "helpline.ticket.created.v1"], "helpline.ticket.created.v1", True),
    ],
)
def test_filters(filters: list[str], event_type: str, expected: bool) -> None:
    assert matches(check_filters(filters), event_type) is expected


@pytest.mark.parametrize(
    "filters",
    [
        [],
        ["helpline.ticket*"],
        ["HELPLINE.TICKET.*"],
        ["a" * 200],
        ["x.*.y"],
        [f"t{i}.*" for i in range(MAX_FILTERS + 1)],
    ],
)
def test_bad_filters_are_refused(filters: list[str]) -> None:
    with pytest.raises(SubscriptionError):
        check_filters(filters)


def test_filters_are_deduplicated_in_order() -> None:
    assert check_filters(["b.*", "a.*", "b.*"]) == ("b.*", "a.*")


def test_a_delivery_id_is_stable_per_subscription_and_event() -> None:
    assert delivery_id("s1", "e1") == delivery_id("s1", "e1")
    assert len({delivery_id("s1", "e1"), delivery_id("s2", "e1"), delivery_id("s1", "e2")}) == 3


@given(key=st.binary(max_size=64), lanes=st.integers(min_value=1, max_value=256))
def test_a_key_always_takes_the_same_lane(key: bytes, lanes: int) -> None:
    lane = lane_of(key, lanes)
    assert 0 <= lane < lanes
    assert lane_of(key, lanes) == lane


def test_keys_spread_over_lanes() -> None:
    assert len({lane_of(f"ticket-{i}".encode(), 16) for i in range(200)}) == 16


def test_the_cloudevent_is_structured_json_with_the_proto_field_names() -> None:
    message = ticket_events_pb2.TicketStatusChanged(tenant_id="acme", ticket_id="t-1", version=3)
    body = cloudevent_body(
        event_id="e-1",
        source="/helpline/tickets",
        event_type="helpline.ticket.status_changed.v1",
        time=T0,
        subject="t-1",
        message=message,
    )
    event = json.loads(body)
    assert event["specversion"] == "1.0"
    assert event["id"] == "e-1"
    assert event["type"] == "helpline.ticket.status_changed.v1"
    assert event["source"] == "/helpline/tickets"
    assert event["subject"] == "t-1"
    assert event["time"] == "2031-03-04T09:00:00Z"
    assert event["datacontenttype"] == "application/json"
    assert event["data"]["tenant_id"] == "acme"
    assert event["data"]["ticket_id"] == "t-1"
    # int64 in proto3 JSON is a string.
    assert event["data"]["version"] == "3"


def test_a_delivery_fails_then_dies_then_starts_again() -> None:
    d = Delivery("d", "t", "s", 0, "e", "x.y.v1", T0, Status.PENDING, 0, T0)
    retrying = d.failed(T0, 500, "HTTP 500", T0 + timedelta(seconds=5))
    assert (retrying.status, retrying.attempts, retrying.last_status_code) == (Status.RETRYING, 1, 500)
    dead = retrying.failed(T0, 0, "x" * 10_000, None)
    assert dead.status is Status.DEAD
    assert dead.attempts == 2
    assert len(dead.last_error) <= 500
    again = dead.again(T0)
    assert (again.status, again.attempts) == (Status.PENDING, 0)
    assert retrying.delivered(T0, 204).status is Status.DELIVERED


def test_settings_refuse_a_lease_shorter_than_an_attempt_and_a_bad_schedule() -> None:
    with pytest.raises(ValidationError, match="LEASE"):
        NotifySettings(webhook_lease_seconds=5, webhook_timeout_seconds=10)
    with pytest.raises(ValidationError, match="negative"):
        NotifySettings(webhook_retry_schedule_seconds=[0, -5])
    assert NotifySettings(webhook_retry_schedule_seconds=[0, 1]).webhook_retry_schedule_seconds == [0, 1]
