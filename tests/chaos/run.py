"""A chaos run: the simulated centre plays through all five services while a seeded schedule of
faults is injected, one step at a time; the platform is held to the simulator's ledger after each
step and at the end. Every invariant is asserted: a run that returns held them all.

After each step, once the platform has recovered (every service ready, every consumer group less
than LAG_LIMIT records behind; the time that takes from the heal is its recovery time):
- no service process exited or had a worker fail, nothing reached a dead-letter topic or outbox;
- no acknowledged ticket is missing: every ticket the ledger had when the step healed is in the
  tickets service;
- no contact was offered to two agents at once or with two at once, no agent was over capacity
  (tests/chaos/assignments.py, on every contact and agent event so far);
- no SLA subject was warned, breached, fulfilled or applied by two distinct events.

At the end, once the centre has drained, as tests/e2e/test_outages_under_load.py holds it: each
solved ticket's survey request delivered to the simulator's receiver exactly once (repeats of one
delivery dropped by it), every count of contacts, surveys and tickets in Prometheus equal to the
ledger's, the tickets as the
ledger's people left them, the SLA events the ledger implies (warned or breached compared only for
what ran clear of every step), each SLA event counted once. The counts are read through restarts
of the metrics service (ledger_checks.across_restarts), and held exact through its SIGKILLs too:
its counts live in Redis beside the marks that make them once (services/metrics/counts.py).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bench.consumer_lag import ConsumerLag
from helpline.events import from_record
from helpline.kafka.port import KafkaError
from helpline.kafka.reading import reader
from helpline.service import WORKER_BACKOFF
from simulator.runner import Simulation
from simulator.setup import agent_ids
from tests.chaos.assignments import AssignmentAudit
from tests.chaos.faults import Step
from tests.chaos.injector import Injector
from tests.chaos.stack import ChaosStack, chaos_stack
from tests.e2e.centre import SPEED, troubled_centre
from tests.e2e.ledger_checks import (
    CONSUMERS,
    Outage,
    Tally,
    across_restarts,
    assert_nothing_dead_lettered,
    assert_nothing_exited_or_failed,
    assert_sla_events,
    assert_surveys_delivered,
    assert_tickets,
    centre_running,
    read_tickets,
    sla_tallies,
    tallies,
)
from tests.e2e.platform import Platform, SlaEvents, eventually, running_platform
from tests.integration.helpers import wait_until

# The centre runs this long before the first fault: tickets and waits run their whole course clear
# of any fault, for the SLA comparison.
WARM_UP_S = 35.0
# Between a recovery and the next step.
GAP_S = 3.0
# What a step takes beyond its hold, on average, to size the centre's arrivals to the schedule.
STEP_ESTIMATE_S = 6.0
RECOVERY_TIMEOUT_S = 180.0
LAG_LIMIT = 100
ROUTING_TOPICS = ("helpline.contacts", "helpline.agents")

T = TypeVar("T")


@dataclass(frozen=True)
class StepResult:
    step: Step
    recovery_s: float
    outage: Outage


@dataclass
class ChaosResult:
    seed: int
    steps: list[StepResult] = field(default_factory=list)
    contacts: int = 0
    tickets: int = 0
    comments: int = 0
    surveys: int = 0
    offers: int = 0
    state_changes: int = 0
    duration_s: float = 0.0

    def recovery(self) -> tuple[float, float]:
        """Median and maximum recovery time, in seconds."""
        times = [result.recovery_s for result in self.steps]
        return statistics.median(times), max(times)


def run_chaos(steps: list[Step], folder: Path, *, seed: int, tenant: str, pepper: str) -> ChaosResult:
    began = time.monotonic()
    result = ChaosResult(seed)
    planned_s = WARM_UP_S + sum(max(f.hold_s for f in s.faults) + STEP_ESTIMATE_S + GAP_S for s in steps)
    scenario = troubled_centre(tenant, hours=planned_s * SPEED / 3600)
    capacity: dict[str, dict[str, int]] = {
        agent: {channel: slots for channel, slots in group.capacity.items()}
        for group in scenario.agents
        for agent in agent_ids(group)
    }
    with (
        chaos_stack(folder / "stack") as stack,
        running_platform(
            stack.redis_url, stack.kafka_bootstrap, tenant, pepper, folder, per_service=stack.service_env
        ) as platform,
        routing_events(stack.kafka_bootstrap, tenant, capacity) as audit,
        SlaEvents(stack.kafka_bootstrap, tenant) as alerts,
        closing(ConsumerLag(stack.kafka_bootstrap, {g: (g, t) for g, t in CONSUMERS.items()})) as lag,
    ):
        sim = Simulation(scenario, platform.simulating(scenario))
        injector = Injector(platform, stack)
        with centre_running(sim, platform, WARM_UP_S) as played:
            for number, step in enumerate(steps, 1):
                print(f"chaos step {number}/{len(steps)}: {step}", flush=True)
                outcome = play_step(step, injector, platform, sim, lag)
                result.steps.append(outcome)
                print(f"  recovered in {outcome.recovery_s:.1f} s", flush=True)
                check_step(platform, stack, sim, audit(), alerts)
                time.sleep(GAP_S)
            played.result(timeout=planned_s + 600)
        assert sim.problems == []
        assert_nothing_exited_or_failed(platform)
        check_end(result, platform, stack, sim, alerts, time.monotonic() - began)
        final = audit()
        assert final.violations == []
        result.offers, result.state_changes = final.offers, final.state_changes
    ledger = sim.floor.ledger
    result.contacts = len(ledger.contacts)
    result.tickets = len(ledger.tickets)
    result.comments = sum(t.replies + t.contacts - 1 for t in ledger.tickets.values())
    result.surveys = sum(1 for survey in ledger.surveys.values() if survey.answers)
    result.duration_s = time.monotonic() - began
    return result


def play_step(
    step: Step, injector: Injector, platform: Platform, sim: Simulation, lag: ConsumerLag
) -> StepResult:
    began = sim.clock.now()
    for fault in step.faults:
        injector.inject(fault)
    time.sleep(max(fault.hold_s for fault in step.faults))
    # Recovery counts from the fault's end: a restart of what was killed is part of it.
    healed = time.monotonic()
    for fault in step.faults:
        injector.heal(fault)
    wait_until(
        lambda: all(s.ready() for s in platform.services.values()) and behind(lag) < LAG_LIMIT,
        timeout=RECOVERY_TIMEOUT_S,
        what=f"the platform to recover from {step}",
    )
    recovered_s = time.monotonic() - healed
    # A background loop a fault made fail (the SLA service's timers) sleeps up to its backoff's cap
    # before it runs again: what it times runs late until then, and the SLA comparison leaves out
    # what ran so near a fault.
    settled = sim.clock.now() + WORKER_BACKOFF.cap_s
    return StepResult(step, recovered_s, Outage(began, settled))


def check_step(
    platform: Platform, stack: ChaosStack, sim: Simulation, audit: AssignmentAudit, alerts: SlaEvents
) -> None:
    assert_nothing_exited_or_failed(platform)
    assert_nothing_dead_lettered(stack.redis_url, stack.kafka_bootstrap)
    acknowledged = settled(lambda: set(sim.floor.ledger.tickets))
    missing = acknowledged - set(read_tickets(platform))
    assert missing == set(), f"acknowledged tickets missing: {sorted(missing)}"
    assert audit.violations == []
    alerts.read()
    assert alerts.duplicates() == {}


def check_end(
    result: ChaosResult,
    platform: Platform,
    stack: ChaosStack,
    sim: Simulation,
    alerts: SlaEvents,
    elapsed_s: float,
) -> None:
    assert_surveys_delivered(sim)
    over = across_restarts(int(elapsed_s) + 120)
    tenant = sim.scenario.tenant

    def counts() -> list[Tally]:
        alerts.read()
        return tallies(platform.prometheus, tenant, sim, over) + sla_tallies(
            platform.prometheus, tenant, alerts, over
        )

    def held() -> None:
        wrong = [t for t in counts() if t.found != t.expected]
        assert not wrong, f"counts other than the ledger's: {wrong}"

    eventually(held, timeout=60)
    eventually(lambda: assert_tickets(platform, sim), timeout=60)
    eventually(lambda: assert_sla_events(alerts, sim, [s.outage for s in result.steps]), timeout=60)
    assert_nothing_dead_lettered(stack.redis_url, stack.kafka_bootstrap)


def settled(read: Callable[[], T]) -> T:
    """`read()` of what the simulation's thread may be changing: again if it changed meanwhile."""
    while True:
        try:
            return read()
        except RuntimeError:
            continue


@contextmanager
def routing_events(
    bootstrap: str, tenant: str, capacity: dict[str, dict[str, int]]
) -> Iterator[Callable[[], AssignmentAudit]]:
    """The audit of the tenant's contact and agent events, brought up to date at each call."""
    checked = AssignmentAudit(capacity)
    with reader(bootstrap, ROUTING_TOPICS) as consumer:

        def audit() -> AssignmentAudit:
            while records := consumer.poll(0.5, 500):
                envelopes = (from_record(r.headers, r.value, r.key) for r in records)
                checked.feed((e.id, e.message) for e in envelopes if e.tenant_id == tenant)
            return checked

        yield audit


def behind(lag: ConsumerLag) -> float:
    """How far behind the busiest consumer group is, in records; unknown (infinite) while the broker
    cannot say."""
    try:
        return max(lag.behind().values())
    except KafkaError:
        return float("inf")
