"""Generate and check the Grafana dashboards in deploy/grafana/dashboards, built with the
grafana-foundation-sdk (the Grafana 11.6 build, a dev dependency) rather than written as JSON.

    python scripts/dashboards.py generate   # write deploy/grafana/dashboards/<name>.json
    python scripts/dashboards.py check      # fail if the committed JSON is not what `generate` writes

Every dashboard reads Prometheus through the `datasource` variable, whose default is the data source
deploy/grafana/provisioning/datasources/prometheus.yml provisions (uid DATASOURCE_UID). The KPIs come
from the recording rules in deploy/prometheus/rules/recording.yml (`tenant:helpline_service_level:
ratio_rate1h` and the like); the rest from the series of services/metrics/series.py and the platform
series of helpline/ (bus, outbox, HTTP, gRPC) and services/sla/timers.py. The gauges every metrics
replica exports whole (MAX_ONLY_GAUGES) are only ever aggregated with max, never summed;
tests/static/test_dashboards.py holds all of this to account, and
tests/integration/test_dashboards_prometheus.py sends every query to a real Prometheus.
"""

# argparse, not typer: two subcommands of a dev script need nothing more.
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common, units
from grafana_foundation_sdk.models import dashboard as model

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "deploy" / "grafana" / "dashboards"

# The uid of the provisioned Prometheus data source (provisioning/datasources/prometheus.yml).
DATASOURCE_UID = "helpline-prometheus"
# The line style of a reference series (a target, a threshold) drawn beside the measured ones.
DASHED = model.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]})
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
# Gauges every metrics replica reads whole from the Redis they share: aggregate with max, never sum.
MAX_ONLY_GAUGES = (
    "helpline_agents",
    "helpline_tickets",
    "helpline_queue_required_agents",
    "helpline_queue_offered_load_erlangs",
)
# The jobs Prometheus scrapes the services under (helpline-router, helpline-tickets, ...).
JOB_PATTERN = "helpline-.+"
TAGS = ["helpline"]

# Label matchers of the template variables.
TENANT = 'tenant=~"$tenant"'
QUEUE = f'{TENANT}, queue=~"$queue", channel=~"$channel"'
CHANNEL = f'{TENANT}, channel=~"$channel"'
JOB = 'job=~"$job"'
RATE = "$__rate_interval"

Steps = Sequence[tuple[float | None, str]]

# Threshold colours: the first step is the base (value None), each later one starts at its value.
GOOD_HIGH_SL: Steps = ((None, "red"), (0.8, "green"))
NEUTRAL: Steps = ((None, "blue"),)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


# -- building blocks ---------------------------------------------------------------------------------


def query(expr: str, legend: str = "", *, instant: bool = False) -> prometheus.Dataquery:
    target = prometheus.Dataquery().expr(expr).datasource(DATASOURCE)
    if legend:
        target = target.legend_format(legend)
    return target.instant() if instant else target.range()


def thresholds(steps: Steps) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in steps])
    )


Panel = TypeVar("Panel", stat.Panel, timeseries.Panel)


def _with_targets(panel: Panel, targets: Sequence[prometheus.Dataquery]) -> Panel:
    for index, target in enumerate(targets):
        panel = panel.with_target(target.ref_id(chr(ord("A") + index)))
    return panel


@dataclass(frozen=True)
class Scale:
    unit: str
    steps: Steps = NEUTRAL
    min: float | None = None
    max: float | None = None
    decimals: float | None = None


PERCENT = Scale(units.PercentUnit, min=0, max=1)
SECONDS = Scale(units.Seconds, min=0)
COUNT = Scale(units.Short, min=0)


def stat_panel(
    title: str,
    description: str,
    scale: Scale,
    *targets: prometheus.Dataquery,
    width: int = 4,
    height: int = 5,
    mappings: Sequence[model.ValueMapping] = (),
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(scale.unit)
        .thresholds(thresholds(scale.steps))
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .graph_mode(common.BigValueGraphMode.NONE)
        .color_mode(common.BigValueColorMode.VALUE)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .span(width)
        .height(height)
    )
    if scale.decimals is not None:
        panel = panel.decimals(scale.decimals)
    if scale.min is not None:
        panel = panel.min(scale.min)
    if scale.max is not None:
        panel = panel.max(scale.max)
    if mappings:
        panel = panel.mappings(list(mappings))
    return _with_targets(panel, targets)


def timeseries_panel(
    title: str,
    description: str,
    scale: Scale,
    *targets: prometheus.Dataquery,
    width: int = 12,
    height: int = 8,
    stacked: bool = False,
    threshold_lines: bool = False,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(scale.unit)
        .thresholds(thresholds(scale.steps))
        .line_width(1)
        .fill_opacity(25 if stacked else 10)
        .show_points(common.VisibilityMode.NEVER)
        .span_nulls(False)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
        .thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common.GraphThresholdsStyleMode.DASHED
                if threshold_lines
                else common.GraphThresholdsStyleMode.OFF
            )
        )
        .span(width)
        .height(height)
    )
    if stacked:
        panel = panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    if scale.decimals is not None:
        panel = panel.decimals(scale.decimals)
    if scale.min is not None:
        panel = panel.min(scale.min)
    if scale.max is not None:
        panel = panel.max(scale.max)
    return _with_targets(panel, targets)


def datasource_variable() -> dash.DatasourceVariable:
    return (
        dash.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .current(model.VariableOption(selected=True, text="Prometheus", value=DATASOURCE_UID))
    )


def query_variable(
    name: str, label: str, definition: str, *, multi: bool = False, all_value: str | None = None
) -> dash.QueryVariable:
    variable = (
        dash.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(definition)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        variable = variable.multi(True)
    if all_value is not None:
        variable = variable.include_all(True).all_value(all_value)
    return variable


def tenant_variable() -> dash.QueryVariable:
    # One tenant at a time: a tenant's ratios cannot be averaged into another's.
    return query_variable("tenant", "Tenant", "label_values(helpline_contacts_received_total, tenant)")


def queue_variable() -> dash.QueryVariable:
    return query_variable(
        "queue",
        "Queue",
        f"label_values(helpline_contacts_queued_total{{{TENANT}}}, queue)",
        multi=True,
        all_value=".*",
    )


def channel_variable() -> dash.QueryVariable:
    return query_variable(
        "channel",
        "Channel",
        f"label_values(helpline_contacts_received_total{{{TENANT}}}, channel)",
        multi=True,
        all_value=".*",
    )


def new_dashboard(uid: str, title: str, description: str, *variables: dash.QueryVariable) -> dash.Dashboard:
    board = (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .time("now-6h", "now")
        .refresh("1m")
        .timezone(common.TimeZoneBrowser)
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .link(
            dash.DashboardLink("Helpline")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags(TAGS)
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
        .with_variable(datasource_variable())
    )
    for variable in variables:
        board = board.with_variable(variable)
    return board


def histogram_quantiles(
    metric: str,
    matchers: str,
    by: str,
    legend: str,
    window: str = RATE,
    quantiles: Sequence[float] = (0.5, 0.9, 0.99),
) -> list[prometheus.Dataquery]:
    group = f"le, {by}" if by else "le"
    return [
        query(
            f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{matchers}}}[{window}])))",
            f"p{round(q * 100)} {legend}".rstrip(),
        )
        for q in quantiles
    ]


def error_ratio(metric: str, matchers: str, errors: str, by: str) -> str:
    """Errors over all requests, 0 (not no data) while every request succeeds."""
    total = f"sum by ({by}) (rate({metric}_count{{{matchers}}}[{RATE}]))"
    failed = f"sum by ({by}) (rate({metric}_count{{{matchers}, {errors}}}[{RATE}]))"
    return f"({failed} or {total} * 0) / {total}"


# -- overview ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kpi:
    title: str
    rule: str  # the recording rule without level and window: helpline_service_level:ratio_rate
    scale: Scale
    description: str


KPIS = (
    Kpi(
        "Service level",
        "helpline_service_level:ratio_rate",
        Scale(units.PercentUnit, GOOD_HIGH_SL, 0, 1),
        "Contacts answered within their queue's threshold / (answered + abandoned - short abandons). "
        "Red below 80 %, the default target; the queues dashboard compares each queue with its own.",
    ),
    Kpi(
        "ASA",
        "helpline_asa_seconds:mean",
        Scale(units.Seconds, ((None, "green"), (30, "yellow"), (60, "red")), 0),
        "Average speed of answer: the mean queue time of answered contacts.",
    ),
    Kpi(
        "AHT",
        "helpline_aht_seconds:mean",
        Scale(units.Seconds, NEUTRAL, 0),
        "Average handle time: talk + hold + after-contact work per completed contact.",
    ),
    Kpi(
        "Abandonment",
        "helpline_abandonment:ratio_rate",
        Scale(units.PercentUnit, ((None, "green"), (0.05, "yellow"), (0.1, "red")), 0, 1),
        "Abandoned / queued contacts (callbacks in neither).",
    ),
    Kpi(
        "Occupancy",
        "helpline_occupancy:ratio_rate",
        Scale(units.PercentUnit, ((None, "blue"), (0.6, "green"), (0.9, "red")), 0, 1),
        "Time on contacts / (time on contacts + time available and idle). Blue is under-used, red "
        "above 90 % is more than agents sustain.",
    ),
    Kpi(
        "FCR",
        "helpline_fcr:ratio_rate",
        Scale(units.PercentUnit, ((None, "red"), (0.6, "yellow"), (0.7, "green")), 0, 1),
        "First-contact resolution: tickets solved on one contact and not reopened within 7 days / solved.",
    ),
    Kpi(
        "CSAT",
        "helpline_csat:ratio_rate",
        Scale(units.PercentUnit, ((None, "red"), (0.7, "yellow"), (0.8, "green")), 0, 1),
        "Customer satisfaction: answers of 4 or 5 out of 5 / answers.",
    ),
    Kpi(
        "NPS",
        "helpline_nps:score",
        Scale(units.Short, ((None, "red"), (0, "yellow"), (30, "green")), -100, 100, 0),
        "Net promoter score: % promoters (9-10) - % detractors (0-6), in points from -100 to 100.",
    ),
    Kpi(
        "CES",
        "helpline_ces:score",
        Scale(units.Short, NEUTRAL, 1, 7, 2),
        "Customer effort score: the mean answer on the 1-7 scale (1-5 answers mapped onto it). "
        "Not coloured: which end is good depends on the survey's wording.",
    ),
    Kpi(
        "SLA compliance",
        "helpline_sla_compliance:ratio_rate",
        Scale(units.PercentUnit, ((None, "red"), (0.9, "yellow"), (0.95, "green")), 0, 1),
        "Ticket SLA targets met by their deadline / (met by it + breached), over every SLA metric.",
    ),
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


# -- queues ------------------------------------------------------------------------------------------

BY_QUEUE = "tenant, queue, channel"
QUEUE_LEGEND = "{{queue}} / {{channel}}"


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
                "Contacts entering, answered, abandoned and timing out, per queue.",
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


# -- agents ------------------------------------------------------------------------------------------


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


# -- tickets and SLA ---------------------------------------------------------------------------------

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


# -- platform health ---------------------------------------------------------------------------------

PER_SECOND = Scale(units.OpsPerSecond, NEUTRAL, 0)
LATENCY = Scale(units.Seconds, ((None, "green"), (0.5, "yellow"), (1, "red")), 0)
ERRORS = Scale(units.PercentUnit, ((None, "green"), (0.01, "yellow"), (0.05, "red")), 0, 1)


def platform() -> dash.Dashboard:
    http = "helpline_http_request_duration_seconds"
    grpc = "helpline_grpc_request_duration_seconds"
    up_mapping = model.ValueMap(
        {
            "0": model.ValueMappingResult(text="down", color="red"),
            "1": model.ValueMappingResult(text="up", color="green"),
        }
    )
    return (
        new_dashboard(
            "helpline-platform",
            "Helpline / Platform health",
            "Per service job: scrape targets, event throughput and retries, consumer lag, dead letters, "
            "outbox backlog, HTTP and gRPC latency and errors, and SLA timer lag.",
            query_variable(
                "job",
                "Job",
                f'label_values(up{{job=~"{JOB_PATTERN}"}}, job)',
                multi=True,
                all_value=JOB_PATTERN,
            ),
        )
        .with_row(dash.Row("Targets"))
        .with_panel(
            stat_panel(
                "Targets up",
                "Whether Prometheus reached each instance at its last scrape.",
                Scale(units.NoUnit, ((None, "red"), (1, "green")), decimals=0),
                query(f"up{{{JOB}}}", "{{job}} {{instance}}", instant=True),
                width=24,
                height=4,
                mappings=[up_mapping],
            )
        )
        .with_row(dash.Row("Events"))
        .with_panel(
            timeseries_panel(
                "Events handled per second",
                "Records handled by each job, by topic, event type and outcome (ok, dlq).",
                PER_SECOND,
                query(
                    "sum by (job, topic, type, outcome) "
                    f"(rate(helpline_events_handled_total{{{JOB}}}[{RATE}]))",
                    "{{job}} {{topic}} {{type}} {{outcome}}",
                ),
                width=12,
            )
        )
        .with_panel(
            timeseries_panel(
                "Handler retries per second",
                "Handler failures that were retried.",
                PER_SECOND,
                query(
                    f"sum by (job, topic, type) (rate(helpline_event_retries_total{{{JOB}}}[{RATE}]))",
                    "{{job}} {{topic}} {{type}}",
                ),
                width=12,
            )
        )
        .with_panel(
            timeseries_panel(
                "Consumer lag",
                "Records behind the end of the log, per topic and consumer group (each replica reports "
                "its assigned partitions, so replicas add up).",
                Scale(units.Short, ((None, "green"), (1000, "yellow"), (10000, "red")), 0),
                query(
                    f"sum by (job, topic, group) (helpline_consumer_lag{{{JOB}}})",
                    "{{job}} {{topic}} {{group}}",
                ),
                width=12,
            )
        )
        .with_panel(
            timeseries_panel(
                "Event handle time",
                "Time to handle one record, retries included.",
                LATENCY,
                *histogram_quantiles("helpline_event_handle_seconds", JOB, "job, topic", "{{job}} {{topic}}"),
                width=12,
            )
        )
        .with_panel(
            stat_panel(
                "Dead letters (24h)",
                "Records written to a dead-letter topic in the last day.",
                Scale(units.Short, ((None, "green"), (1, "red")), decimals=0),
                query(f"sum(increase(helpline_dlq_writes_total{{{JOB}}}[1d]))", "dead letters", instant=True),
                width=4,
                height=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Dead-letter writes per second",
                "Records written to `<topic>.dlq` after the handler's retries ran out.",
                PER_SECOND,
                query(
                    f"sum by (job, topic, type) (rate(helpline_dlq_writes_total{{{JOB}}}[{RATE}]))",
                    "{{job}} {{topic}} {{type}}",
                ),
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Outbox backlog",
                "Outbox entries not yet published to Kafka, per stream (every relay reports the "
                "whole stream: max).",
                Scale(units.Short, ((None, "green"), (1000, "yellow"), (10000, "red")), 0),
                query(f"max by (job, stream) (helpline_outbox_backlog{{{JOB}}})", "{{job}} {{stream}}"),
                query(
                    f"sum by (job, stream) (rate(helpline_outbox_published_total{{{JOB}}}[{RATE}]))",
                    "published/s {{job}} {{stream}}",
                ),
                width=12,
            )
        )
        .with_row(dash.Row("HTTP"))
        .with_panel(
            timeseries_panel(
                "HTTP requests per second",
                "Requests by job and status code.",
                Scale(units.RequestsPerSecond, NEUTRAL, 0),
                query(f"sum by (job, status) (rate({http}_count{{{JOB}}}[{RATE}]))", "{{job}} {{status}}"),
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "HTTP latency",
                "Request latency quantiles by job.",
                LATENCY,
                *histogram_quantiles(http, JOB, "job", "{{job}}"),
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "HTTP error ratio (5xx)",
                "Requests answered with a 5xx status / all requests.",
                ERRORS,
                query(error_ratio(http, JOB, 'status=~"5.."', "job"), "{{job}}"),
                width=8,
                threshold_lines=True,
            )
        )
        .with_panel(
            timeseries_panel(
                "HTTP p99 latency by route",
                "The 99th percentile by method and route template.",
                LATENCY,
                *histogram_quantiles(
                    http, JOB, "job, method, route", "{{job}} {{method}} {{route}}", quantiles=(0.99,)
                ),
                width=24,
            )
        )
        .with_row(dash.Row("gRPC"))
        .with_panel(
            timeseries_panel(
                "gRPC requests per second",
                "Calls by method and status code.",
                Scale(units.RequestsPerSecond, NEUTRAL, 0),
                query(
                    f"sum by (job, grpc_method, grpc_code) (rate({grpc}_count{{{JOB}}}[{RATE}]))",
                    "{{job}} {{grpc_method}} {{grpc_code}}",
                ),
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "gRPC latency",
                "Call latency quantiles by service and method (streams: to the end of the stream).",
                LATENCY,
                *histogram_quantiles(
                    grpc,
                    JOB,
                    "job, grpc_service, grpc_method",
                    "{{job}} {{grpc_service}}/{{grpc_method}}",
                    quantiles=(0.5, 0.99),
                ),
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "gRPC error ratio",
                "Calls ending with a code other than OK / all calls.",
                ERRORS,
                query(
                    error_ratio(grpc, JOB, 'grpc_code!="OK"', "job, grpc_service, grpc_method"),
                    "{{job}} {{grpc_service}}/{{grpc_method}}",
                ),
                width=8,
                threshold_lines=True,
            )
        )
        .with_row(dash.Row("SLA timers"))
        .with_panel(
            timeseries_panel(
                "SLA timer lag",
                "From a warning's or breach's due instant to a replica firing it.",
                LATENCY,
                *histogram_quantiles(
                    "helpline_sla_timer_lag_seconds",
                    JOB,
                    "subject, trigger",
                    "{{subject}} {{trigger}}",
                    quantiles=(0.5, 0.99),
                ),
                width=24,
            )
        )
    )


# -- output ------------------------------------------------------------------------------------------

DASHBOARDS: dict[str, Callable[[], dash.Dashboard]] = {
    "overview": overview,
    "queues": queues,
    "agents": agents,
    "tickets-sla": tickets_sla,
    "platform-health": platform,
}


def _number_panels(board: model.Dashboard) -> model.Dashboard:
    """Give every panel and row an id, 1 up in layout order (the SDK leaves them 0)."""
    next_id = 1
    for panel in board.panels or []:
        panel.id_val = next_id
        next_id += 1
        for inner in getattr(panel, "panels", None) or []:
            inner.id_val = next_id
            next_id += 1
    return board


def render(name: str) -> str:
    board = _number_panels(DASHBOARDS[name]().build())
    return JSONEncoder(sort_keys=True, indent=2).encode(board) + "\n"


def rendered() -> dict[str, str]:
    """File name -> JSON of every dashboard."""
    return {f"{name}.json": render(name) for name in DASHBOARDS}


def generate() -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    fresh = rendered()
    written = 0
    for file_name, text in fresh.items():
        path = OUT_DIR / file_name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written += 1
    for path in sorted(OUT_DIR.glob("*.json")):
        if path.name not in fresh:
            path.unlink()
            written += 1
    say(f"{OUT_DIR.relative_to(ROOT)}: {written} file(s) written or removed, {len(fresh)} dashboards")
    return 0


def check() -> int:
    fresh = rendered()
    committed = {path.name for path in OUT_DIR.glob("*.json")} if OUT_DIR.is_dir() else set()
    stale = sorted(name for name in fresh.keys() & committed if (OUT_DIR / name).read_text() != fresh[name])
    missing = sorted(fresh.keys() - committed)
    extra = sorted(committed - fresh.keys())
    if not (stale or missing or extra):
        say(f"{OUT_DIR.relative_to(ROOT)} is up to date with scripts/dashboards.py")
        return 0
    say(
        f"{OUT_DIR.relative_to(ROOT)} does not match scripts/dashboards.py; "
        "run `uv run python scripts/dashboards.py generate`"
    )
    for label, names in (("stale", stale), ("missing", missing), ("extra", extra)):
        for name in names:
            say(f"  {label}: {OUT_DIR.relative_to(ROOT)}/{name}")
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate", help="write deploy/grafana/dashboards/<name>.json")
    commands.add_parser("check", help="fail if a dashboard is stale, missing or not generated")
    options = parser.parse_args()
    return generate() if options.command == "generate" else check()


if __name__ == "__main__":
    sys.exit(main())
