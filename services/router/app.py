"""The router service's wiring: Call management and omnichannel routing (issue 4 builds the routing itself).

Today it runs the platform shell every service shares: health, readiness and metrics over HTTP,
and for services with a gRPC API the standard health and reflection services.
"""

from __future__ import annotations

from helpline.service import ServiceRuntime
from helpline.settings import Settings, load_settings


def build(settings: Settings) -> ServiceRuntime:
    runtime = ServiceRuntime(settings)
    runtime.add_grpc()
    return runtime


def main() -> int:
    return build(load_settings(service_name="router")).run()
