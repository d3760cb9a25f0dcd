"""The registry of tenants with queues, on the real Redis: the snapshot and timer workers find
tenants through it, and a router started on a Redis written before it finds the tenants that
already had queues."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from helpline.clock import FakeClock
from services.router.composition import Router
from services.router.domain.contact import ContactStatus
from services.router.domain.model import Channel, Queue
from services.router.storage.indexes import ms
from services.router.storage.store import Keys
from services.router.storage.tenants import MIGRATED, TENANTS, TenantRegistry
from services.router.usecases.intake import NewContact
from services.router.workers.snapshots import QueueSnapshots
from tests.integration.router.test_snapshots import published_snapshots


@pytest.fixture
def old_layout(redis_client: redis.Redis) -> Iterator[None]:
    """A Redis as routers before the registry left it: the mark gone (restored after the test)."""
    redis_client.delete(MIGRATED)
    yield
    redis_client.set(MIGRATED, "1")


def test_putting_a_queue_registers_its_tenant_for_the_snapshots(
    router: Router, tenant: str, redis_client: redis.Redis
) -> None:
    assert tenant not in router.registry.tenants()
    router.catalog.put_queue(Queue("sales", tenant, "Sales", frozenset({Channel.CHAT})))
    assert tenant in router.registry.tenants()
    QueueSnapshots(router, interval_s=60).run_once()
    assert [key for _, key, _ in published_snapshots(redis_client, tenant)] == ["sales"]


@pytest.mark.usefixtures("old_layout")
def test_a_router_on_an_old_redis_finds_the_tenants_with_queues(
    redis_client: redis.Redis, tenant: str, clock: FakeClock
) -> None:
    writer = Router(redis_client, clock)
    writer.catalog.put_queue(
        Queue("sales", tenant, "Sales", frozenset({Channel.CHAT}), max_wait=timedelta(minutes=1))
    )
    writer.intake.submit(tenant, NewContact(Channel.CHAT, queue_id="sales", contact_id="c1"))
    # The old layout: the queue set and a timer, the tenant in no registry.
    redis_client.srem(TENANTS, tenant)
    assert redis_client.exists(Keys(tenant).queues(), Keys(tenant).timers()) == 2

    started = Router(redis_client, clock)
    assert tenant in started.registry.tenants()
    assert redis_client.get(MIGRATED) == b"1"
    QueueSnapshots(started, interval_s=60).run_once()
    assert [key for _, key, _ in published_snapshots(redis_client, tenant)] == ["sales"]
    clock.advance(timedelta(minutes=2))
    worker = started.timer_worker()
    for member in started.store.due_timers(tenant, ms(clock.now()), 10):
        worker.fire(tenant, member)
    record = started.store.contact(tenant, "c1")
    assert record is not None
    assert record.contact.status is ContactStatus.TIMED_OUT


@pytest.mark.usefixtures("old_layout")
def test_the_scan_runs_once(redis_client: redis.Redis, tenant: str) -> None:
    first = TenantRegistry(redis_client)
    first.tenants()
    # A tenant with a queue set but left out of the registry is not looked for again.
    redis_client.sadd(Keys(tenant).queues(), "q")
    try:
        assert tenant not in TenantRegistry(redis_client).tenants()
    finally:
        redis_client.delete(Keys(tenant).queues())


def test_a_tenant_with_timers_stays_registered(redis_client: redis.Redis, tenant: str) -> None:
    registry = TenantRegistry(redis_client)
    registry.add(tenant)
    redis_client.zadd(Keys(tenant).timers(), {"acw|c1": 1})
    try:
        assert not registry.forget_if_idle(tenant)
        assert tenant in registry.tenants()
    finally:
        redis_client.delete(Keys(tenant).timers())
    assert registry.forget_if_idle(tenant)
    assert tenant not in registry.tenants()
