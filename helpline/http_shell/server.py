"""The server of a service's HTTP shell: uvicorn on a background thread of the service's process."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

from helpline.logging import get_logger
from helpline.tls import ServerTls

log = get_logger(__name__)


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
