"""Helpline / Tickets and SLA: the ticket backlog and its flow, reply and resolution times,
escalations, and SLA targets."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import units

from scripts.dashboards.kpis import KPIS
from scripts.dashboards.panels import (
    CHANNEL,
    COUNT,
    NEUTRAL,
    QUEUE,
    QUEUE_LEGEND,
    RATE,
    SECONDS,
    TENANT,
    Scale,
    channel_variable,
    histogram_quantiles,
    new_dashboard,
    query,
    query_variable,
    queue_variable,
    stat_panel,
    tenant_variable,
    timeseries_panel,
)

PER_HOUR = Scale(units.Short, NEUTRAL, 0)
SLA_METRIC = f'{TENANT}, metric=~"$metric"'


def per_hour(metric: str, matchers: str, by: str = "") -> str:
    group = f" by ({by})" if by else ""
    return f"3600 * sum{group} (rate({metric}{{{matchers}}}[{RATE}]))"


def tickets_sla() -> dash.Dashboard:
    backlog = f"max without (instance) (helpline_tickets{{{TENANT}}})"
    compliance = KPIS[9]
    sla_counts = (
        (
            "SLA targets applied per hour",
            "helpline_sla_applied_total",
            "SLA targets set on tickets, per metric.",
        ),
        ("SLA warnings per hour", "helpline_sla_warned_total", "Tickets past the warning share of a target."),
        ("SLA breaches per hour", "helpline_sla_breached_total", "Tickets past a target's deadline."),
    )
    board = (
        new_dashboard(
            "helpline-tickets-sla",
            "Helpline / Tickets and SLA",
            "The ticket backlog and its flow, reply and resolution times, escalations, and SLA targets.",
            tenant_variable(),
            channel_variable(),
            query_variable(
                "metric",
                "SLA metric",
                f"label_values(helpline_sla_applied_total{{{TENANT}}}, metric)",
                multi=True,
                all_value=".*",
            ),
            queue_variable(),
        )
        .with_row(dash.Row("Backlog and flow"))
        .with_panel(
            stat_panel(
                "Open tickets",
                "Tickets not closed, every status.",
                Scale(units.Short, NEUTRAL, 0, decimals=0),
                query(f"sum({backlog})", "open", instant=True),
                width=4,
                height=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Backlog by status",
                "Open tickets by status (every metrics replica reports the whole figure: max, not sum).",
                COUNT,
                query(backlog, "{{status}}"),
                width=10,
                stacked=True,
            )
        )
        .with_panel(
            timeseries_panel(
                "Created, solved and reopened per hour",
                "Tickets created and solved on the selected channels, and reopened (all channels).",
                PER_HOUR,
                query(per_hour("helpline_tickets_created_total", CHANNEL), "created"),
                query(per_hour("helpline_tickets_solved_total", CHANNEL), "solved"),
                query(per_hour("helpline_tickets_reopened_total", TENANT), "reopened"),
                width=10,
            )
        )
        .with_row(dash.Row("Reply and resolution times (1h windows)"))
        .with_panel(
            timeseries_panel(
                "First reply time",
                "Time from creation to the first public agent reply, over the tickets first replied to "
                "in the hour before each point.",
                SECONDS,
                *histogram_quantiles(
                    "helpline_ticket_first_reply_seconds", CHANNEL, "", "", "1h", (0.5, 0.9)
                ),
                width=12,
            )
        )
        .with_panel(
            timeseries_panel(
                "Resolution time",
                "Time from creation to solved, over the tickets solved in the hour before each point.",
                SECONDS,
                *histogram_quantiles("helpline_ticket_resolution_seconds", CHANNEL, "", "", "1h", (0.5, 0.9)),
                width=12,
            )
        )
        .with_row(dash.Row("Escalations and hand-offs"))
        .with_panel(
            timeseries_panel(
                "Escalations per hour",
                "Tickets escalated between tiers.",
                PER_HOUR,
                query(
                    per_hour("helpline_tickets_escalated_total", TENANT, "from_tier, to_tier"),
                    "{{from_tier}} to {{to_tier}}",
                ),
                width=12,
            )
        )
        .with_panel(
            timeseries_panel(
                "Hand-offs per hour",
                "Tickets and contacts handed off between customer service and support.",
                PER_HOUR,
                query(
                    per_hour("helpline_tickets_handed_off_total", TENANT, "from_department, to_department"),
                    "tickets {{from_department}} to {{to_department}}",
                ),
                query(
                    per_hour("helpline_contacts_handed_off_total", TENANT, "from_department, to_department"),
                    "contacts {{from_department}} to {{to_department}}",
                ),
                width=12,
            )
        )
        .with_row(dash.Row("SLA targets"))
        .with_panel(
            stat_panel(
                "SLA compliance",
                compliance.description,
                compliance.scale,
                *(query(f"tenant:{compliance.rule}{w}{{{TENANT}}}", w, instant=True) for w in ("1h", "1d")),
                width=4,
                height=8,
            )
        )
        .with_panel(
            stat_panel(
                "SLA compliance per metric (1d)",
                "Targets met by their deadline / (met by it + breached), per SLA metric, over the last day.",
                compliance.scale,
                query(f"tenant_metric:{compliance.rule}1d{{{SLA_METRIC}}}", "{{metric}}", instant=True),
                width=8,
                height=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "SLA compliance per metric (1h)",
                "Hourly windows: SLA events are too rare for 5-minute ones.",
                compliance.scale,
                query(f"tenant_metric:{compliance.rule}1h{{{SLA_METRIC}}}", "{{metric}}"),
                width=12,
                threshold_lines=True,
            )
        )
    )
    for title, metric, description in sla_counts:
        board = board.with_panel(
            timeseries_panel(
                title,
                description,
                PER_HOUR,
                query(per_hour(metric, SLA_METRIC, "metric"), "{{metric}}"),
                width=8,
            )
        )
    return (
        board.with_row(dash.Row("Queue answer targets"))
        .with_panel(
            timeseries_panel(
                "Answer-target warnings per hour",
                "Queued contacts past the warning share of their queue's answer target.",
                PER_HOUR,
                query(per_hour("helpline_sla_queue_warned_total", QUEUE, "queue, channel"), QUEUE_LEGEND),
                width=12,
            )
        )
        .with_panel(
            timeseries_panel(
                "Answer-target breaches per hour",
                "Queued contacts past their queue's answer target.",
                PER_HOUR,
                query(per_hour("helpline_sla_queue_breached_total", QUEUE, "queue, channel"), QUEUE_LEGEND),
                width=12,
            )
        )
    )
