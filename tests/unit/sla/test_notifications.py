"""SLA notify actions as SlaNotificationRequested events: one per notify action of a warning or a
breach, carrying what a webhook subscriber needs to tell the recipients, and none for any other
action or output."""

from __future__ import annotations

from helpline.domain import duration, timestamp
from helpline.v1 import common_pb2, sla_events_pb2
from services.sla.domain.convert import notification_events
from services.sla.domain.model import (
    Basis,
    Metric,
    MoveToTier,
    Notify,
    Priority,
    RaisePriority,
    Tier,
    Trigger,
)
from tests.unit.sla.engine_support import Ticket, at, escalation, h, policy, target

FR = Metric.FIRST_REPLY
LEADS = Notify(("group:leads", "mailto:lead@example.com"), "sla-warning")
ONCALL = Notify(("agent-9",))


def fired(trigger: Trigger, when: float, *actions: object) -> Ticket:
    """A ticket whose first_reply (2 business hours, warning at 75%) names `actions` on `trigger`,
    after its `trigger` timer fired at `when` hours."""
    ticket = Ticket(
        policy(
            target(FR, h(2), Basis.BUSINESS),
            escalations=(escalation(FR, trigger, *actions),),
        )
    )
    ticket.create()
    ticket.fire(FR, trigger, at(when))
    return ticket


def test_a_warning_requests_one_notification_per_notify_action_with_its_facts() -> None:
    ticket = fired(Trigger.WARNING, 1.6, RaisePriority(Priority.HIGH), LEADS, ONCALL)
    (warned,) = ticket.outputs
    found = notification_events("acme", ticket.sla, warned, "evt-1")
    assert [list(n.recipients) for n in found] == [["group:leads", "mailto:lead@example.com"], ["agent-9"]]
    first = found[0]
    assert first.tenant_id == "acme"
    assert first.WhichOneof("subject") == "ticket_id"
    assert first.ticket_id == "t-1"
    assert first.metric == common_pb2.SLA_METRIC_FIRST_REPLY
    assert first.trigger == sla_events_pb2.SLA_TRIGGER_WARNING
    assert (first.policy_id, first.instance_id, first.calendar_id) == ("std", "t-1:first_reply:1", "office")
    assert first.target == duration(h(2))
    assert first.time_basis == common_pb2.SLA_TIME_BASIS_BUSINESS
    assert first.deadline == timestamp(at(2))
    assert first.fired_at == timestamp(at(1.6))
    assert first.template == "sla-warning"
    assert found[1].template == ""
    assert {n.alert_event_id for n in found} == {"evt-1"}


def test_a_breach_requests_its_notifications_as_a_breach() -> None:
    ticket = fired(Trigger.BREACH, 2.5, ONCALL)
    (breached,) = ticket.outputs
    (notification,) = notification_events("acme", ticket.sla, breached, "evt-2")
    assert notification.trigger == sla_events_pb2.SLA_TRIGGER_BREACH
    assert notification.deadline == timestamp(at(2))
    assert notification.fired_at == timestamp(at(2.5))
    assert list(notification.recipients) == ["agent-9"]


def test_no_notification_without_a_notify_action() -> None:
    ticket = fired(Trigger.BREACH, 2.5, RaisePriority(Priority.URGENT), MoveToTier(Tier.L2))
    (breached,) = ticket.outputs
    assert notification_events("acme", ticket.sla, breached, "evt-3") == []


def test_only_warnings_and_breaches_notify() -> None:
    ticket = Ticket(policy(target(FR, h(2)), escalations=(escalation(FR, Trigger.WARNING, LEADS),)))
    (applied,) = ticket.create()
    assert notification_events("acme", ticket.sla, applied, "evt-4") == []
