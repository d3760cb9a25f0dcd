"""Webhooks end to end: events of two tenants published to Kafka, delivered by the running notify
service to a receiver on 127.0.0.1 as signed CloudEvents, retried, dead-lettered, disabled,
redelivered."""

from __future__ import annotations

import json
import time
from collections import defaultdict

import httpx
from standardwebhooks import Webhook

from helpline.events import from_record
from helpline.kafka.reading import read
from helpline.v1 import webhook_events_pb2
from tests.integration.helpers import wait_until
from tests.integration.notify.conftest import SCHEDULE, Notify
from tests.integration.notify.receiver import Received


def verified(secret: str, request: Received) -> dict[str, object]:
    """The CloudEvent of a request, once its signature checks out with the reference library."""
    event: dict[str, object] = Webhook(secret).verify(request.body, request.headers)
    return event


def test_each_subscribed_event_arrives_once_signed_in_order_and_only_to_its_tenant(notify: Notify) -> None:
    mine = notify.subscribe(notify.mine, "/a", ["helpline.ticket.status_changed.v1"])
    theirs = notify.subscribe(notify.theirs, "/b", ["helpline.ticket.*"])
    assert mine["secret"].startswith("whsec_")
    sent: dict[str, list[str]] = defaultdict(list)
    for version in range(1, 5):
        for ticket in ("t-1", "t-2", "t-3"):
            # Each event twice, as Kafka may deliver it again: it is still delivered once.
            sent[ticket].append(notify.publish_again(notify.tenant, ticket, version, times=2))
    other_ids = {notify.status_changed(notify.other, f"o-{n}", 1) for n in range(3)}

    expected = {event_id for ids in sent.values() for event_id in ids}
    wait_until(lambda: len(notify.receiver.at("/a")) >= len(expected), timeout=30, what="every event at /a")
    wait_until(lambda: len(notify.receiver.at("/b")) >= len(other_ids), timeout=30, what="every event at /b")
    time.sleep(1)  # room for a duplicate, were one coming

    got = notify.receiver.at("/a")
    events = [verified(mine["secret"], request) for request in got]
    assert sorted(str(e["id"]) for e in events) == sorted(expected), "each event exactly once"
    for request, event in zip(got, events, strict=True):
        assert request.headers["content-type"] == "application/cloudevents+json"
        assert event["specversion"] == "1.0"
        assert event["type"] == "helpline.ticket.status_changed.v1"
        data = event["data"]
        assert isinstance(data, dict)
        assert data["tenant_id"] == notify.tenant
    by_ticket: dict[str, list[str]] = defaultdict(list)
    for event in events:
        by_ticket[str(event["subject"])].append(str(event["id"]))
    assert by_ticket == sent, "in order per key"
    # The other tenant's events reach its own subscription only, signed with its own secret.
    assert {str(verified(theirs["secret"], r)["id"]) for r in notify.receiver.at("/b")} == other_ids

    answer = httpx.get(f"{notify.base}/v1/webhooks/{mine['id']}/deliveries", headers=notify.mine)
    assert answer.status_code == 200
    log = answer.json()["items"]
    assert len(log) == len(expected)
    assert {d["status"] for d in log} == {"delivered"}
    assert {d["attempts"] for d in log} == {1}
    # The webhook-id is the delivery's id, which the log shows.
    assert {d["id"] for d in log} == {r.headers["webhook-id"] for r in got}
    # Another tenant sees neither the subscription nor its log.
    assert httpx.get(f"{notify.base}/v1/webhooks/{mine['id']}", headers=notify.theirs).status_code == 404
    assert (
        httpx.get(f"{notify.base}/v1/webhooks/{mine['id']}/deliveries", headers=notify.theirs).status_code
        == 404
    )
    listed = httpx.get(f"{notify.base}/v1/webhooks", headers=notify.theirs).json()["items"]
    assert [s["id"] for s in listed] == [theirs["id"]]
    assert all("secret" not in s for s in listed)


def test_a_failing_target_is_retried_dead_lettered_disabled_and_redelivered(
    notify: Notify, kafka_bootstrap: str
) -> None:
    hook = notify.subscribe(notify.mine, "/fail", ["helpline.ticket.*"])
    notify.receiver.answer("/fail", 500)
    event_id = notify.status_changed(notify.tenant, "t-9", 1)

    def log() -> list[dict[str, object]]:
        answer = httpx.get(f"{notify.base}/v1/webhooks/{hook['id']}/deliveries", headers=notify.mine)
        items: list[dict[str, object]] = answer.json()["items"]
        return items

    wait_until(lambda: [d["status"] for d in log()] == ["dead"], timeout=30, what="the dead letter")
    (dead,) = log()
    assert dead["attempts"] == len(SCHEDULE)
    assert dead["last_status_code"] == 500
    assert dead["last_error"] == "HTTP 500"
    attempts = notify.receiver.at("/fail")
    assert len(attempts) == len(SCHEDULE), "every attempt of the schedule, no more"
    assert {a.headers["webhook-id"] for a in attempts} == {dead["id"]}, "the same webhook-id on each"
    for attempt in attempts:
        assert verified(hook["secret"], attempt)["id"] == event_id
    stamps = [int(a.headers["webhook-timestamp"]) for a in attempts]
    assert stamps == sorted(stamps)

    # Failing for longer than the disable window: disabled, with an event saying so.
    state = httpx.get(f"{notify.base}/v1/webhooks/{hook['id']}", headers=notify.mine).json()
    assert state["enabled"] is False
    assert "HTTP 500" in state["disabled_reason"]
    facts = webhook_facts(
        kafka_bootstrap, notify.tenant, {"WebhookDeliveryDeadLettered", "WebhookSubscriptionDisabled"}
    )
    dead_letter = facts["WebhookDeliveryDeadLettered"]
    assert isinstance(dead_letter, webhook_events_pb2.WebhookDeliveryDeadLettered)
    assert (dead_letter.delivery_id, dead_letter.event_id, dead_letter.attempts) == (dead["id"], event_id, 4)
    assert facts["WebhookSubscriptionDisabled"].subscription_id == hook["id"]  # type: ignore[attr-defined]

    # A redelivery waits while the subscription is disabled, and goes once it is enabled again.
    notify.receiver.answer("/fail", 200)
    url = f"{notify.base}/v1/webhooks/{hook['id']}/deliveries/{dead['id']}/redeliver"
    answer = httpx.post(url, headers=notify.mine)
    assert answer.status_code == 202, answer.text
    assert httpx.post(url, headers=notify.mine).status_code == 409, "still waiting"
    time.sleep(1)
    assert len(notify.receiver.at("/fail")) == len(SCHEDULE), "nothing goes to a disabled subscription"
    enabled = httpx.patch(
        f"{notify.base}/v1/webhooks/{hook['id']}", json={"enabled": True}, headers=notify.mine
    )
    assert enabled.status_code == 200
    assert enabled.json()["disabled_reason"] == ""
    wait_until(lambda: [d["status"] for d in log()] == ["delivered"], timeout=30, what="the redelivery")
    last = notify.receiver.at("/fail")[-1]
    assert last.headers["webhook-id"] == dead["id"]
    assert verified(hook["secret"], last)["id"] == event_id
    delivered = httpx.get(
        f"{notify.base}/v1/webhooks/{hook['id']}/deliveries",
        params={"status": "delivered"},
        headers=notify.mine,
    ).json()["items"]
    assert [d["attempts"] for d in delivered] == [1]


def webhook_facts(bootstrap: str, tenant: str, wanted: set[str]) -> dict[str, object]:
    """The tenant's events on helpline.webhooks, by message name, once each wanted one is there."""
    found: dict[str, object] = {}

    def seen() -> bool:
        for record in read(bootstrap, ["helpline.webhooks"], expected=10**9, timeout=2):
            envelope = from_record(record.headers, record.value, record.key)
            if envelope.tenant_id == tenant:
                found[envelope.message.DESCRIPTOR.name] = envelope.message
        return wanted <= set(found)

    wait_until(seen, timeout=30, what=f"{sorted(wanted)} on helpline.webhooks")
    return found


def test_the_metrics_count_outcomes(notify: Notify) -> None:
    notify.subscribe(notify.mine, "/m", ["*"])
    notify.status_changed(notify.tenant, "t-1", 1)
    wait_until(lambda: len(notify.receiver.at("/m")) == 1, timeout=30, what="the delivery")

    def scraped() -> str:
        return httpx.get(f"{notify.base}/metrics").text

    wait_until(
        lambda: 'helpline_webhook_deliveries_total{outcome="delivered"} 1.0' in scraped(), what="the count"
    )
    text = scraped()
    assert "helpline_webhook_delivery_latency_seconds_count 1.0" in text
    assert "helpline_webhook_backlog" in text
    assert json.dumps("helpline_webhook_subscriptions_disabled_total")[1:-1] in text


def test_an_unreadable_event_is_dead_lettered_and_the_events_around_it_delivered(
    notify: Notify, kafka_bootstrap: str
) -> None:
    """One key's records on one partition, so one poll: the batch stops at the unreadable record,
    which the bus dead-letters alone, and the events on either side of it are still delivered, in
    order."""
    hook = notify.subscribe(notify.mine, "/mixed", ["helpline.ticket.*"])
    before = notify.status_changed(notify.tenant, "t-7", 1)
    notify.producer.send(notify.topic, value=b"not a CloudEvent", key=b"t-7", headers=[]).get(30)
    after = notify.status_changed(notify.tenant, "t-7", 2)
    wait_until(lambda: len(notify.receiver.at("/mixed")) >= 2, timeout=30, what="both events")
    assert [verified(hook["secret"], r)["id"] for r in notify.receiver.at("/mixed")] == [before, after]
    (dead,) = read(kafka_bootstrap, [f"{notify.topic}.dlq"], expected=1, timeout=30)
    assert dead.value == b"not a CloudEvent"
    assert dict(dead.headers)["dlq_topic"] == notify.topic.encode()
