"""Every query of the committed dashboards, sent to a real Prometheus: it parses and evaluates, and
a query of raw series finds the data an exporter like the services' gives it.

Prometheus scrapes two exporters ("replicas") of one registry holding the metrics catalog and the
platform series, primed for one tenant, queue and channel. The template variables are replaced by
those values, as Grafana would ($__rate_interval by 5m). Queries of recording rules only have to
evaluate: no rules are loaded here (tests/static/test_prometheus_rules.py runs them in promtool).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from prometheus_client import CollectorRegistry, start_http_server

from devstack.local_stack import LocalStack, StackConfig, free_port
from helpline.bus import BusMetrics
from helpline.events import event_type_label
from helpline.grpc import GrpcMetrics
from helpline.http_shell.metrics import HttpMetrics
from helpline.outbox import OutboxMetrics
from services.metrics.counts import Counts
from services.metrics.round_trip import Arg
from services.metrics.series import QueueFigures, ScrapedSamples, Series
from services.notify.deliverer import DeliveryMetrics
from services.sla.timers import TimerMetrics
from tests.stack_provider import Endpoints
from tests.static.test_dashboards import LABEL_VALUES, dashboards, queries, variables

TENANT, QUEUE, CHANNEL = "acme", "billing", "voice"
JOB = "helpline-metrics"
# What Grafana would put for each variable; each is a value the variable's own query offers.
VALUES = {
    "__rate_interval": "5m",
    "tenant": TENANT,
    "queue": QUEUE,
    "channel": CHANNEL,
    "metric": "first_reply",
    "job": JOB,
}
# Waiting for scrapes is setup, not an assertion: generous, and only ever waited out on a failure.
SCRAPES_WITHIN_S = 90.0


def substitute(text: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in VALUES, f"no value for ${name} in {text}"
        return VALUES[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, text)


# A value for every label of the series set below; `child` takes them by the series' own label names,
# so a label added to a series needs a line here rather than a change of every call.
LABEL_VALUES_FOR = {
    "tenant": TENANT,
    "queue": QUEUE,
    "channel": CHANNEL,
    "department": "service",
    "state": "busy",
    "status": "available",
    "topic": "helpline.tickets",
    "type": "helpline.ticket.created.v1",
    "outcome": "ok",
    "group": "metrics",
    "method": "GET",
    "route": "/v1/tickets/{ticket_id}",
    "grpc_service": "helpline.v1.Tickets",
    "grpc_method": "GetTicket",
    "grpc_code": "OK",
    "stream": "outbox:tickets",
    "subject": "ticket",
    "trigger": "breach",
}


def child(metric: Any, **labels: str) -> Any:
    """The metric's child for the labels given, the others from LABEL_VALUES_FOR."""
    names: tuple[str, ...] = metric._labelnames
    missing = [name for name in names if name not in labels and name not in LABEL_VALUES_FOR]
    assert not missing, f"{metric}: give LABEL_VALUES_FOR a value for {missing}"
    return metric.labels(**{name: labels.get(name, LABEL_VALUES_FOR.get(name, "")) for name in names})


def registry_like_the_services(client: redis.Redis) -> CollectorRegistry:
    """The metrics catalog, its counts in `client`, and platform series, with a sample in every
    series the dashboards read."""
    registry = CollectorRegistry()
    queue = (TENANT, QUEUE, CHANNEL)
    counts = Counts(client, f"dashboards-{uuid.uuid4().hex}", timedelta(hours=1))
    series = Series(
        registry,
        counts,
        ScrapedSamples(
            agents_by_status=lambda: [((TENANT, "available"), 4), ((TENANT, "away"), 1)],
            tickets_by_status=lambda: [((TENANT, "open"), 7), ((TENANT, "pending"), 2)],
            offered_load=lambda: [(queue, 2.5)],
            required_agents=lambda: [(queue, 5)],
            queue_channels=lambda: [queue],
        ),
    )
    series.snapshots.update(queue, QueueFigures(3, 42, 30, {LABEL_VALUES_FOR["state"]: 4, "idle": 2}))
    for gauge, value in ((series.queue_threshold, 20), (series.queue_target, 0.8)):
        child(gauge).set(value)
    # Ticket time histograms are the series not primed at zero: they start at a first observation.
    moves: list[Arg] = []
    for histogram, seconds in ((series.ticket_first_reply, 600), (series.ticket_resolution, 7200)):
        labels = tuple(LABEL_VALUES_FOR[name] for name in histogram.labelnames)
        counts.observe(moves, histogram, labels, seconds)
    client.hset(counts.key, mapping=dict(zip(moves[::2], moves[1::2], strict=True)))

    bus = BusMetrics(registry, event_type_label)
    for counter in (bus.handled, bus.retries, bus.dlq_writes):
        child(counter).inc()
    child(bus.handle_seconds).observe(0.01)
    child(bus.lag).set(3)
    http = HttpMetrics(registry).request_duration
    child(http, status="200").observe(0.02)
    child(http, method="POST", route="/v1/tickets", status="500").observe(0.2)
    grpc = GrpcMetrics(registry).request_duration
    child(grpc).observe(0.01)
    child(grpc, grpc_code="NOT_FOUND").observe(0.01)
    outbox = OutboxMetrics(registry)
    child(outbox.published).inc()
    child(outbox.backlog).set(2)
    child(TimerMetrics(registry).lag).observe(0.05)
    webhooks = DeliveryMetrics(registry, backlog=lambda: 4)
    child(webhooks.deliveries, outcome="delivered").inc()
    webhooks.latency.observe(0.3)
    webhooks.report()
    return registry


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, stack: Endpoints) -> Iterator[str]:
    """A real Prometheus scraping two replicas of the exporter every second; its base URL."""
    client = redis.Redis.from_url(stack.redis_url)
    registry = registry_like_the_services(client)
    servers = [start_http_server(0, addr="127.0.0.1", registry=registry)[0] for _ in range(2)]
    var_dir: Path = tmp_path_factory.mktemp("prometheus")
    config = var_dir / "prometheus.yml"
    targets = ", ".join(f"'127.0.0.1:{server.server_port}'" for server in servers)
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: [{targets}]\n"
    )
    cfg = StackConfig(var_dir=var_dir, prometheus_port=free_port(), prometheus_config=config)
    local = LocalStack(cfg)
    local.start(local.prometheus())
    try:
        _wait_for_scrapes(cfg.prometheus_url)
        yield cfg.prometheus_url
    finally:
        local.stop("prometheus")
        for server in servers:
            server.shutdown()
            server.server_close()
        client.close()


def _wait_for_scrapes(url: str) -> None:
    """Until both targets are up and each has three scrapes, enough for rate() over 5m."""
    deadline = time.monotonic() + SCRAPES_WITHIN_S
    ready = f'count(count_over_time(up{{job="{JOB}"}}[5m]) >= 3 and up{{job="{JOB}"}} == 1) == 2'
    while time.monotonic() < deadline:
        result = _query(url, ready)
        if result["status"] == "success" and result["data"]["result"]:
            return
        time.sleep(0.5)
    pytest.fail(
        f"Prometheus at {url} did not scrape both exporters three times within {SCRAPES_WITHIN_S:.0f} s"
    )


def _query(url: str, expr: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=30)
    body: dict[str, Any] = response.json()
    return body


def _all_queries() -> list[tuple[str, str, str]]:
    return [(name, title, expr) for name, board in dashboards().items() for title, expr in queries(board)]


def test_there_are_queries_to_send() -> None:
    assert len(_all_queries()) > 50


def test_every_panel_query_evaluates(prometheus: str) -> None:
    failed, empty = [], []
    for name, title, expr in _all_queries():
        sent = substitute(expr)
        answer = _query(prometheus, sent)
        if answer.get("status") != "success":
            failed.append(f"{name} / {title}: {answer.get('error')}\n    {sent}")
        elif not answer["data"]["result"] and not _rule_names(sent):
            empty.append(f"{name} / {title}: {sent}")
    assert not failed, "queries Prometheus refused:\n" + "\n".join(failed)
    assert not empty, "queries of exported series that found nothing:\n" + "\n".join(empty)


def _rule_names(expr: str) -> str:
    """The recording rules an expression names, joined (empty when it names none)."""
    return "".join(re.findall(r"[a-z_]+:[a-z_]+:[a-z_0-9]+", re.sub(r'"[^"]*"', "", expr)))


def test_every_variable_offers_the_value_substituted_for_it(prometheus: str) -> None:
    checked = set()
    for name, board in dashboards().items():
        for variable in variables(board):
            if variable["type"] != "query":
                continue
            found = LABEL_VALUES.match(variable["query"])
            assert found, f"{name}: ${variable['name']} is not label_values(selector, label)"
            response = httpx.get(
                f"{prometheus}/api/v1/label/{found['label']}/values",
                params={"match[]": substitute(found["selector"])},
                timeout=30,
            ).json()
            assert response["status"] == "success", f"{name}: ${variable['name']}: {response}"
            assert VALUES[variable["name"]] in response["data"], (
                f"{name}: ${variable['name']}: {response['data']}"
            )
            checked.add(variable["name"])
    assert checked == set(VALUES) - {"__rate_interval"}
