"""A real Prometheus scraping the metrics service every second with the project's recording rules,
and its HTTP API as the end-to-end tests read the KPIs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devstack.local_stack import LocalStack, StackConfig, free_port
from devstack.prometheus_config import write_prometheus_config


@dataclass
class Prometheus:
    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5).json()
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])

    def values(self, expr: str) -> list[float]:
        return [float(sample["value"][1]) for sample in self.query(expr)]


@contextmanager
def scraping(metrics_port: int, folder: Path) -> Iterator[Prometheus]:
    """Prometheus, its data and configuration in `folder`, scraping the metrics service."""
    cfg = StackConfig(var_dir=folder / "prometheus", prometheus_port=free_port())
    cfg.prometheus_config = write_prometheus_config(
        folder / "prometheus.yml", {"metrics": [f"127.0.0.1:{metrics_port}"]}, interval="1s"
    )
    stack = LocalStack(cfg)
    stack.start(stack.prometheus())
    try:
        yield Prometheus(cfg.prometheus_url)
    finally:
        stack.stop("prometheus")
