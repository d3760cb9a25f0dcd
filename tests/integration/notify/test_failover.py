"""The notify service behind Redis Sentinel while its primary dies: its delivery workers, each on a
Redis connection of its own, follow the promoted replica by themselves, and events published after
the failover are delivered, every one (a worker's kept connection would otherwise go on
reconnecting to the dead primary's address: only a connection taken from the pool anew asks the
Sentinels)."""

from __future__ import annotations

import time

from helpline.redis_client import connect
from helpline.settings import load_settings
from tests.integration.helpers import wait_until
from tests.integration.notify.conftest import running_notify
from tests.integration.sentinel_group import MASTER_NAME, SentinelGroup

# With Sentinels the URL's host is never used: only its database counts.
SERVICE_DB = "redis://sentinel-named-primary/5"
EVENT_TYPE = "helpline.ticket.status_changed.v1"


def test_the_delivery_workers_follow_a_failover(
    sentinel_group: SentinelGroup, kafka_bootstrap: str, unique: str
) -> None:
    sentinel = {"redis_sentinels": sentinel_group.sentinels, "redis_master_name": MASTER_NAME}
    keys_client = connect(SERVICE_DB, load_settings(**sentinel))
    with running_notify(kafka_bootstrap, SERVICE_DB, keys_client, unique, **sentinel) as notify:
        notify.subscribe(notify.mine, "/in", [EVENT_TYPE])
        before = {notify.status_changed(notify.tenant, f"t-{n}", 1) for n in range(8)}
        wait_until(lambda: len(notify.receiver.at("/in")) >= len(before), what="the events before")

        old_port = sentinel_group.kill_primary()
        assert sentinel_group.wait_for_failover(old_port) != old_port
        after = {notify.status_changed(notify.tenant, f"t-{n}", 2) for n in range(8)}

        def arrived() -> set[str]:
            return {r.headers["webhook-id"] for r in notify.receiver.at("/in")}

        wait_until(lambda: len(arrived()) >= len(before) + len(after), timeout=60, what="the events after")
        time.sleep(0.5)
        assert len(arrived()) == len(before) + len(after)
    keys_client.close()
