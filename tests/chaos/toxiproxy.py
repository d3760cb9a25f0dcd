"""Toxiproxy (github.com/Shopify/toxiproxy, built by scripts/install_toxiproxy.sh) as a process of
the chaos run's own, and the few calls of its HTTP API the run makes: a proxy per link between a
service and a dependency, and a toxic on it for as long as a fault lasts.

The HTTP API is called directly: its Python clients are unmaintained, and four calls are all the
run needs."""

from __future__ import annotations

import functools
from typing import Any

import httpx

from devstack.local_stack import REPO_ROOT, Component, LocalStack, free_port, port_open

BINARY = REPO_ROOT / ".tools" / "bin" / "toxiproxy-server"


class Toxiproxy:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def component(self) -> Component:
        if not BINARY.exists():
            raise FileNotFoundError(f"{BINARY} is missing: run `make deps` (scripts/install_toxiproxy.sh)")
        return Component(
            name="toxiproxy",
            argv=[str(BINARY), "-host", "127.0.0.1", "-port", str(self.port)],
            ready=functools.partial(port_open, self.port),
            log_file=self.stack.cfg.log_dir / "toxiproxy.log",
            start_timeout=20.0,
        )

    def proxy(self, name: str, upstream_port: int, listen_port: int | None = None) -> int:
        """A proxy to the loopback `upstream_port`; the port it listens on."""
        listen_port = listen_port or free_port()
        self._call(
            "POST",
            "/proxies",
            {"name": name, "listen": f"127.0.0.1:{listen_port}", "upstream": f"127.0.0.1:{upstream_port}"},
        )
        return listen_port

    def add_toxic(self, proxy: str, kind: str, **attributes: int) -> None:
        """A toxic of `kind` on both directions of `proxy`, on every connection, old and new."""
        for stream in ("upstream", "downstream"):
            self._call(
                "POST",
                f"/proxies/{proxy}/toxics",
                {"name": f"{kind}-{stream}", "type": kind, "stream": stream, "attributes": attributes},
            )

    def remove_toxic(self, proxy: str, kind: str) -> None:
        for stream in ("upstream", "downstream"):
            self._call("DELETE", f"/proxies/{proxy}/toxics/{kind}-{stream}")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        answer = httpx.request(method, f"{self.url}{path}", json=body, timeout=10)
        answer.raise_for_status()
        return answer.json() if answer.content else None
