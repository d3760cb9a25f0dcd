"""docs/reliability.md from a chaos run that held every invariant (a run that broke one raised
before any report): what was injected, what the centre did meanwhile, how fast the platform
recovered, and what the durable settings the run used cost (the durability section of
docs/benchmarks.md, measured by `make bench`)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from tests.chaos.faults import KINDS
from tests.chaos.run import ChaosResult

KIND_WORDS = {
    "kill": "SIGKILL, then restart",
    "stop": "SIGTERM (a clean stop), then restart",
    "freeze": "SIGSTOP, then SIGCONT",
    "latency": "1 s ± 0.5 s latency on a link",
    "stall": "a link that passes no byte",
    "reset": "connections reset by the peer",
}


def durability_section(benchmarks: Path) -> str:
    """The table of the durability section of docs/benchmarks.md, or a pointer when it has none."""
    lines = benchmarks.read_text().splitlines() if benchmarks.exists() else []
    if "## durability" not in lines:
        return "Run `make bench` for the cost of each durability setting (docs/benchmarks.md).\n"
    section = lines[lines.index("## durability") + 1 :]
    end = next((n for n, line in enumerate(section) if line.startswith("## ")), len(section))
    return "\n".join(line for line in section[:end] if line.startswith("|")) + "\n"


def render(result: ChaosResult, command: str, durability: str) -> str:
    kinds = Counter(fault.kind for step in result.steps for fault in step.step.faults)
    p50, worst = result.recovery()
    mixed = sum(1 for step in result.steps if len(step.step.faults) > 1)
    out = [
        "# Reliability",
        "",
        f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC (tests/chaos/; seed "
        f"{result.seed}, {result.duration_s / 60:.0f} minutes). The simulated centre played through "
        "all five services while the faults below were injected one step at a time; after each step, "
        "and at the end, the platform was held to the simulator's ledger (tests/chaos/run.py says "
        "how). Every invariant held: a run that breaks one fails and writes no report.",
        "",
        "The stack: one Kafka broker, one Redis with `appendfsync always` (the durable setting without "
        "replicas), and a Toxiproxy between each service and each of them. Recovery is the time from "
        "the fault's end until every service is ready and every consumer group is fewer than 100 "
        "records behind.",
        "",
        "## Summary",
        "",
        "| what | count |",
        "|---|---|",
        f"| steps (of them, two faults at once) | {len(result.steps)} ({mixed}) |",
        *(f"| {kind}: {KIND_WORDS[kind]} | {kinds[kind]} |" for kind in KINDS),
        f"| contacts the centre lived | {result.contacts:,} |",
        f"| offers made, agent state changes checked | {result.offers:,}, {result.state_changes:,} |",
        f"| tickets opened, comments written, surveys answered | {result.tickets:,}, {result.comments:,}, "
        f"{result.surveys:,} |",
        "| acknowledged operations lost | 0 |",
        "| events applied twice (a count in excess, an SLA alert fired twice, a comment added twice) | 0 |",
        "| contacts offered to two agents at once or with two at once; agents over capacity | 0 |",
        f"| recovery p50 / max | {p50:.1f} s / {worst:.1f} s |",
        "",
    ]
    metrics_kills = sum(
        1 for step in result.steps for f in step.step.faults if (f.kind, f.target) == ("kill", "metrics")
    )
    if metrics_kills:
        out += [
            f"The SIGKILLs of the metrics service ({metrics_kills}) lost no count: its counters and "
            "histograms live in Redis, made in the same script as the marks that count each event "
            "once, and the replica started again under its name exports them on.",
            "",
        ]
    out += [
        "## Steps",
        "",
        "| # | faults | recovery s |",
        "|---|---|---|",
        *(f"| {n} | {step.step} | {step.recovery_s:.1f} |" for n, step in enumerate(result.steps, 1)),
        "",
        "## What durability costs",
        "",
        "The run's settings lose nothing on a crash of Redis or of a service. With Redis replicas behind "
        "Sentinel, `HELPLINE_REDIS_WAIT_REPLICAS=1` does the same for a failover (docs/operations.md). "
        "From docs/benchmarks.md:",
        "",
        durability,
    ]
    return "\n".join(out)
