"""Generate and check the Grafana dashboards in deploy/grafana/dashboards, built with the
grafana-foundation-sdk (the Grafana 11.6 build, a dev dependency) rather than written as JSON.

    python -m scripts.dashboards generate   # write deploy/grafana/dashboards/<name>.json
    python -m scripts.dashboards check      # fail if the committed JSON is not what `generate` writes

One module a dashboard (overview, queues, agents, tickets_sla, platform_health), built from the
shared builders of panels and the KPIs of kpis; output lists them and writes or checks the files.

Every dashboard reads Prometheus through the `datasource` variable, whose default is the data source
deploy/grafana/provisioning/datasources/prometheus.yml provisions (uid DATASOURCE_UID). The KPIs come
from the recording rules in deploy/prometheus/rules/recording.yml (`tenant:helpline_service_level:
ratio_rate1h` and the like); the rest from the series of services/metrics/series.py and the platform
series of helpline/ (bus, outbox, HTTP, gRPC) and services/sla/timers.py. The gauges every metrics
replica exports whole (MAX_ONLY_GAUGES) are only ever aggregated with max, never summed;
tests/static/test_dashboards.py holds all of this to account, and
tests/integration/test_dashboards_prometheus.py sends every query to a real Prometheus.
"""
