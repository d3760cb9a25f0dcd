"""The metrics service's wiring: Contact-center KPIs exported to Prometheus (issue 6 builds the exporter).

Today it runs the platform shell every service shares: health, readiness and metrics over HTTP,
and for services with a gRPC API the standard health and reflection services.
"""

from __future__ import annotations

from helpline.service import ServiceRuntime
from helpline.settings import Settings, load_settings


def build(settings: Settings) -> ServiceRuntime:
    return ServiceRuntime(settings)


def main() -> int:
    return build(load_settings(service_name="metrics")).run()
