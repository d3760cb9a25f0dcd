"""The notify service's own events on `helpline.webhooks`, keyed by subscription id."""

from __future__ import annotations

from datetime import datetime

from helpline.domain import timestamp
from helpline.events import new_event, to_record
from helpline.records import OutgoingRecord
from helpline.topics import WEBHOOKS_TOPIC
from helpline.v1 import webhook_events_pb2
from services.notify.domain.delivery import Delivery

TOPIC = WEBHOOKS_TOPIC
SOURCE = "/helpline/notify"


def dead_lettered(delivery: Delivery, at: datetime) -> OutgoingRecord:
    message = webhook_events_pb2.WebhookDeliveryDeadLettered(
        tenant_id=delivery.tenant_id,
        subscription_id=delivery.subscription_id,
        delivery_id=delivery.id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        attempts=delivery.attempts,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        dead_lettered_at=timestamp(at),
    )
    return to_record(
        new_event(message, source=SOURCE, subject=delivery.id), TOPIC, key=delivery.subscription_id
    )


def subscription_disabled(
    tenant_id: str, subscription_id: str, failing_since: datetime, at: datetime, last_error: str
) -> OutgoingRecord:
    message = webhook_events_pb2.WebhookSubscriptionDisabled(
        tenant_id=tenant_id,
        subscription_id=subscription_id,
        failing_since=timestamp(failing_since),
        disabled_at=timestamp(at),
        last_error=last_error,
    )
    return to_record(new_event(message, source=SOURCE, subject=subscription_id), TOPIC, key=subscription_id)
