"""Helpline / Contact-center overview: the tenant's KPIs over the last hour and the last day, and
in 5-minute windows over time."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import units

from scripts.dashboards.kpis import KPIS
from scripts.dashboards.panels import (
    CHANNEL,
    NEUTRAL,
    PERCENT,
    RATE,
    TENANT,
    Scale,
    channel_variable,
    new_dashboard,
    query,
    stat_panel,
    tenant_variable,
    timeseries_panel,
)


def overview() -> dash.Dashboard:
    board = new_dashboard(
        "helpline-overview",
        "Helpline / Contact-center overview",
        "The tenant's KPIs: the last hour and the last day, and 5-minute windows over time.",
        tenant_variable(),
        channel_variable(),
    ).with_row(dash.Row("KPIs: last hour and last day (stat), 5-minute windows (graph)"))
    for kpi in KPIS:
        figures = [
            query(f"tenant:{kpi.rule}{window}{{{TENANT}}}", window, instant=True) for window in ("1h", "1d")
        ]
        board = board.with_panel(stat_panel(kpi.title, kpi.description, kpi.scale, *figures)).with_panel(
            timeseries_panel(
                f"{kpi.title} (5m)",
                kpi.description,
                kpi.scale,
                query(f"tenant:{kpi.rule}5m{{{TENANT}}}", "5m"),
                width=8,
                height=5,
                threshold_lines=kpi.scale.steps is not NEUTRAL,
            )
        )
    received = f"helpline_contacts_received_total{{{CHANNEL}}}"
    self_served = f"helpline_contacts_self_served_total{{{CHANNEL}}}"
    return (
        board.with_row(dash.Row("Contacts"))
        .with_panel(
            stat_panel(
                "Contacts received",
                "Contacts that arrived on the selected channels.",
                Scale(units.Short, NEUTRAL, 0, decimals=0),
                *(query(f"sum(increase({received}[{w}]))", w, instant=True) for w in ("1h", "1d")),
                height=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Contacts received per channel (per minute)",
                "Arrivals on every channel, self-served ones included.",
                Scale("cpm", NEUTRAL, 0),
                query(f"60 * sum by (channel) (rate({received}[{RATE}]))", "{{channel}}"),
                width=8,
                stacked=True,
            )
        )
        .with_panel(
            stat_panel(
                "Self-served share",
                "Deflection: contacts resolved by IVR, bot or web self-service / contacts received.",
                PERCENT,
                *(
                    query(
                        f"sum(increase({self_served}[{w}])) / sum(increase({received}[{w}]))", w, instant=True
                    )
                    for w in ("1h", "1d")
                ),
                height=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Self-served share per channel",
                "Deflection per channel: self-served / received.",
                PERCENT,
                query(
                    f"sum by (channel) (rate({self_served}[{RATE}]))"
                    f" / sum by (channel) (rate({received}[{RATE}]))",
                    "{{channel}}",
                ),
                query(f"sum(rate({self_served}[{RATE}])) / sum(rate({received}[{RATE}]))", "all channels"),
                width=8,
            )
        )
    )
