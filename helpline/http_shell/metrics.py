"""What a service's HTTP shell measures: every request's latency, by route template (HttpMetrics,
LatencyMiddleware), and when Prometheus last scraped /metrics (Scrapes)."""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_UNMATCHED_ROUTE = "<unmatched>"


class HttpMetrics:
    """HTTP server metrics; the registry is injected so tests stay isolated."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.request_duration = Histogram(
            "helpline_http_request_duration_seconds",
            "HTTP request latency, by method, route template and status code.",
            ["method", "route", "status"],
            registry=registry,
        )


class LatencyMiddleware:
    """Times every HTTP request (pure ASGI, so streaming responses and contextvars pass untouched).

    The route label is the matched route's template (`/v1/tickets/{ticket_id}`), never the raw path,
    and unknown methods fold into `OTHER`, so a client cannot mint new label values.
    """

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            # The router records the matched route in the (shared) scope on its way down.
            route = scope.get("route")
            template = getattr(route, "path", None) or _UNMATCHED_ROUTE
            method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"
            self.metrics.request_duration.labels(method, template, str(status)).observe(
                time.perf_counter() - start
            )


class Scrapes:
    """When /metrics was served: a process stopping waits for one more scrape, so that what its
    counters counted last reaches Prometheus before they die with it."""

    def __init__(self) -> None:
        self._served = 0
        self._changed = threading.Condition()

    def served(self) -> None:
        with self._changed:
            self._served += 1
            self._changed.notify_all()

    @property
    def any(self) -> bool:
        """Whether this process was ever scraped: if not, nobody will scrape it while it stops."""
        return self._served > 0

    def wait_for_one(self, timeout_s: float) -> bool:
        """Whether a scrape was served within `timeout_s` from now."""
        with self._changed:
            before = self._served
            return self._changed.wait_for(lambda: self._served > before, timeout_s)
