"""A replica's counts in the real Redis: made once with their mark, read back as Prometheus series,
served as last read while Redis is away, and given an end of life."""

from __future__ import annotations

from datetime import timedelta

import redis
from prometheus_client import CollectorRegistry

from helpline.redis_client import connect
from helpline.settings import Settings
from services.metrics.counts import Counts
from services.metrics.round_trip import Arg, RoundTrip
from tests.integration.private_stack import PrivateStack

KEEP = timedelta(hours=1)


def _replica(client: redis.Redis, name: str) -> tuple[Counts, CollectorRegistry]:
    registry = CollectorRegistry()
    counts = Counts(client, name, KEEP)
    registry.register(counts)
    return counts, registry


def test_counts_are_made_once_with_their_mark_and_read_as_series(
    redis_client: redis.Redis, unique: str
) -> None:
    counts, registry = _replica(redis_client, f"counts-{unique}")
    answered = counts.counter("helpline_answered_total", "Answers.", ["tenant"])
    wait = counts.histogram("helpline_wait_seconds", "Waits.", ["tenant"], [5, 10])
    moves: list[Arg] = []
    counts.add(moves, answered, ("acme",))
    counts.observe(moves, wait, ("acme",), 7)
    counts.observe(moves, wait, ("acme",), 10)
    counts.observe(moves, wait, ("acme",), 60)
    counts.prime(answered, ("globex",))
    with RoundTrip(redis_client) as trip:
        for _ in range(2):
            counts.once(trip, f"mark:{unique}", 1, 60_000, moves)
        counts.keep(trip)
        trip.run()

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("helpline_answered_total", tenant="acme") == 1
    assert value("helpline_answered_total", tenant="globex") == 0
    assert value("helpline_wait_seconds_bucket", tenant="acme", le="5.0") == 0
    assert value("helpline_wait_seconds_bucket", tenant="acme", le="10.0") == 2
    assert value("helpline_wait_seconds_bucket", tenant="acme", le="+Inf") == 3
    assert value("helpline_wait_seconds_count", tenant="acme") == 3
    assert value("helpline_wait_seconds_sum", tenant="acme") == 77
    assert 0 < redis_client.pttl(counts.key) <= KEEP / timedelta(milliseconds=1)


def test_a_field_of_no_family_known_is_left_out_of_the_scrape(redis_client: redis.Redis, unique: str) -> None:
    counts, registry = _replica(redis_client, f"counts-{unique}")
    answered = counts.counter("helpline_answered_total", "Answers.", ["tenant"])
    # A series a newer build counts, and one whose label value held the separator.
    redis_client.hset(
        counts.key,
        mapping={
            "helpline_newer\x1facme": 3,
            "helpline_answered\x1fa\x1fb": 1,
            "helpline_answered\x1facme": 2,
        },
    )
    assert registry.get_sample_value("helpline_answered_total", {"tenant": "acme"}) == 2
    assert answered.name == "helpline_answered"


def test_the_last_counts_read_are_served_while_redis_is_away(
    private_stack: PrivateStack, unique: str
) -> None:
    private_stack.start("redis")
    client = connect(private_stack.redis_url, Settings(redis_socket_timeout_seconds=2))
    counts, registry = _replica(client, f"counts-{unique}")
    answered = counts.counter("helpline_answered_total", "Answers.", ["tenant"])
    client.hset(counts.key, counts.field(answered, ("acme",)), 4)
    assert registry.get_sample_value("helpline_answered_total", {"tenant": "acme"}) == 4
    private_stack.stop("redis")
    try:
        assert registry.get_sample_value("helpline_answered_total", {"tenant": "acme"}) == 4
    finally:
        client.close()
