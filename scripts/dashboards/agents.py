"""Helpline / Agents: how many of the tenant's agents are signed in, where their time goes, and
occupancy."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import units

from scripts.dashboards.kpis import KPIS
from scripts.dashboards.panels import (
    COUNT,
    NEUTRAL,
    PERCENT,
    RATE,
    TENANT,
    Scale,
    new_dashboard,
    query,
    stat_panel,
    tenant_variable,
    timeseries_panel,
)


def agents() -> dash.Dashboard:
    by_status = f"max without (instance) (helpline_agents{{{TENANT}}})"
    signed_in = f'{TENANT}, status!="offline"'
    state_rate = f"sum by (state) (rate(helpline_agent_state_seconds_total{{{signed_in}}}[{RATE}]))"
    occupancy = KPIS[4]
    return (
        new_dashboard(
            "helpline-agents",
            "Helpline / Agents",
            "The tenant's agents: how many are signed in, where their time goes, and occupancy.",
            tenant_variable(),
        )
        .with_row(dash.Row("Agents"))
        .with_panel(
            stat_panel(
                "Agents by status",
                "Agents offline, available or away now.",
                Scale(units.Short, NEUTRAL, 0, decimals=0),
                query(by_status, "{{status}}", instant=True),
                width=6,
                height=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Agents by status",
                "Agents by status over time (every metrics replica reports the whole figure: max, not sum).",
                COUNT,
                query(by_status, "{{status}}"),
                width=18,
                stacked=True,
            )
        )
        .with_row(dash.Row("Time"))
        .with_panel(
            timeseries_panel(
                "Agents in each state",
                "Agent-seconds per second in each state: the mean number of signed-in agents (available "
                "or away) idle, offered a contact, busy, in after-contact work, or having missed an offer.",
                COUNT,
                query(state_rate, "{{state}}"),
                width=12,
                stacked=True,
            )
        )
        .with_panel(
            timeseries_panel(
                "Share of agent time by state",
                "Each state's share of the time agents were signed in (available or away).",
                PERCENT,
                query(f"{state_rate} / ignoring (state) group_left () sum({state_rate})", "{{state}}"),
                width=12,
                stacked=True,
            )
        )
        .with_row(dash.Row("Occupancy"))
        .with_panel(
            stat_panel(
                "Occupancy",
                occupancy.description,
                occupancy.scale,
                *(query(f"tenant:{occupancy.rule}{w}{{{TENANT}}}", w, instant=True) for w in ("1h", "1d")),
                width=6,
                height=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Occupancy (5m)",
                occupancy.description,
                occupancy.scale,
                query(f"tenant:{occupancy.rule}5m{{{TENANT}}}", "5m"),
                width=18,
                threshold_lines=True,
            )
        )
    )
