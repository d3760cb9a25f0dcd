"""What the simulator shows while it runs: the simulated clock and progress, each queue's waiting
contacts and service level so far, the agents by what they are doing. The figures are the
simulator's own ground truth; the platform's are in Prometheus."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table

from simulator.alerts import COUNTED
from simulator.floor import AgentActivity
from simulator.model import HOUR_S

if TYPE_CHECKING:
    from simulator.runner import Simulation

PLAIN_EVERY_S = 10.0
PROBLEMS_SHOWN = 5


def clock_of_day(scenario_start_h: float, simulated_s: float) -> str:
    seconds = int(scenario_start_h * HOUR_S + simulated_s) % int(24 * HOUR_S)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def progress_line(sim: Simulation) -> str:
    """One line for logs and bounded runs: where the simulated day is and what is left."""
    scenario, floor = sim.scenario, sim.floor
    simulated = min(sim.clock.simulated(), sim.end_s)
    done = simulated / sim.end_s if sim.end_s else 1.0
    left = timedelta(seconds=round(sim.clock.real(sim.end_s - simulated)))
    phase = "arrivals" if simulated < sim.end_s else "draining"
    return (
        f"{phase} {clock_of_day(scenario.start_h, simulated)} of "
        f"{clock_of_day(scenario.start_h, 0)}-{clock_of_day(scenario.start_h, sim.end_s)} "
        f"({done:.0%}, {left} left at {scenario.speed:g}x) | contacts {floor.arrived}/{floor.planned} "
        f"arrived, {floor.finished} finished, {len(floor.waiting())} waiting | "
        f"{len(sim.problems)} refusals"
    )


def render(sim: Simulation) -> RenderableType:
    return Group(_queues(sim), _agents(sim), alerts_line(sim), progress_line(sim))


def alerts_line(sim: Simulation) -> str:
    """The platform's SLA alerts for the tenant since the run started (the SLA service's events)."""
    counts = sim.alerts.counts
    shown = ", ".join(f"{kind} {counts.get(kind, 0)}" for kind in COUNTED.values())
    return f"SLA alerts from the platform: {shown}"


def _queues(sim: Simulation) -> Table:
    figures = sim.floor.ledger.figures(sim.thresholds())
    waiting = sim.floor.waiting_by_queue()
    table = Table(title=f"Helpline simulation, tenant {sim.scenario.tenant}, run {sim.run_id}", expand=False)
    for column in ("queue", "channel", "waiting", "answered", "abandoned", "service level", "ASA", "AHT"):
        table.add_column(column, justify="left" if column in ("queue", "channel") else "right")
    for (queue, channel), seen in figures.queues.items():
        table.add_row(
            queue,
            channel,
            str(waiting.get((queue, channel), 0)),
            str(seen.answered),
            str(seen.abandoned),
            _share(seen.service_level),
            _seconds(sim, seen.asa_s),
            _seconds(sim, seen.aht_s),
        )
    table.caption = (
        f"self-served {sum(t.self_served for t in sim.floor.ledger.contacts.values())}, "
        f"surveys answered {sim.floor.surveys} of {sim.floor.surveys_requested} "
        f"(CSAT {_share(figures.csat)}), "
        f"occupancy {_share(sim.floor.ledger.occupancy())}, "
        f"offers rejected {sim.floor.rejected}, missed {sim.floor.missed}, transfers {sim.floor.transfers}; "
        "times in simulated seconds"
    )
    return table


def _agents(sim: Simulation) -> Table:
    by_activity = sim.floor.agents_by_activity()
    table = Table(title="agents", expand=False)
    for activity in AgentActivity:
        table.add_column(activity.value, justify="right")
    table.add_row(*(str(by_activity.get(activity, 0)) for activity in AgentActivity))
    return table


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _seconds(sim: Simulation, real_s: float | None) -> str:
    """A wall-clock duration shown as the simulated one it stands for."""
    return "-" if real_s is None else f"{real_s * sim.scenario.speed:.0f} s"


def play(sim: Simulation, console: Console, *, live: bool) -> None:
    """Run the simulation with a live view, or with the progress line every PLAIN_EVERY_S seconds
    where no terminal watches (logs, CI)."""
    if live:
        with Live(render(sim), console=console, refresh_per_second=4, transient=False) as screen:
            sim.view = lambda s: screen.update(render(s))
            asyncio.run(sim.run())
        return
    shown = [-PLAIN_EVERY_S]

    def plain(s: Simulation) -> None:
        if s.clock.now() - shown[0] >= PLAIN_EVERY_S:
            shown[0] = s.clock.now()
            console.print(progress_line(s), highlight=False)

    sim.view = plain
    asyncio.run(sim.run())
    console.print(progress_line(sim), highlight=False)


def summary(sim: Simulation) -> RenderableType:
    """The run's ground truth once it is over, and the platform's refusals, if any."""
    parts: list[RenderableType] = [_queues(sim), alerts_line(sim)]
    if sim.problems:
        shown = "\n  ".join(sim.problems[:PROBLEMS_SHOWN])
        more = len(sim.problems) - PROBLEMS_SHOWN
        parts.append(
            f"the platform refused {len(sim.problems)} calls:\n  {shown}"
            + (f"\n  ...and {more} more" if more > 0 else "")
        )
    return Group(*parts)
