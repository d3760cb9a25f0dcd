"""Helpline / Queues: per queue and channel, service level against the queue's own target, what
waits now, staffing against Erlang C, abandonment and answer times."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import units

from scripts.dashboards.panels import (
    BY_QUEUE,
    COUNT,
    DASHED,
    NEUTRAL,
    PERCENT,
    QUEUE,
    QUEUE_LEGEND,
    RATE,
    SECONDS,
    Scale,
    channel_variable,
    histogram_quantiles,
    new_dashboard,
    query,
    queue_variable,
    stat_panel,
    tenant_variable,
    timeseries_panel,
)


def queue_rule(rule: str, window: str) -> str:
    return f"tenant_queue_channel:{rule}{window}{{{QUEUE}}}"


def queue_gauge(metric: str, aggregate: str = "sum") -> str:
    return f"{aggregate} by ({BY_QUEUE}) ({metric}{{{QUEUE}}})"


def queues() -> dash.Dashboard:
    target = queue_gauge("helpline_queue_service_level_target_ratio", "max")
    flows = (
        ("queued", "helpline_contacts_queued_total"),
        ("answered", "helpline_contacts_answered_total"),
        ("abandoned", "helpline_contacts_abandoned_total"),
        ("timed out", "helpline_contacts_timed_out_total"),
        ("after hours", "helpline_contacts_after_hours_total"),
    )
    return (
        new_dashboard(
            "helpline-queues",
            "Helpline / Queues",
            "Per queue and channel: service level against the queue's own target, what waits now, "
            "staffing against Erlang C, abandonment and answer times.",
            tenant_variable(),
            queue_variable(),
            channel_variable(),
        )
        .with_row(dash.Row("Service level"))
        .with_panel(
            timeseries_panel(
                "Service level vs target (5m)",
                "Each queue's service level over 5 minutes (solid) and the target its configuration "
                "sets (dashed).",
                PERCENT,
                query(queue_rule("helpline_service_level:ratio_rate", "5m"), QUEUE_LEGEND),
                query(target, f"target {QUEUE_LEGEND}"),
                width=12,
            ).override_by_regexp(
                "^target .*",
                [
                    DASHED,
                    model.DynamicConfigValue(id_val="custom.fillOpacity", value=0),
                ],
            )
        )
        .with_panel(
            stat_panel(
                "Service level against target (1h)",
                "Service level over the last hour minus the queue's target: red below the target.",
                Scale(units.PercentUnit, ((None, "red"), (0, "green"))),
                query(
                    f"{queue_rule('helpline_service_level:ratio_rate', '1h')} - on ({BY_QUEUE}) {target}",
                    QUEUE_LEGEND,
                    instant=True,
                ),
                width=12,
                height=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Abandonment (5m)",
                "Abandoned / queued contacts per queue.",
                Scale(units.PercentUnit, ((None, "green"), (0.05, "yellow"), (0.1, "red")), 0, 1),
                query(queue_rule("helpline_abandonment:ratio_rate", "5m"), QUEUE_LEGEND),
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "ASA (5m)",
                "Average speed of answer per queue.",
                SECONDS,
                query(queue_rule("helpline_asa_seconds:mean", "5m"), QUEUE_LEGEND),
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "AHT (5m)",
                "Average handle time per queue.",
                SECONDS,
                query(queue_rule("helpline_aht_seconds:mean", "5m"), QUEUE_LEGEND),
                width=8,
            )
        )
        .with_row(dash.Row("Waiting now"))
        .with_panel(
            timeseries_panel(
                "Depth",
                "Contacts waiting, from the router's latest snapshot.",
                COUNT,
                query(queue_gauge("helpline_queue_depth"), QUEUE_LEGEND),
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Oldest contact age",
                "How long the longest-waiting contact has waited, against the queue's answer target "
                "(dashed).",
                SECONDS,
                query(queue_gauge("helpline_queue_oldest_contact_age_seconds", "max"), QUEUE_LEGEND),
                query(
                    queue_gauge("helpline_queue_service_level_threshold_seconds", "max"),
                    f"answer target {QUEUE_LEGEND}",
                ),
                width=8,
            ).override_by_regexp(
                "^answer target .*",
                [DASHED],
            )
        )
        .with_panel(
            timeseries_panel(
                "Estimated wait",
                "The wait a contact entering the queue now is told to expect.",
                SECONDS,
                query(queue_gauge("helpline_queue_estimated_wait_seconds", "max"), QUEUE_LEGEND),
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Queue agents by state",
                "The queue's agents by state, from the latest snapshot (an agent on several queues "
                "counts on each).",
                COUNT,
                query(
                    f"sum by ({BY_QUEUE}, state) (helpline_queue_agents{{{QUEUE}}})",
                    f"{QUEUE_LEGEND} {{{{state}}}}",
                ),
                width=12,
                stacked=True,
            )
        )
        .with_panel(
            timeseries_panel(
                "Contacts per minute",
                "Contacts entering, answered, abandoned, timing out and meeting a closed queue "
                "(hours of operation), per queue.",
                Scale("cpm", NEUTRAL, 0),
                *(
                    query(
                        f"60 * sum by ({BY_QUEUE}) (rate({metric}{{{QUEUE}}}[{RATE}]))",
                        f"{label} {QUEUE_LEGEND}",
                    )
                    for label, metric in flows
                ),
                width=12,
            )
        )
        .with_row(dash.Row("Staffing (Erlang C)"))
        .with_panel(
            timeseries_panel(
                "Staffed vs required agents",
                "Agents staffed (not offline) against Erlang C's fewest agents that meet the target under "
                "the offered load (dashed). Erlang C assumes one contact per agent and no abandons.",
                COUNT,
                query(queue_gauge("helpline_queue_staffed_agents"), f"staffed {QUEUE_LEGEND}"),
                query(
                    f"max without (instance) (helpline_queue_required_agents{{{QUEUE}}})",
                    f"required {QUEUE_LEGEND}",
                ),
                width=10,
            ).override_by_regexp(
                "^required .*",
                [DASHED],
            )
        )
        .with_panel(
            timeseries_panel(
                "Offered load",
                "Arrivals per second x AHT over the staffing window, in Erlangs.",
                Scale(units.Short, NEUTRAL, 0),
                query(
                    f"max without (instance) (helpline_queue_offered_load_erlangs{{{QUEUE}}})", QUEUE_LEGEND
                ),
                width=7,
            )
        )
        .with_panel(
            stat_panel(
                "Staffing gap",
                "Staffed minus required agents: red when fewer are staffed than Erlang C requires.",
                Scale(units.Short, ((None, "red"), (0, "green")), decimals=0),
                query(
                    f"{queue_gauge('helpline_queue_staffed_agents')} - on ({BY_QUEUE}) "
                    f"{queue_gauge('helpline_queue_required_agents', 'max')}",
                    QUEUE_LEGEND,
                    instant=True,
                ),
                width=7,
                height=8,
            )
        )
        .with_row(dash.Row("Queue wait"))
        .with_panel(
            timeseries_panel(
                "Queue wait of answered contacts",
                "Quantiles of the queue time of answered contacts, per queue.",
                SECONDS,
                *histogram_quantiles(
                    "helpline_contact_queue_wait_seconds", QUEUE, BY_QUEUE, QUEUE_LEGEND, quantiles=(0.5, 0.9)
                ),
                width=24,
            )
        )
    )
