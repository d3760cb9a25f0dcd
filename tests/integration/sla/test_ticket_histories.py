"""Scripted ticket histories through the SLA service's consumer and timer worker on the real Redis,
against a Berlin calendar with a lunch break, Easter's holidays and the change to summer time; the
expected instants are worked out by hand in the comments.

The calendar: Monday to Friday 09:00-12:00 and 13:00-17:00 Europe/Berlin, German public holidays.
In 2027 Good Friday is 26 March, summer time starts on Sunday 28 March (UTC+1 becomes UTC+2) and
Easter Monday is 29 March: a ticket created on Thursday 25 March at 15:00 (14:00 UTC) has two
business hours that day, and the next on Tuesday 30 March from 09:00 CEST (07:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from google.protobuf.message import Message

from helpline.business_hours import Calendar, OpenInterval
from helpline.clock import FakeClock
from helpline.domain import timestamp
from helpline.events import new_event
from helpline.v1 import common_pb2, sla_events_pb2, ticket_events_pb2
from helpline.vocabulary import Priority
from services.sla.config import SlaConfig
from services.sla.consumers import SlaEvents
from services.sla.domain.model import Basis, Metric, Notify, RaisePriority, Trigger
from services.sla.domain.policy import Conditions, Escalation, Policy, Target
from services.sla.store import OUTBOX_STREAM, SlaStore, Subject
from services.sla.ticket_slas import TicketSlas
from services.sla.timers import TimerWorker
from services.sla.watches import QueueWatches
from tests.integration.outbox_events import outbox_events

CREATED = datetime(2027, 3, 25, 14, 0, tzinfo=UTC)  # Thursday 15:00 CET
BERLIN = Calendar(
    "berlin",
    "Berlin office",
    "Europe/Berlin",
    tuple(
        OpenInterval.parse(day, opens, closes)
        for day in range(5)
        for opens, closes in (("09:00", "12:00"), ("13:00", "17:00"))
    ),
    holiday_countries=("DE",),
)


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=UTC)


def _hours(n: float) -> timedelta:
    return timedelta(hours=n)


NORMAL = Policy(
    "normal",
    "Normal tickets",
    10,
    Conditions(priorities=frozenset({Priority.NORMAL})),
    (
        Target(Metric.FIRST_REPLY, Priority.NORMAL, _hours(4), Basis.BUSINESS),
        Target(Metric.NEXT_REPLY, Priority.NORMAL, _hours(2), Basis.BUSINESS),
        Target(Metric.REQUESTER_WAIT, Priority.NORMAL, _hours(8), Basis.BUSINESS),
    ),
    "berlin",
    escalations=(
        Escalation(Metric.NEXT_REPLY, Trigger.WARNING, (Notify(("group:tier1-leads",)),)),
        Escalation(Metric.NEXT_REPLY, Trigger.BREACH, (RaisePriority(Priority.HIGH),)),
    ),
)
URGENT = Policy(
    "urgent",
    "Urgent tickets",
    5,
    Conditions(priorities=frozenset({Priority.URGENT})),
    (Target(Metric.FIRST_REPLY, Priority.URGENT, _hours(1), Basis.CALENDAR),),
    "berlin",
)


class Desk:
    """Feeds one ticket's events to the consumer with rising versions, and runs the timers."""

    def __init__(self, store: SlaStore, clock: FakeClock, tenant: str, ticket_id: str) -> None:
        tickets = TicketSlas(store, SlaConfig(store))
        self.events = SlaEvents(QueueWatches(store), tickets)
        self.worker = TimerWorker(store, clock, {Subject.TICKET: tickets.fire})
        self.tickets = tickets
        self.clock = clock
        self.tenant = tenant
        self.ticket_id = ticket_id
        self.version = 0

    def _deliver(self, message: Message) -> None:
        self.events.handle(new_event(message, source="/test/tickets", subject=self.ticket_id))

    def _next(self, at: datetime) -> int:
        if at > self.clock.now():
            self.run_timers_until(at)
        self.version += 1
        return self.version

    def created(
        self, at: datetime, priority: common_pb2.Priority.ValueType = common_pb2.PRIORITY_NORMAL
    ) -> None:
        version = self._next(at)
        snapshot = ticket_events_pb2.TicketSnapshot(
            ticket_id=self.ticket_id,
            version=version,
            status=common_pb2.TICKET_STATUS_NEW,
            priority=priority,
            type=common_pb2.TICKET_TYPE_INCIDENT,
            channel=common_pb2.CHANNEL_EMAIL,
            created_at=timestamp(at),
            updated_at=timestamp(at),
        )
        self._deliver(ticket_events_pb2.TicketCreated(tenant_id=self.tenant, ticket=snapshot))

    def priority(self, at: datetime, priority: common_pb2.Priority.ValueType) -> None:
        version = self._next(at)
        snapshot = ticket_events_pb2.TicketSnapshot(
            ticket_id=self.ticket_id,
            version=version,
            status=common_pb2.TICKET_STATUS_OPEN,
            priority=priority,
            type=common_pb2.TICKET_TYPE_INCIDENT,
            channel=common_pb2.CHANNEL_EMAIL,
            created_at=timestamp(CREATED),
            updated_at=timestamp(at),
        )
        self._deliver(
            ticket_events_pb2.TicketUpdated(
                tenant_id=self.tenant, ticket=snapshot, changed_fields=["priority"]
            )
        )

    def comment(
        self, at: datetime, author: common_pb2.AuthorType.ValueType, *, reopens: bool = False
    ) -> None:
        version = self._next(at)
        self._deliver(
            ticket_events_pb2.TicketCommented(
                tenant_id=self.tenant,
                ticket_id=self.ticket_id,
                version=version,
                public=True,
                author_type=author,
                commented_at=timestamp(at),
            )
        )
        if reopens:
            self._status(version, common_pb2.TICKET_STATUS_OPEN, at)

    def status(self, at: datetime, to_status: common_pb2.TicketStatus.ValueType) -> None:
        self._status(self._next(at), to_status, at)

    def _status(self, version: int, to_status: common_pb2.TicketStatus.ValueType, at: datetime) -> None:
        self._deliver(
            ticket_events_pb2.TicketStatusChanged(
                tenant_id=self.tenant,
                ticket_id=self.ticket_id,
                version=version,
                to_status=to_status,
                changed_at=timestamp(at),
            )
        )

    def run_timers_until(self, moment: datetime) -> None:
        """Move the clock to each due instant up to `moment` in turn, firing what comes due, as a
        worker polling all along would."""
        while True:
            due = self.tickets.store.next_due()
            if due is None or due > moment:
                break
            if due > self.clock.now():
                self.clock.advance(due - self.clock.now())
            self.worker.run_once()
        if moment > self.clock.now():
            self.clock.advance(moment - self.clock.now())


def _of(events: list[Any], kind: type[Message], metric: int) -> list[Any]:
    return [event for event in events if isinstance(event, kind) and getattr(event, "metric", None) == metric]


@pytest.fixture
def desk(store: SlaStore, tenant: str) -> Desk:
    config = SlaConfig(store)
    config.put_calendar(tenant, BERLIN)
    config.put_policy(tenant, NORMAL)
    config.put_policy(tenant, URGENT)
    return Desk(store, FakeClock(CREATED), tenant, "T-1")


def test_a_ticket_worked_across_easter_and_summer_time(
    desk: Desk, tenant: str, redis_client: redis.Redis
) -> None:
    desk.created(CREATED)
    # First reply, 4 business hours: Thursday 15:00-17:00 CET (2 h), then Tuesday 09:00-11:00 CEST.
    # Warning at 3 h: Tuesday 10:00 CEST. Requester wait, 8 h: Tuesday 09:00-12:00 (5 h so far), then
    # 13:00-16:00 CEST; warning at 6 h, Tuesday 14:00 CEST.
    events = outbox_events(redis_client, OUTBOX_STREAM, tenant)
    (first_reply,) = _of(events, sla_events_pb2.SlaApplied, common_pb2.SLA_METRIC_FIRST_REPLY)
    assert first_reply.policy_id == "normal"
    assert first_reply.time_basis == common_pb2.SLA_TIME_BASIS_BUSINESS
    assert first_reply.calendar_id == "berlin"
    assert first_reply.started_at.ToDatetime(UTC) == CREATED
    assert first_reply.warn_at.ToDatetime(UTC) == utc(3, 30, 8)
    assert first_reply.deadline.ToDatetime(UTC) == utc(3, 30, 9)
    (requester_wait,) = _of(events, sla_events_pb2.SlaApplied, common_pb2.SLA_METRIC_REQUESTER_WAIT)
    assert requester_wait.warn_at.ToDatetime(UTC) == utc(3, 30, 12)
    assert requester_wait.deadline.ToDatetime(UTC) == utc(3, 30, 14)

    # The agent answers at 10:30 CEST, after the warning and before the deadline.
    desk.comment(utc(3, 30, 8, 30), common_pb2.AUTHOR_TYPE_AGENT)
    # Pending at 11:00 CEST: requester wait has run Thursday's 2 h and Tuesday's 2 h; 4 h remain.
    desk.status(utc(3, 30, 9), common_pb2.TICKET_STATUS_PENDING)
    # The customer answers on Wednesday at 14:00 CEST, which reopens the wait: 4 h from then are
    # Wednesday 14:00-17:00 and Thursday 09:00-10:00 CEST. Next reply starts: 2 h, Wednesday 16:00.
    desk.comment(utc(3, 31, 12), common_pb2.AUTHOR_TYPE_CUSTOMER, reopens=True)
    # Nobody answers; the ticket is solved on Thursday at 09:30 CEST.
    desk.status(utc(4, 1, 7, 30), common_pb2.TICKET_STATUS_SOLVED)

    events = outbox_events(redis_client, OUTBOX_STREAM, tenant)
    (warned,) = _of(events, sla_events_pb2.SlaWarning, common_pb2.SLA_METRIC_FIRST_REPLY)
    assert warned.warned_at.ToDatetime(UTC) == utc(3, 30, 8)
    assert not _of(events, sla_events_pb2.SlaBreached, common_pb2.SLA_METRIC_FIRST_REPLY)
    (replied,) = _of(events, sla_events_pb2.SlaFulfilled, common_pb2.SLA_METRIC_FIRST_REPLY)
    assert replied.fulfilled_at.ToDatetime(UTC) == utc(3, 30, 8, 30)
    assert replied.elapsed.ToTimedelta() == _hours(3.5)
    assert not replied.breached

    (paused,) = _of(events, sla_events_pb2.SlaPaused, common_pb2.SLA_METRIC_REQUESTER_WAIT)
    assert paused.remaining.ToTimedelta() == _hours(4)
    assert paused.status == common_pb2.TICKET_STATUS_PENDING
    (resumed,) = _of(events, sla_events_pb2.SlaResumed, common_pb2.SLA_METRIC_REQUESTER_WAIT)
    assert resumed.resumed_at.ToDatetime(UTC) == utc(3, 31, 12)
    assert resumed.deadline.ToDatetime(UTC) == utc(4, 1, 8)
    # Its warning at 6 h: 2 h of the remaining 4, Wednesday 16:00 CEST.
    assert resumed.warn_at.ToDatetime(UTC) == utc(3, 31, 14)
    (wait_done,) = _of(events, sla_events_pb2.SlaFulfilled, common_pb2.SLA_METRIC_REQUESTER_WAIT)
    assert not wait_done.breached
    assert wait_done.elapsed.ToTimedelta() == _hours(7.5)

    (next_applied,) = _of(events, sla_events_pb2.SlaApplied, common_pb2.SLA_METRIC_NEXT_REPLY)
    assert next_applied.deadline.ToDatetime(UTC) == utc(3, 31, 14)
    (next_warned,) = _of(events, sla_events_pb2.SlaWarning, common_pb2.SLA_METRIC_NEXT_REPLY)
    assert next_warned.warned_at.ToDatetime(UTC) == utc(3, 31, 13, 30)
    assert [action.notify.targets[0] for action in next_warned.actions] == ["group:tier1-leads"]
    (next_breached,) = _of(events, sla_events_pb2.SlaBreached, common_pb2.SLA_METRIC_NEXT_REPLY)
    assert next_breached.breached_at.ToDatetime(UTC) == utc(3, 31, 14)
    assert [action.raise_priority for action in next_breached.actions] == [common_pb2.PRIORITY_HIGH]
    (next_done,) = _of(events, sla_events_pb2.SlaFulfilled, common_pb2.SLA_METRIC_NEXT_REPLY)
    assert next_done.breached
    # Nothing is left to fire for a solved ticket.
    assert desk.tickets.store.timers() == 0


def test_a_priority_raised_to_urgent_retargets_from_the_original_start(
    desk: Desk, tenant: str, redis_client: redis.Redis
) -> None:
    desk.created(CREATED)
    # Urgent at 14:30 UTC: first reply is due one calendar hour after the creation, 15:00 UTC, not
    # an hour after the change.
    desk.priority(utc(3, 25, 14, 30), common_pb2.PRIORITY_URGENT)
    events = outbox_events(redis_client, OUTBOX_STREAM, tenant)
    (retargeted,) = _of(events, sla_events_pb2.SlaRetargeted, common_pb2.SLA_METRIC_FIRST_REPLY)
    assert retargeted.policy_id == "urgent"
    assert retargeted.previous_policy_id == "normal"
    assert retargeted.previous_deadline.ToDatetime(UTC) == utc(3, 30, 9)
    assert retargeted.deadline.ToDatetime(UTC) == utc(3, 25, 15)
    assert retargeted.target.ToTimedelta() == _hours(1)
    assert list(retargeted.changed_fields) == ["priority"]
    desk.run_timers_until(utc(3, 25, 16))
    (breached,) = _of(
        outbox_events(redis_client, OUTBOX_STREAM, tenant),
        sla_events_pb2.SlaBreached,
        common_pb2.SLA_METRIC_FIRST_REPLY,
    )
    assert breached.breached_at.ToDatetime(UTC) == utc(3, 25, 15)
    assert breached.policy_id == "urgent"


def test_redelivered_ticket_events_change_nothing(desk: Desk, tenant: str, redis_client: redis.Redis) -> None:
    desk.created(CREATED)
    desk.comment(utc(3, 25, 15), common_pb2.AUTHOR_TYPE_AGENT)
    before = outbox_events(redis_client, OUTBOX_STREAM, tenant)
    desk.version = 0
    desk.created(CREATED)
    desk.comment(utc(3, 25, 15), common_pb2.AUTHOR_TYPE_AGENT)
    assert outbox_events(redis_client, OUTBOX_STREAM, tenant) == before
