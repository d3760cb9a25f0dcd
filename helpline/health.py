"""Each service's HTTP surface for operations: liveness, readiness, Prometheus metrics, request latency,
and the background-thread server that runs it (and the service's REST routes, added to the same app;
or, with an operations port, to an app of their own on another server: build_split_http_apps).

Liveness stays cheap (no I/O: a slow dependency must not get the process restarted); readiness
really checks the dependencies, each with a timeout, so a stuck one answers 503 instead of hanging.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent import futures
from contextlib import asynccontextmanager
from typing import Any

import redis
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import choose_encoder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from helpline.kafka import clients
from helpline.kafka.port import Admin
from helpline.logging import get_logger
from helpline.tls import ServerTls

log = get_logger(__name__)

Check = Callable[[], bool]

DEFAULT_CHECK_TIMEOUT_S = 2.0
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


class _Readiness:
    """Runs the checks in a small pool with a deadline.

    A check still running from an earlier probe is awaited again rather than started twice, so a
    hung dependency holds at most one thread per check however often the probe comes. The mapping
    is kept, not copied: a part of the service built after the app adds its own check to it.
    """

    def __init__(self, checks: Mapping[str, Check], timeout_s: float) -> None:
        self._checks = checks
        self._timeout_s = timeout_s
        self._pool: futures.ThreadPoolExecutor | None = None
        self._in_flight: dict[str, futures.Future[bool]] = {}
        self._last_ok: dict[str, bool] = {}
        self._lock = threading.Lock()

    def _future(self, name: str) -> futures.Future[bool]:
        with self._lock:
            running = self._in_flight.get(name)
            if running is None or running.done():
                if self._pool is None:
                    # Built on first use (and again after close), not when the app is assembled.
                    self._pool = futures.ThreadPoolExecutor(
                        max_workers=max(1, len(self._checks)), thread_name_prefix="readyz"
                    )
                running = self._pool.submit(self._checks[name])
                self._in_flight[name] = running
            return running

    async def run(self) -> dict[str, dict[str, Any]]:
        pending = {name: asyncio.wrap_future(self._future(name)) for name in self._checks}
        if pending:
            await asyncio.wait(pending.values(), timeout=self._timeout_s)
        results: dict[str, dict[str, Any]] = {}
        for name, fut in pending.items():
            if not fut.done():
                # Drops only this probe's wrapper (a running check cannot be interrupted; the next probe
                # awaits it again), so its late outcome is not reported as never retrieved.
                fut.cancel()
                results[name] = {"ok": False, "error": f"timed out after {self._timeout_s:g} s"}
            elif fut.cancelled():
                results[name] = {"ok": False, "error": "cancelled before it ran"}
            elif fut.exception() is not None:
                results[name] = {"ok": False, "error": _describe(fut.exception())}
            elif fut.result() is not True:
                results[name] = {"ok": False, "error": "check returned false"}
            else:
                results[name] = {"ok": True}
            self._log_change(name, results[name])
        return results

    def _log_change(self, name: str, result: dict[str, Any]) -> None:
        # Probes come every few seconds; log transitions, not every answer.
        ok = bool(result["ok"])
        if self._last_ok.get(name) != ok:
            self._last_ok[name] = ok
            if ok:
                log.info("readiness check passing", check=name)
            else:
                log.warning("readiness check failing", check=name, error=result.get("error"))

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            self._in_flight.clear()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        for check in self._checks.values():
            close = getattr(check, "close", None)
            if callable(close):
                close()


def _describe(exc: BaseException | None) -> str:
    text = str(exc)
    name = type(exc).__name__
    # Some libraries (kafka-python) already start their message with the class name.
    return text if text.startswith(name) else f"{name}: {text}"


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
    readiness = _Readiness(readiness_checks, check_timeout_s)
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
    readiness = _Readiness(readiness_checks, check_timeout_s)
    ops = _app(service, metrics, docs=False, readiness=readiness)
    _add_operations(ops, service, registry, readiness, scrapes)
    if docs:
        _add_docs_of(api, ops, service)
    return api, ops


def _app(service: str, metrics: HttpMetrics, *, docs: bool, readiness: _Readiness | None = None) -> FastAPI:
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
    app: FastAPI, service: str, registry: CollectorRegistry, readiness: _Readiness, scrapes: Scrapes | None
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


def redis_check(client: redis.Redis) -> Check:
    """PING on the service's own client, so readiness tests the connection pool the service uses."""

    def check() -> bool:
        return bool(client.ping())

    return check


class KafkaCheck:
    """A metadata request to the cluster, through one admin client built on first use and reused."""

    def __init__(
        self,
        bootstrap: str,
        timeout_s: float = DEFAULT_CHECK_TIMEOUT_S,
        kafka_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._options = dict(kafka_options or {})
        self._timeout_s = timeout_s
        self._admin: Admin | None = None
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        with self._lock:
            try:
                if self._admin is None:
                    self._admin = clients.admin(
                        self._bootstrap, "helpline-readiness", self._timeout_s, **self._options
                    )
                self._admin.topics()
            except Exception:
                # A client that failed may be left half-connected; start afresh on the next probe.
                self._close_admin()
                raise
            return True

    def _close_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                admin.close()
            except Exception as exc:  # closing a broken client is best effort
                log.debug("closing kafka admin client failed", error=str(exc))

    def close(self) -> None:
        with self._lock:
            self._close_admin()


def kafka_check(
    bootstrap: str,
    timeout_s: float = DEFAULT_CHECK_TIMEOUT_S,
    kafka_options: Mapping[str, Any] | None = None,
) -> KafkaCheck:
    return KafkaCheck(bootstrap, timeout_s, kafka_options)


class HttpServer:
    """Runs an ASGI app with uvicorn on a background thread.

    Off the main thread uvicorn 0.54 installs no signal handlers (`Server.capture_signals` returns
    early), so the process's own SIGTERM handling stays in charge and calls `stop()`.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: bool = False,
        start_timeout_s: float = 10.0,
        tls: ServerTls | None = None,
        name: str = "http",
    ) -> None:
        self._host = host
        self._port = port
        self._start_timeout_s = start_timeout_s
        self._name = name
        # log_config=None keeps uvicorn from replacing the logging set up by configure_logging; its
        # loggers propagate to the root handler like every other library's.
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=access_log,
            **(tls.uvicorn_options() if tls is not None else {}),
        )
        self._server = uvicorn.Server(self._config)
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        """Bind, start serving and return the bound port once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("HttpServer already started")
        # Binding here rather than in uvicorn makes a port clash raise in the caller's thread, and
        # gives the real port when 0 asked for any free one.
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
        except OSError as exc:
            sock.close()
            raise RuntimeError(f"could not bind the HTTP server to {self._host}:{self._port}: {exc}") from exc
        self._socket = sock
        port = int(sock.getsockname()[1])
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"{self._name}-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                self._release()
                raise RuntimeError("the HTTP server exited while starting; see the log above")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the HTTP server did not start within {self._start_timeout_s:g} s")
            time.sleep(0.01)
        log.info("http server started", server=self._name, host=self._host, port=port)
        return port

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish in-flight requests (up to `timeout_s`), run the app's shutdown, and join the thread."""
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            # Past the grace period: drop open connections rather than hang the process's shutdown.
            self._server.force_exit = True
            self._thread.join(timeout_s)
        self._release()
        log.info("http server stopped", server=self._name)

    def _release(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
