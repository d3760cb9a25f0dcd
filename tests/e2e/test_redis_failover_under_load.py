"""The simulated centre while its Redis primary dies (issue 17, "Kill anything, lose nothing"): all
five services as processes on a Redis primary with two replicas behind three Sentinels
(tests/integration/sentinel_group.py), each finding the primary through the Sentinels, for its own
keyspace and for the API keys, and waiting for a replica before it acknowledges a write
(HELPLINE_REDIS_WAIT_REPLICAS=1). The centre runs; BEFORE_S in, the replicas are cut off for
PARTITION_S, so that what the primary applies meanwhile exists nowhere else, then the primary is
SIGKILLed, as a machine dying takes it; the Sentinels promote a replica, and the services follow it
by themselves: no service restarts (the same pids throughout), none exits, no worker fails.

The broker is one of the test's own, as in test_outages_under_load: the services' consumer groups
have fixed names, and on the session's shared broker they would take over what earlier tests left
unconsumed (and its dead letters) into this test's empty Redis.

The simulator rides the failover out as a client (simulator.retry), and afterwards the
platform is held to its ledger exactly as after an outage (tests/e2e/ledger_checks.py; what each
comparison holds is said in test_outages_under_load): every contact, survey and ticket counted once
in Prometheus, the tickets as their people left them, each SLA target applied once and alerted as
the ledger says outside the failover's window, each SLA event counted once, nothing dead-lettered on
Kafka or in the new primary's outboxes. What a service acknowledged (an answer, a committed offset,
a published event) was on a replica first, so the new primary holds it, together with the
deduplication marks of everything a consumer committed: a record handled again after the failover
is recognised, or applied once if its first handling was lost with the primary. Without the wait
(HELPLINE_REDIS_WAIT_REPLICAS=0) the same run fails: calls refused about tickets and contacts the
platform had confirmed, counts missing, SLA alerts fired twice (docs/operations.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.runner import Simulation
from simulator.scenario import Scenario
from tests.e2e.centre import troubled_centre
from tests.e2e.ledger_checks import (
    Outage,
    assert_ledger_held,
    centre_running,
    readiness,
    work_off,
)
from tests.e2e.platform import Platform, running_platform
from tests.integration.helpers import wait_until
from tests.integration.private_stack import PrivateStack
from tests.integration.sentinel_group import MASTER_NAME, SentinelGroup

# Real seconds the centre runs before the primary dies: time for tickets and waits to run their
# whole course clear of the failover.
BEFORE_S = 25.0
# The replicas are cut off this long before the primary dies, longer than a write waits for one
# (HELPLINE_REDIS_WAIT_TIMEOUT_MS, 1 s): what the primary applied meanwhile dies with it.
PARTITION_S = 2.0


def scenario(tenant: str) -> Scenario:
    """test_outages_under_load's centre at 10x for 9 simulated minutes of arrivals (54 s) and up to
    2.4 minutes of drain (14 s): the failover, a few real seconds, is under a minute simulated, so
    callers mostly hold on through it."""
    return troubled_centre(tenant, hours=0.15, speed=10, seed=17, prefix="fo")


@pytest.fixture
def platform(
    sentinel_group: SentinelGroup, private_stack: PrivateStack, unique: str, tmp_path: Path
) -> Iterator[Platform]:
    private_stack.start("kafka")
    # The simulator's API key goes straight to the primary; the services' host is the Sentinels'.
    with running_platform(
        sentinel_group.primary_url(0),
        private_stack.kafka_bootstrap,
        f"sim{unique}",
        unique,
        tmp_path,
        HELPLINE_REDIS_SENTINELS=sentinel_group.sentinels,
        HELPLINE_REDIS_MASTER_NAME=MASTER_NAME,
        HELPLINE_REDIS_WAIT_REPLICAS="1",
    ) as running:
        yield running


@pytest.mark.timeout(300)
def test_the_centre_rides_out_a_redis_failover_and_loses_nothing_acknowledged(
    platform: Platform, sentinel_group: SentinelGroup, private_stack: PrivateStack, unique: str
) -> None:
    centre = scenario(f"sim{unique}")
    sim = Simulation(centre, platform.simulating(centre))
    pids = _pids(platform)
    with centre_running(sim, platform, BEFORE_S) as played:
        failover = fail_over(sentinel_group, platform, private_stack, sim)
        played.result(timeout=180)
    assert _pids(platform) == pids, "a service was restarted"
    new_primary = sentinel_group.primary_url(0)
    assert_ledger_held(platform, sim, [failover], new_primary, private_stack.kafka_bootstrap)


def fail_over(
    group: SentinelGroup, platform: Platform, private_stack: PrivateStack, sim: Simulation
) -> Outage:
    """Cut the replicas off, then SIGKILL the primary under the running centre; over once the
    Sentinels promoted a replica, every service is ready on it and the platform has worked off what
    waited meanwhile."""
    began = sim.clock.now()
    group.partition_replicas()
    time.sleep(PARTITION_S)
    old_port = group.kill_primary()
    killed = sim.clock.now()
    new_port = group.wait_for_failover(old_port)
    promoted = sim.clock.now()
    wait_until(
        lambda: all(readiness(s) == 200 for s in platform.services.values()),
        timeout=60,
        what="every service ready on the new primary",
    )
    ready = sim.clock.now()
    work_off(group.primary_url(0), private_stack.kafka_bootstrap)
    print(
        f"failover: replicas cut off for {killed - began:.1f} s, then primary {old_port} killed; "
        f"{new_port} promoted {promoted - killed:.1f} s later, every service ready on it after "
        f"{ready - killed:.1f} s, the backlog worked off after {sim.clock.now() - killed:.1f} s"
    )
    return Outage(began, sim.clock.now())


def _pids(platform: Platform) -> dict[str, int]:
    return {name: service.process.pid for name, service in platform.services.items() if service.process}
