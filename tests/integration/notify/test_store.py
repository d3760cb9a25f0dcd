"""The delivery store's scripts on a real Redis: a claim hands a worker the earliest due lane with
all its attempt needs and leases it; what cannot be attempted leaves the due set on the way; an
outcome claims the worker's next lane on the same round trip; a delivery refused for a full backlog
is announced once, wherever the announcing stops, and can be delivered again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

from helpline.records import OutgoingRecord
from services.notify.domain.delivery import Delivery, Status, delivery_id
from services.notify.domain.signing import new_secret
from services.notify.domain.subscription import Subscription
from services.notify.store import DUE, OUTBOX_STREAM, STALE, Enqueued, Keys, LaneKey, NotifyStore

# A database of its own on the worker's Redis: the due set is every tenant's, and earlier tests
# leave lanes in theirs.
DB = 13
LANES = 4
LEASE_MS = 30_000
NOW = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)
RETENTION_MS = 86_400_000


@pytest.fixture
def store(redis_url: str) -> Iterator[NotifyStore]:
    client = redis.Redis.from_url(redis_url, db=DB)
    client.flushdb()
    yield NotifyStore(client, LANES)
    client.flushdb()
    client.close()


def subscribe(store: NotifyStore, tenant: str, sub_id: str, *, enabled: bool = True) -> Subscription:
    sub = Subscription(
        id=sub_id,
        tenant_id=tenant,
        url="https://hooks.example/in",
        event_types=("helpline.ticket.status_changed.v1",),
        secret=new_secret(),
        description="",
        enabled=enabled,
        created_at=NOW,
        updated_at=NOW,
    )
    store.save(sub, 0, 10, NOW, [])
    return sub


def delivery(tenant: str, sub_id: str, n: int, lane: int = 0) -> Delivery:
    event_id = f"e{n}"
    return Delivery(
        id=delivery_id(sub_id, event_id),
        tenant_id=tenant,
        subscription_id=sub_id,
        lane=lane,
        event_id=event_id,
        event_type="helpline.ticket.status_changed.v1",
        event_time=NOW,
        status=Status.PENDING,
        attempts=0,
        created_at=NOW,
        next_attempt_at=NOW,
    )


def enqueue(
    store: NotifyStore, tenant: str, deliveries: list[tuple[Delivery, datetime]], most: int = 100
) -> list[Delivery]:
    placed = store.enqueue(
        tenant,
        [Enqueued(d, f"body {d.id}".encode(), due) for d, due in deliveries],
        NOW,
        RETENTION_MS,
        1000,
        most,
    )
    return placed.refused


def test_a_claim_takes_the_earliest_due_lane_with_its_head_and_leases_it(store: NotifyStore) -> None:
    sub = subscribe(store, "acme", "s1")
    first, later = delivery("acme", "s1", 1, lane=1), delivery("acme", "s1", 2, lane=2)
    enqueue(store, "acme", [(later, NOW + timedelta(seconds=1)), (first, NOW)])

    claimed = store.claim(NOW, LEASE_MS)

    assert claimed is not None
    assert claimed.stored is not None
    assert claimed.lane == LaneKey("acme", "s1", 1)
    assert (claimed.delivery, claimed.body) == (first, f"body {first.id}".encode())
    assert claimed.stored.subscription == sub
    assert store.client.zscore(DUE, claimed.lane.member) == pytest.approx(NOW.timestamp() * 1000 + LEASE_MS)
    # Leased: the other lane is not due yet, and the claimed one is not due again until the lease
    # runs out; then both are, the one due first first.
    assert store.claim(NOW, LEASE_MS) is None
    after_lease = NOW + timedelta(milliseconds=LEASE_MS)
    assert [
        c.lane.lane for c in (store.claim(after_lease, LEASE_MS), store.claim(after_lease, LEASE_MS)) if c
    ] == [2, 1]


def test_what_cannot_be_attempted_leaves_the_due_set_on_the_way_to_a_lane_that_can(
    store: NotifyStore,
) -> None:
    subscribe(store, "acme", "off", enabled=False)
    subscribe(store, "acme", "on")
    keys = Keys("acme")
    gone, waiting = delivery("acme", "on", 1), delivery("acme", "on", 2)
    enqueue(store, "acme", [(gone, NOW), (waiting, NOW)])
    store.client.delete(keys.delivery(gone.id))
    store.client.rpush(keys.lane("off", 0), "msg_x")
    store.client.zadd(
        DUE,
        {
            "not a member": 0,
            LaneKey("acme", "off", 0).member: 1,
            LaneKey("acme", "on", 3).member: 2,
            LaneKey("acme", "on", 0).member: 3,
        },
    )

    claimed = store.claim(NOW, LEASE_MS)

    assert claimed is not None
    assert claimed.delivery == waiting
    assert store.client.zrange(DUE, 0, -1) == [LaneKey("acme", "on", 0).member.encode()]
    assert store.client.lrange(keys.lane("on", 0), 0, -1) == [waiting.id.encode()]


def test_an_outcome_finishes_the_head_and_claims_the_next_due_lane_on_the_same_trip(
    store: NotifyStore,
) -> None:
    subscribe(store, "acme", "s1")
    one, two, other = delivery("acme", "s1", 1), delivery("acme", "s1", 2), delivery("acme", "s1", 3, lane=2)
    enqueue(store, "acme", [(one, NOW), (two, NOW), (other, NOW + timedelta(seconds=5))])
    claimed = store.claim(NOW, LEASE_MS)
    assert claimed is not None
    assert claimed.delivery == one
    done = NOW + timedelta(seconds=2)

    failing, following = store.outcome(
        one, one.delivered(done, 204), "delivered", done, RETENTION_MS, claim_lease_ms=LEASE_MS
    )

    assert failing == 0
    # The lane's next is due at once and earliest, so the worker goes on with it.
    assert following is not None
    assert following.delivery == two
    assert store.backlog() == 2
    # A stale outcome (another replica attempted the head meanwhile) changes nothing, and with no
    # lease asked for claims nothing either.
    assert store.outcome(one, one.delivered(done, 204), "delivered", done, RETENTION_MS) == (STALE, None)
    assert store.backlog() == 2


def test_a_refusal_for_a_full_backlog_is_announced_once_and_can_be_delivered_again(
    store: NotifyStore,
) -> None:
    subscribe(store, "acme", "s1")
    kept, refused = delivery("acme", "s1", 1), delivery("acme", "s1", 2)
    assert enqueue(store, "acme", [(kept, NOW), (refused, NOW)], most=1) == [refused]
    # Read again before it was announced (the process stopped in between): refused again, still once.
    assert enqueue(store, "acme", [(kept, NOW), (refused, NOW)], most=1) == [refused]
    dead = refused.failed(NOW, 0, "refused: full", None)
    record = OutgoingRecord("helpline.webhooks", b"dead", b"acme", [])

    assert store.announce_refused([(dead, record)]) == 1
    assert store.announce_refused([(dead, record)]) == 0
    assert enqueue(store, "acme", [(refused, NOW)], most=1) == []

    assert store.client.xlen(OUTBOX_STREAM) == 1
    assert store.delivery("acme", refused.id) == dead
    assert {d.id for d in store.log("acme", "s1")} == {kept.id, refused.id}
    assert store.redeliver(dead.again(NOW), NOW) == 1
    assert store.backlog() == 2
