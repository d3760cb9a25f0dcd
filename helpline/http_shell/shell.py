"""HttpShell: a service process's HTTP side as one thing, built from its settings and started and
stopped with it."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from helpline.http_shell.apps import build_http_app, build_split_http_apps
from helpline.http_shell.metrics import Scrapes
from helpline.http_shell.probes import Check
from helpline.http_shell.server import HttpServer
from helpline.tls import ServerTls


class HttpShell:
    """The HTTP shell of one service process: `app`, the FastAPI app the service adds its REST
    routes (and middleware) to, which also answers /healthz and, without an operations port,
    /readyz, /metrics and the API's docs; `ops_app`, with an operations port, the app of those on a
    port of their own, so the port an ingress reaches shows neither the dependencies' errors, the
    metrics nor the API's map; and the uvicorn servers running them, once started, with the ports
    they bound.

    It exists so a service holds its HTTP side as one thing: the choice of one app or two, their
    servers and the order they start and stop in are made here, once for every service, and a
    service only adds its routes to `app`.
    """

    def __init__(
        self,
        *,
        service: str,
        registry: CollectorRegistry,
        readiness_checks: Mapping[str, Check],
        scrapes: Scrapes,
        docs: bool,
        host: str,
        port: int,
        ops_port: int | None = None,
        tls: ServerTls | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._ops_port = ops_port
        self._tls = tls
        self.app: FastAPI
        self.ops_app: FastAPI | None = None
        if ops_port is None:
            self.app = build_http_app(
                service=service,
                registry=registry,
                scrapes=scrapes,
                readiness_checks=readiness_checks,
                docs=docs,
            )
        else:
            self.app, self.ops_app = build_split_http_apps(
                service=service,
                registry=registry,
                scrapes=scrapes,
                readiness_checks=readiness_checks,
                docs=docs,
            )
        # The ports bound, once started (the settings may ask for 0: any free one).
        self.port: int | None = None
        self.ops_port: int | None = None
        self._servers: list[HttpServer] = []

    def start(self) -> None:
        """Start the servers: the operations server first, so probes find it soonest."""
        try:
            if self.ops_app is not None and self._ops_port is not None:
                ops = HttpServer(self.ops_app, host=self._host, port=self._ops_port, name="ops")
                self.ops_port = ops.start()
                self._servers.append(ops)
            http = HttpServer(self.app, host=self._host, port=self._port, tls=self._tls)
            self.port = http.start()
            self._servers.append(http)
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the servers started, in the reverse order."""
        servers, self._servers = self._servers, []
        for server in reversed(servers):
            server.stop()
