"""The faults a chaos run injects, and the seeded schedule it injects them in: pure, no I/O.

A fault has a kind, a target and how long it holds before it heals:
- `kill`: SIGKILL of a service replica, Kafka or Redis; it is started again when the fault heals,
  as an orchestrator restarts what died.
- `stop`: SIGTERM of one of them, as an orchestrator stops a pod it moves or upgrades; it stops
  cleanly and is started again when the fault heals.
- `freeze`: SIGSTOP of one of them (a process that keeps its sockets and answers nothing: a long GC
  pause, a stalled VM), then SIGCONT.
- `latency`, `stall`, `reset`: a network fault on the link between one service and Kafka or Redis,
  through Toxiproxy: a second of latency with jitter, a connection that passes no byte until the
  fault heals, or every connection reset by the peer.

A schedule first injects each fault alone, then pairs of faults at once, drawn from the seed: a
run with the same seed injects the same faults in the same order.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

SERVICES = ("router", "tickets", "sla", "metrics", "notify")
DEPENDENCIES = ("kafka", "redis")
PROCESS_KINDS = ("kill", "stop", "freeze")
NETWORK_KINDS = ("latency", "stall", "reset")
KINDS = PROCESS_KINDS + NETWORK_KINDS
# Seconds a fault holds, at least and at most: long enough for clients' timeouts and retries to run,
# short enough that many fit in a run.
HOLD_S = (2.0, 8.0)


@dataclass(frozen=True)
class Fault:
    kind: str
    # A service, `kafka` or `redis` for a process fault; `<service>-><dependency>` for a network one.
    target: str
    hold_s: float

    def __str__(self) -> str:
        return f"{self.kind} {self.target} for {self.hold_s:.1f} s"

    @property
    def link(self) -> tuple[str, str]:
        """The (service, dependency) of a network fault."""
        service, _, dependency = self.target.partition("->")
        return service, dependency

    @property
    def process(self) -> str:
        """What a process fault signals: a service name, `kafka` or `redis`."""
        return self.target


def targets(kind: str) -> list[str]:
    if kind in PROCESS_KINDS:
        return [*SERVICES, *DEPENDENCIES]
    return [f"{service}->{dependency}" for service, dependency in product(SERVICES, DEPENDENCIES)]


@dataclass(frozen=True)
class Step:
    """Faults injected together, healed together once the longest has held."""

    faults: tuple[Fault, ...]

    def __str__(self) -> str:
        return " + ".join(map(str, self.faults))


def schedule(
    seed: int, *, every_target: bool, mixed: int, hold_s: tuple[float, float] = HOLD_S
) -> list[Step]:
    """Each kind of fault alone (on every target if `every_target`, else on one drawn per kind, a
    service and each dependency for a kill or a freeze, a service for a stop), then `mixed` pairs on
    two different targets."""
    rng = random.Random(seed)

    def fault(kind: str, target: str) -> Fault:
        return Fault(kind, target, round(rng.uniform(*hold_s), 1))

    alone: list[Fault] = []
    for kind in KINDS:
        chosen: Sequence[str]
        if every_target:
            chosen = targets(kind)
        elif kind == "stop":
            # A clean stop of Kafka or Redis is what tests/e2e/test_outages_under_load.py does.
            chosen = [rng.choice(SERVICES)]
        elif kind in PROCESS_KINDS:
            chosen = [rng.choice(SERVICES), *DEPENDENCIES]
        else:
            chosen = [rng.choice(targets(kind))]
        alone.extend(fault(kind, target) for target in chosen)
    rng.shuffle(alone)
    steps = [Step((f,)) for f in alone]
    every = [(kind, target) for kind in KINDS for target in targets(kind)]
    for _ in range(mixed):
        first, second = rng.sample(every, 2)
        # Two faults on one process or link would fight over it (a freeze of what a kill took away).
        while second[1] == first[1]:
            second = rng.choice(every)
        steps.append(Step((fault(*first), fault(*second))))
    return steps
