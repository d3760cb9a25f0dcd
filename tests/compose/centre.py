"""The simulated centre run against a platform brought up for real, from the host, and the KPIs in
its Prometheus held to the centre's ledger as the end-to-end test holds them (tests/e2e/
test_simulation.py, whose scenario and comparisons this reuses). Shared by the compose test and the
kube test (tests/kube), which differ only in where the platform answers, and where its notify
service reaches the simulator's webhook receiver on the host (the host's address on the platform's
podman network).

What differs from the end-to-end test is only what the deployment sets: Prometheus scrapes and
evaluates its rules every 15 s (deploy/compose/prometheus.yml; the PodMonitor's interval), not every
second, so the reads wait longer; the services run with the deployment's settings (the API keys'
default rate, say).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import redis

from helpline.auth import ApiKeyStore
from helpline.ingress_secrets import IngressSecrets
from simulator.keys import VALID_FOR, RunKeys, run_keys
from simulator.runner import Connections, Simulation
from tests.e2e.ledger_checks import assert_surveys_delivered
from tests.e2e.platform import SlaEvents, Slot, counted, eventually, wait_for_queues
from tests.e2e.prometheus import Prometheus
from tests.e2e.test_simulation import (
    assert_agents_and_tickets,
    assert_means,
    assert_service_levels,
    assert_sla_events,
    assert_surveys,
    scenario,
)
from tests.integration.helpers import wait_until

# Two scrapes and a rule evaluation at 15 s, with room: how long a KPI may take to reach Prometheus
# (and a recording rule to catch up) after the run.
SETTLE_S = 90.0


def drive_and_hold_to_ledger(
    *,
    tenant: str,
    pepper: str,
    redis_url: str,
    kafka_bootstrap: str,
    router_http: str,
    router_grpc: str,
    sla_http: str,
    tickets_grpc: str,
    tickets_http: str,
    notify_http: str,
    receiver_host: str,
    prometheus_url: str,
    progress: Callable[[str], None],
) -> None:
    # The operator's part, on the platform's Redis: keys hashed with its pepper in the auth database
    # (0, HELPLINE_AUTH_REDIS_URL) and the tenant's ingress secret, as the e2e platform makes them.
    auth = redis.Redis.from_url(redis_url)
    api_keys = ApiKeyStore(auth, pepper=pepper)
    admin = api_keys.create(tenant, "deployment-test", expires_at=datetime.now(UTC) + VALID_FOR)[1]
    signer = IngressSecrets(auth).create(tenant, "simulator")
    connections = Connections(
        kafka_bootstrap=kafka_bootstrap,
        router_http=router_http,
        router_grpc=router_grpc,
        keys=RunKeys.shared(admin),
        ingress_key=signer,
        sla_http=sla_http,
        tickets_grpc=tickets_grpc,
        tickets_http=tickets_http,
        notify_http=notify_http,
        # The survey tool's receiver, on the host's address on the platform's network, where
        # notify's container calls it.
        receiver_listen=f"{receiver_host}:0",
    )
    prometheus = Prometheus(prometheus_url)
    centre = scenario(tenant)
    with run_keys(api_keys, centre) as keys:
        sim = Simulation(centre, replace(connections, keys=keys))
        try:
            sim.configure()
            every_queue = {("e2e-voice", "voice"), ("e2e-chat", "chat"), ("e2e-email", "email")}
            progress("configured the centre; waiting for its queues in Prometheus (15 s scrapes)")
            wait_for_queues(prometheus, tenant, every_queue)
            progress(f"simulating {centre.hours * 60:.0f} minutes at {centre.speed:g}x")
            started = time.monotonic()
            floor = asyncio.run(sim.run())
            progress(f"simulation done in {time.monotonic() - started:.0f} s")
        finally:
            sim.close()
    assert sim.problems == []
    assert_surveys_delivered(sim)
    truth = floor.ledger.figures(sim.thresholds())
    queued = {slot: float(seen.queued) for slot, seen in truth.queues.items()}
    where = f'tenant="{tenant}"'

    def count(name: str) -> dict[Slot, float]:
        return counted(prometheus, name, tenant, queued)

    progress("holding the KPIs in Prometheus to the ledger")
    wait_until(
        lambda: count("helpline_contacts_queued_total") == queued,
        timeout=SETTLE_S,
        what="every contact in Prometheus",
    )
    assert count("helpline_contacts_answered_total") == {
        s: float(f.answered) for s, f in truth.queues.items()
    }
    assert count("helpline_contacts_abandoned_total") == {
        s: float(f.abandoned) for s, f in truth.queues.items()
    }
    assert_service_levels(prometheus, where, sim, truth)
    eventually(lambda: assert_means(prometheus, where, truth), timeout=SETTLE_S)
    eventually(lambda: assert_surveys(prometheus, where, truth), timeout=SETTLE_S)
    eventually(lambda: assert_agents_and_tickets(prometheus, where, sim), timeout=SETTLE_S)
    self_served = sum(t.self_served for t in floor.ledger.contacts.values())
    assert self_served > 0
    eventually(
        lambda: _equal(
            prometheus.values(f"sum(helpline_contacts_self_served_total{{{where}}})"), [self_served]
        ),
        timeout=SETTLE_S,
    )
    assert len(floor.ledger.tickets) > 0
    with SlaEvents(connections.kafka_bootstrap, tenant) as alerts:
        eventually(lambda: assert_sla_events(alerts, sim), timeout=SETTLE_S)
    progress("the KPIs match the ledger")


def _equal(found: list[float], expected: list[float]) -> None:
    assert found == expected
