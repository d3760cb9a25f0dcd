"""The router's memory measurement still runs end to end on a tiny tenant, and leaves nothing."""

from __future__ import annotations

import redis

from bench.router_memory import markdown, measure


def test_every_record_kind_is_measured_and_the_tenant_removed(redis_client: redis.Redis) -> None:
    costs = measure(redis_client, agents=4, queues=2, contacts=12)
    assert all(cost.records > 0 and cost.total_bytes > 0 for cost in costs), costs
    finished = next(cost for cost in costs if cost.what == "contact record, finished")
    assert finished.records == 12
    assert "| contact record, finished | finished contact | 12 |" in markdown(costs, lambda: "run")
    assert not list(redis_client.scan_iter(match="rt:{bench-memory-*"))
