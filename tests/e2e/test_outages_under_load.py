"""The simulated centre through a minute without Redis, then a minute without the Kafka broker
(issue 16, "Nothing brings it down"): all five services as processes on a Redis and a broker of the
test's own, the centre running; Redis stopped for OUTAGE_S and started again (its AOF keeps what
it acknowledged), then, once the platform has worked off what waited, the broker the same way. An
outage ends, for this test, when every service is ready again and every consumer group has handled
what the log held once the outboxes were relayed: after the broker's restart that takes its
session timeout longer, as each group waits for its members' old sessions to expire.

Throughout, no service process exits or has a worker fail, and nothing reaches a `*.dlq` topic or
an outbox's `<stream>:dead`. Each outage makes every service unready and each recovery ready
again; while Redis is away, REST calls are answered 503 problem+json with a Retry-After, and the
same calls are answered once it is back.

The simulator rides the outages out as a well-behaved client (simulator.retry): it makes
a refused call again until the platform answers, so its ledger still says what its people did, each
act once, and no call is refused for a domain reason. Compared with the ledger after the recovery:

- Exactly, through the metrics service in Prometheus: contacts queued, answered, abandoned and
  completed per queue and channel, self-served contacts, callbacks per queue, the survey answers
  (CSAT satisfied or not, NPS by category, CES count and sum), tickets created, solved and solved
  on the first contact. Each is a count of events: a lost one is missing, one counted twice is in
  excess.
- Exactly, through the tickets API: the tenant's tickets are the ledger's, none missing and none
  made twice by a retried CreateTicket, each solved (or closed) only if the ledger solved it, with
  as many public agent replies and customer comments as the ledger's people wrote (a retried
  AddComment must not add one twice).
- The SLA events on Kafka: each ticket's two targets applied once; fulfilled exactly for the targets
  the ledger ended; no subject warned, breached, fulfilled or applied by two distinct events (a
  record the relay published twice is one event, with one id); no event for a ticket or queued
  contact the ledger does not know; the metrics service counted each event once. Whether a
  target was warned or breached is compared as exactly as tests/e2e/test_simulation.py does, but
  only for what ran wholly outside the outages and SETTLE_S after each: across one, the SLA
  service's timers and the replies they race are held up unequally, so which came first is the
  outage's doing.
- Not compared: waits and handle times, and the KPIs made of them (ASA, AHT, service level,
  occupancy). The simulator's clock runs on through an outage while the platform's acts wait: a
  call made during the Redis outage is answered a minute later, an arrival published during the
  Kafka outage reaches the router a minute late. Only counts and identities can hold.

At 5x, an outage is five simulated minutes: callers (three minutes' patience on average) mostly
hang up, chatters (ten) mostly hold on, emails always do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simulator.runner import Simulation
from tests.e2e.centre import troubled_centre
from tests.e2e.ledger_checks import (
    Outage,
    assert_ledger_held,
    assert_nothing_exited_or_failed,
    centre_running,
    readiness,
    work_off,
)
from tests.e2e.platform import Platform, running_platform
from tests.integration.helpers import wait_until
from tests.integration.private_stack import PrivateStack

OUTAGE_S = 60.0
# The centre runs this long before the first outage (time for tickets and waits to run their whole
# course clear of any outage), and between one recovery and the next outage.
BEFORE_S = 35.0
BETWEEN_S = 20.0
REST_CHECKS = {
    "router": "/v1/queues/out-voice",
    "tickets": "/v1/tickets",
    "sla": "/v1/sla/policies/simulated-tickets",
}


@pytest.fixture
def platform(private_stack: PrivateStack, unique: str, tmp_path: Path) -> Iterator[Platform]:
    private_stack.start("redis")
    private_stack.start("kafka")
    with running_platform(
        private_stack.redis_url, private_stack.kafka_bootstrap, f"sim{unique}", unique, tmp_path
    ) as running:
        yield running


@pytest.mark.timeout(600)
def test_the_centre_rides_out_a_minute_without_redis_and_one_without_kafka(
    platform: Platform, private_stack: PrivateStack, unique: str
) -> None:
    centre = troubled_centre(f"sim{unique}", hours=0.28)
    sim = Simulation(centre, platform.simulating(centre))
    outages = []
    with centre_running(sim, platform, BEFORE_S) as played:
        outages.append(pull("redis", platform, private_stack, sim))
        time.sleep(BETWEEN_S)
        outages.append(pull("kafka", platform, private_stack, sim))
        played.result(timeout=300)
    assert_ledger_held(platform, sim, outages, private_stack.redis_url, private_stack.kafka_bootstrap)


def pull(dependency: str, platform: Platform, private_stack: PrivateStack, sim: Simulation) -> Outage:
    """Stop `dependency` for OUTAGE_S under the running centre, checking the services meanwhile,
    then start it again; back when every service is ready and has worked off what waited."""
    began = sim.clock.now()
    private_stack.stop(dependency)
    services = platform.services.values()
    wait_until(
        lambda: all(readiness(s) == 503 for s in services),
        timeout=30,
        what=f"every service unready without {dependency}",
    )
    if dependency == "redis":
        assert_rest_refused(platform)
    time.sleep(max(0.0, began + OUTAGE_S - sim.clock.now()))
    assert_nothing_exited_or_failed(platform)
    private_stack.start(dependency)
    wait_until(
        lambda: all(readiness(s) == 200 for s in services),
        timeout=120,
        what=f"every service ready again with {dependency} back",
    )
    if dependency == "redis":
        assert_rest_answered(platform)
    work_off(private_stack.redis_url, private_stack.kafka_bootstrap)
    return Outage(began, sim.clock.now())


def _rest(platform: Platform, name: str) -> httpx.Response:
    service = platform.services[name]
    return httpx.get(
        f"http://127.0.0.1:{service.port}{REST_CHECKS[name]}",
        headers={"X-API-Key": platform.connections.keys.admin},
        timeout=30,
    )


def assert_rest_refused(platform: Platform) -> None:
    for name in REST_CHECKS:
        refused = _rest(platform, name)
        assert refused.status_code == 503, (name, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json"), name
        assert int(refused.headers["retry-after"]) >= 1, name
        assert refused.json()["status"] == 503, name


def assert_rest_answered(platform: Platform) -> None:
    for name in REST_CHECKS:
        answered = _rest(platform, name)
        assert answered.status_code == 200, (name, answered.text)
