"""What every dashboard is built from: the data source, the label matchers of the template
variables, threshold colours and scales, and the builders of queries, panels, variables and the
dashboard itself, with the settings every Helpline dashboard shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.models import common, units
from grafana_foundation_sdk.models import dashboard as model

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
# The grouping and legend of a series per queue and channel.
BY_QUEUE = "tenant, queue, channel"
QUEUE_LEGEND = "{{queue}} / {{channel}}"

Steps = Sequence[tuple[float | None, str]]

# Threshold colours: the first step is the base (value None), each later one starts at its value.
GOOD_HIGH_SL: Steps = ((None, "red"), (0.8, "green"))
NEUTRAL: Steps = ((None, "blue"),)


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
