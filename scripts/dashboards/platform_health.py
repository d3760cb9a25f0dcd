"""Helpline / Platform health: per service job, scrape targets, event throughput and retries,
consumer lag, dead letters, outbox backlog, HTTP and gRPC latency and errors, SLA timer lag, and
webhook deliveries."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import units

from scripts.dashboards.panels import (
    JOB,
    JOB_PATTERN,
    NEUTRAL,
    RATE,
    Scale,
    error_ratio,
    histogram_quantiles,
    new_dashboard,
    query,
    query_variable,
    stat_panel,
    timeseries_panel,
)

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
            "outbox backlog, HTTP and gRPC latency and errors, SLA timer lag, and webhook deliveries.",
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
        .with_row(dash.Row("Webhooks"))
        .with_panel(
            timeseries_panel(
                "Webhook deliveries per second",
                "Delivery attempts by outcome: delivered (2xx), failed (retried on the schedule), "
                "dead_lettered (the schedule ran out).",
                PER_SECOND,
                query(
                    f"sum by (job, outcome) (rate(helpline_webhook_deliveries_total{{{JOB}}}[{RATE}]))",
                    "{{job}} {{outcome}}",
                ),
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Webhook delivery latency",
                "From the event's time to its subscriber's 2xx, retries included.",
                Scale(units.Seconds, ((None, "green"), (5, "yellow"), (60, "red")), 0),
                *histogram_quantiles(
                    "helpline_webhook_delivery_latency_seconds", JOB, "job", "{{job}}", quantiles=(0.5, 0.99)
                ),
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Webhook backlog",
                "Deliveries waiting, retries included (every replica reports the whole backlog: max).",
                Scale(units.Short, ((None, "green"), (1000, "yellow"), (10000, "red")), 0),
                query(f"max by (job) (helpline_webhook_backlog{{{JOB}}})", "{{job}}"),
                width=8,
            )
        )
    )
