"""SLA notify actions through the SLA service's consumer and timer worker on the real Redis: each
notify action of a warning or breach is one SlaNotificationRequested in the same outbox write as
the alert, requested once per metric instance and trigger however often its timer is fired."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import redis

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
from services.sla.store import OUTBOX_STREAM, SlaStore, Subject, TimerKey
from services.sla.ticket_slas import TicketSlas
from services.sla.timers import TimerWorker
from services.sla.watches import QueueWatches
from tests.integration.outbox_events import outbox
from tests.integration.sla.conftest import START

ALWAYS = Calendar(
    "always",
    "Always open",
    "UTC",
    tuple(OpenInterval.parse(day, "00:00", "24:00") for day in range(7)),
)
FOUR_HOURS = timedelta(hours=4)


def policy(*escalations: Escalation) -> Policy:
    return Policy(
        "std",
        "Standard",
        10,
        Conditions(),
        (Target(Metric.FIRST_REPLY, Priority.NORMAL, FOUR_HOURS, Basis.BUSINESS),),
        "always",
        escalations=escalations,
    )


class Sla:
    def __init__(self, store: SlaStore, clock: FakeClock, tenant: str, chosen: Policy) -> None:
        config = SlaConfig(store)
        config.put_calendar(tenant, ALWAYS)
        config.put_policy(tenant, chosen)
        self.tickets = TicketSlas(store, config)
        self.events = SlaEvents(QueueWatches(store), self.tickets)
        self.worker = TimerWorker(store, clock, {Subject.TICKET: self.tickets.fire})
        self.clock = clock
        self.tenant = tenant

    def create(self, ticket_id: str) -> None:
        snapshot = ticket_events_pb2.TicketSnapshot(
            ticket_id=ticket_id,
            version=1,
            status=common_pb2.TICKET_STATUS_NEW,
            priority=common_pb2.PRIORITY_NORMAL,
            created_at=timestamp(START),
            updated_at=timestamp(START),
        )
        created = ticket_events_pb2.TicketCreated(tenant_id=self.tenant, ticket=snapshot)
        self.events.handle(new_event(created, source="/test/tickets", subject=ticket_id))

    def run_until(self, hours: float) -> None:
        self.clock.advance(START + timedelta(hours=hours) - self.clock.now())
        self.worker.run_once()


def sla_events(client: redis.Redis, tenant: str) -> list[tuple[bytes, Any]]:
    return [(key, e) for key, e in outbox(client, OUTBOX_STREAM) if getattr(e, "tenant_id", "") == tenant]


def notifications(client: redis.Redis, tenant: str) -> list[sla_events_pb2.SlaNotificationRequested]:
    kind = sla_events_pb2.SlaNotificationRequested
    return [event for _, event in sla_events(client, tenant) if isinstance(event, kind)]


def test_a_warning_and_a_breach_each_request_their_notification_once(
    store: SlaStore, clock: FakeClock, tenant: str, redis_client: redis.Redis
) -> None:
    sla = Sla(
        store,
        clock,
        tenant,
        policy(
            Escalation(Metric.FIRST_REPLY, Trigger.WARNING, (Notify(("group:leads",), "sla-warning"),)),
            Escalation(
                Metric.FIRST_REPLY,
                Trigger.BREACH,
                (RaisePriority(Priority.HIGH), Notify(("mailto:duty@example.com",))),
            ),
        ),
    )
    sla.create("T-1")
    sla.run_until(3.5)
    (warned,) = notifications(redis_client, tenant)
    assert warned.WhichOneof("subject") == "ticket_id"
    assert warned.ticket_id == "T-1"
    assert warned.trigger == sla_events_pb2.SLA_TRIGGER_WARNING
    assert warned.metric == common_pb2.SLA_METRIC_FIRST_REPLY
    assert (warned.policy_id, warned.calendar_id) == ("std", "always")
    assert warned.target.ToTimedelta() == FOUR_HOURS
    assert warned.time_basis == common_pb2.SLA_TIME_BASIS_BUSINESS
    assert warned.deadline.ToDatetime(UTC) == START + FOUR_HOURS
    assert warned.fired_at.ToDatetime(UTC) == START + timedelta(hours=3.5)
    assert (list(warned.recipients), warned.template) == (["group:leads"], "sla-warning")
    # Written beside its warning, keyed like it by the ticket.
    keyed = {type(event).__name__: key for key, event in sla_events(redis_client, tenant)}
    assert keyed["SlaNotificationRequested"] == keyed["SlaWarning"] == b"T-1"

    # The same warning timer fired again (another replica, a claim whose lease ran out): nothing new.
    sla.tickets.fire(TimerKey(tenant, Subject.TICKET, "T-1", warned.instance_id, "warning"), clock.now())
    assert len(notifications(redis_client, tenant)) == 1

    sla.run_until(5)
    warned_again, breached = notifications(redis_client, tenant)
    assert warned_again == warned
    assert breached.trigger == sla_events_pb2.SLA_TRIGGER_BREACH
    assert breached.instance_id == warned.instance_id
    assert list(breached.recipients) == ["mailto:duty@example.com"]
    assert breached.fired_at.ToDatetime(UTC) == START + timedelta(hours=5)
    sla.tickets.fire(TimerKey(tenant, Subject.TICKET, "T-1", warned.instance_id, "breach"), clock.now())
    assert len(notifications(redis_client, tenant)) == 2


def test_a_policy_without_notify_requests_no_notification(
    store: SlaStore, clock: FakeClock, tenant: str, redis_client: redis.Redis
) -> None:
    sla = Sla(
        store,
        clock,
        tenant,
        policy(Escalation(Metric.FIRST_REPLY, Trigger.BREACH, (RaisePriority(Priority.HIGH),))),
    )
    sla.create("T-2")
    sla.run_until(5)
    kinds = {type(event).__name__ for _, event in sla_events(redis_client, tenant)}
    assert {"SlaWarning", "SlaBreached"} <= kinds
    assert notifications(redis_client, tenant) == []
