"""The FastAPI apps of a service's HTTP shell: /healthz, /readyz, /metrics and the API's docs, on the
app the service adds its REST routes to (build_http_app); or, with an operations port, the API's
app and the operations' app, for two servers (build_split_http_apps).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from helpline.http_shell.metrics import HttpMetrics, LatencyMiddleware, Scrapes
from helpline.http_shell.probes import DEFAULT_CHECK_TIMEOUT_S, Check, Readiness


def build_http_app(
    *,
    service: str,
    registry: CollectorRegistry,
    readiness_checks: Mapping[str, Check],
    check_timeout_s: float = DEFAULT_CHECK_TIMEOUT_S,
    scrapes: Scrapes | None = None,
    docs: bool = True,
) -> FastAPI:
    """The app with /healthz, /readyz, /metrics and (with `docs`) the API docs; a service adds its
    REST routes to it.

    The app owns the checks from here on: when it shuts down it calls `close()` on any that has one.
    """
    readiness = Readiness(readiness_checks, check_timeout_s)
    app = _app(service, HttpMetrics(registry), docs=docs, readiness=readiness)
    _add_operations(app, service, registry, readiness, scrapes)
    return app


def build_split_http_apps(
    *,
    service: str,
    registry: CollectorRegistry,
    readiness_checks: Mapping[str, Check],
    check_timeout_s: float = DEFAULT_CHECK_TIMEOUT_S,
    scrapes: Scrapes | None = None,
    docs: bool = True,
) -> tuple[FastAPI, FastAPI]:
    """Two apps for two ports: the API's (only /healthz until the service adds its routes), and the
    operations' (/healthz, /readyz, /metrics and, with `docs`, the API's docs), so the port an
    ingress reaches shows neither the dependencies' errors, the metrics nor the API's map.

    The operations app owns the checks, as build_http_app's does.
    """
    metrics = HttpMetrics(registry)
    api = _app(service, metrics, docs=False)
    readiness = Readiness(readiness_checks, check_timeout_s)
    ops = _app(service, metrics, docs=False, readiness=readiness)
    _add_operations(ops, service, registry, readiness, scrapes)
    if docs:
        _add_docs_of(api, ops, service)
    return api, ops


def _app(service: str, metrics: HttpMetrics, *, docs: bool, readiness: Readiness | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if readiness is not None:
                readiness.close()

    hidden: dict[str, Any] = {} if docs else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    app = FastAPI(title=service, lifespan=lifespan, **hidden)
    app.add_middleware(LatencyMiddleware, metrics=metrics)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    return app


def _add_operations(
    app: FastAPI, service: str, registry: CollectorRegistry, readiness: Readiness, scrapes: Scrapes | None
) -> None:
    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        results = await readiness.run()
        failed = sorted(name for name, result in results.items() if not result["ok"])
        body: dict[str, Any] = {
            "status": "unavailable" if failed else "ok",
            "service": service,
            "checks": results,
        }
        if failed:
            body["failed"] = failed
        return JSONResponse(body, status_code=503 if failed else 200)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        # Prometheus asks for OpenMetrics when it can; anything else gets the classic text format.
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        response = Response(encoder(registry), media_type=content_type)
        if scrapes is not None:
            scrapes.served()
        return response


def _add_docs_of(api: FastAPI, ops: FastAPI, service: str) -> None:
    """`api`'s schema and docs, served by `ops` at FastAPI's usual paths."""

    @ops.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(api.openapi())

    @ops.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{service} - Swagger UI")

    @ops.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{service} - ReDoc")
