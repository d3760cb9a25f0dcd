"""The Grafana dashboards of deploy/grafana/: what scripts/dashboards generates is what is
committed, each is well formed, and every series their PromQL names exists, exported by a service
or recorded by a rule in deploy/prometheus/rules/. tests/integration/test_dashboards_prometheus.py
sends the same queries to a real Prometheus."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard as DashboardModel
from prometheus_client import CollectorRegistry

from devstack.local_stack import REPO_ROOT
from helpline.bus import BusMetrics
from helpline.events import event_type_label
from helpline.grpc import GrpcMetrics
from helpline.http_shell.metrics import HttpMetrics
from helpline.outbox import OutboxMetrics
from scripts.dashboards import output
from scripts.dashboards.panels import DATASOURCE_UID, MAX_ONLY_GAUGES
from services.notify.deliverer import DeliveryMetrics
from services.sla.timers import TimerMetrics
from tests.static.catalog import catalog_series

GRAFANA = REPO_ROOT / "deploy" / "grafana"
DASHBOARD_DIR = GRAFANA / "dashboards"
RULES_DIR = REPO_ROOT / "deploy" / "prometheus" / "rules"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "helpline.yml"
DASHBOARD_FILES = ("agents.json", "overview.json", "platform-health.json", "queues.json", "tickets-sla.json")

Dashboard = dict[str, Any]

# -- reading the dashboards (the integration test reads them the same way) ------------------------


def dashboards() -> dict[str, Dashboard]:
    """File name -> the committed dashboard."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARD_DIR.glob("*.json"))}


def panels(board: Dashboard) -> Iterator[dict[str, Any]]:
    """Every panel and row, the panels of collapsed rows too."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries(board: Dashboard) -> Iterator[tuple[str, str]]:
    """(panel title, PromQL) of every panel query."""
    for panel in panels(board):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def variables(board: Dashboard) -> list[dict[str, Any]]:
    return list(board.get("templating", {}).get("list", []))


LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>[a-zA-Z_]\w*)\)$")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
IDENTIFIER = re.compile(r"(?<![\w:$])[a-zA-Z_:][\w:]*")


def series_names(expr: str) -> set[str]:
    """The helpline_* series and recording rules (level:metric:operation) an expression names."""
    bare = STRING.sub('""', expr)
    return {name for name in IDENTIFIER.findall(bare) if name.startswith("helpline_") or name.count(":") == 2}


# -- what exists --------------------------------------------------------------------------------------


@cache
def exported_series() -> frozenset[str]:
    """Every series name the services export: the metrics catalog and the platform series."""
    registry = CollectorRegistry()
    catalog_series(registry)
    BusMetrics(registry, event_type_label)
    for platform in (HttpMetrics, GrpcMetrics, OutboxMetrics, TimerMetrics):
        platform(registry)
    DeliveryMetrics(registry, backlog=lambda: 0)
    names: set[str] = set()
    for family in registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return frozenset(names)


@cache
def recorded_series() -> frozenset[str]:
    """Every `record:` of the rule files in deploy/prometheus/rules/."""
    files = sorted(RULES_DIR.glob("*.yml"))
    assert files, (
        f"no rule files in {RULES_DIR.relative_to(REPO_ROOT)}: the dashboards read its recording rules"
    )
    return frozenset(
        rule["record"]
        for path in files
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", [])
        for rule in group.get("rules", [])
        if "record" in rule
    )


# -- the tests ----------------------------------------------------------------------------------------


def test_the_committed_dashboards_are_what_the_script_generates() -> None:
    fresh: dict[str, str] = output.rendered()
    committed = {path.name: path.read_text() for path in DASHBOARD_DIR.glob("*.json")}
    assert sorted(fresh) == sorted(committed) == list(DASHBOARD_FILES)
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale: {stale}; run `uv run python -m scripts.dashboards generate`"


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_each_dashboard_reads_back_through_the_sdk_models_unchanged(name: str) -> None:
    """The JSON holds only what the SDK's Grafana 11.6 dashboard schema knows: decoding it into the
    models and encoding them again gives the same text."""
    register_default_plugins()
    text = (DASHBOARD_DIR / name).read_text()
    decoded = DashboardModel.from_json(json.loads(text))
    assert JSONEncoder(sort_keys=True, indent=2).encode(decoded) + "\n" == text


def test_uids_and_titles_are_set_and_unique() -> None:
    boards = dashboards().values()
    uids = [board.get("uid") for board in boards]
    titles = [board.get("title") for board in boards]
    assert all(uids), uids
    assert all(titles), titles
    assert len(set(uids)) == len(uids), uids
    assert len(set(titles)) == len(titles), titles
    assert all(re.fullmatch(r"[a-z0-9-]{1,40}", str(uid)) for uid in uids)


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_panels_have_unique_ids_titles_and_units(name: str) -> None:
    board = dashboards()[name]
    ids = [panel.get("id") for panel in panels(board)]
    assert all(isinstance(i, int) and i > 0 for i in ids), ids
    assert len(set(ids)) == len(ids), f"duplicate panel ids: {ids}"
    for panel in panels(board):
        assert panel.get("title"), panel
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{panel['title']} has no unit"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert ref_ids, panel["title"]
        assert all(ref_ids), panel["title"]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_panels_fit_the_grid_without_overlapping(name: str) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboards()[name]["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_every_series_named_exists(name: str) -> None:
    board = dashboards()[name]
    named = [(title, series) for title, expr in queries(board) for series in series_names(expr)]
    for variable in variables(board):
        if variable["type"] == "query":
            named += [(f"${variable['name']}", series) for series in series_names(variable["query"])]
    assert named
    known = exported_series() | recorded_series()
    unknown = sorted({f"{title}: {series}" for title, series in named if series not in known})
    assert not unknown, "series neither exported nor recorded:\n" + "\n".join(unknown)


def test_the_catalog_includes_the_platform_series() -> None:
    """A guard on the test's own catalog: both sources of series are in it."""
    assert {
        "helpline_contacts_received_total",
        "helpline_contact_queue_wait_seconds_bucket",
        "helpline_agents",
        "helpline_events_handled_total",
        "helpline_consumer_lag",
        "helpline_http_request_duration_seconds_bucket",
        "helpline_grpc_request_duration_seconds_count",
        "helpline_outbox_backlog",
        "helpline_sla_timer_lag_seconds_bucket",
    } <= exported_series()


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_gauges_every_replica_exports_whole_are_aggregated_with_max(name: str) -> None:
    max_only = MAX_ONLY_GAUGES
    wrapped = re.compile(r"max\s*(?:(?:by|without)\s*\([^()]*\)\s*)?\(\s*$")
    for title, expr in queries(dashboards()[name]):
        for gauge in max_only:
            for found in re.finditer(rf"\b{gauge}\b(?![\w:])", expr):
                assert wrapped.search(expr[: found.start()]), f"{title}: {gauge} not under max in {expr}"


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_every_variable_used_is_defined(name: str) -> None:
    board = dashboards()[name]
    defined = {variable["name"] for variable in variables(board)}
    used = {
        match
        for _, expr in queries(board)
        for match in re.findall(r"\$\{?(\w+)", expr)
        if not match.startswith("__")
    }
    used |= {match for v in variables(board) for match in re.findall(r"\$\{?(\w+)", str(v.get("query", "")))}
    assert used <= defined, f"undefined: {sorted(used - defined)}"
    assert "datasource" in defined


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_variables_read_prometheus_through_the_datasource_variable(name: str) -> None:
    for variable in variables(dashboards()[name]):
        if variable["type"] == "datasource":
            assert variable["query"] == "prometheus"
            assert variable["current"]["value"] == provisioned_datasource()["uid"]
            continue
        assert variable["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert LABEL_VALUES.match(variable["query"]), variable["query"]


def test_the_tenant_variable_reads_the_contacts_received() -> None:
    for name, board in dashboards().items():
        tenants = [v for v in variables(board) if v["name"] == "tenant"]
        if name != "platform-health.json":
            assert [v["query"] for v in tenants] == ["label_values(helpline_contacts_received_total, tenant)"]


def provisioned_datasource() -> dict[str, Any]:
    provisioning = yaml.safe_load(DATASOURCES.read_text())
    assert provisioning["apiVersion"] == 1
    [datasource] = provisioning["datasources"]
    assert isinstance(datasource, dict)
    return datasource


def test_the_datasource_provisioning_is_the_prometheus_the_dashboards_default_to() -> None:
    datasource = provisioned_datasource()
    assert datasource["type"] == "prometheus"
    assert datasource["uid"] == DATASOURCE_UID
    assert datasource["access"] == "proxy"
    assert datasource["url"] == "${HELPLINE_PROMETHEUS_URL}"
    assert "http://prometheus:9090" in DATASOURCES.read_text()


def test_the_dashboard_provider_loads_a_folder_of_files() -> None:
    provisioning = yaml.safe_load(PROVIDERS.read_text())
    assert provisioning["apiVersion"] == 1
    [provider] = provisioning["providers"]
    assert provider["type"] == "file"
    assert Path(provider["options"]["path"]).is_absolute()
    assert provider["allowUiUpdates"] is False


def test_series_names_finds_metrics_and_rules_but_not_labels_or_strings() -> None:
    expr = (
        'sum by (tenant) (rate(helpline_contacts_received_total{job=~"helpline_x|a:b:c"}[$__rate_interval]))'
        " / on (tenant) tenant:helpline_service_level:ratio_rate5m"
    )
    assert series_names(expr) == {
        "helpline_contacts_received_total",
        "tenant:helpline_service_level:ratio_rate5m",
    }
