"""Each service starts as its own process, serves health, readiness and metrics (and gRPC health
where it has a gRPC API), and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack.local_stack import REPO_ROOT, free_port
from tests.integration.helpers import wait_until

GRPC_SERVICES = {"router", "tickets", "sla"}


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("service", ["router", "tickets", "sla", "metrics", "notify"])
def test_service_starts_serves_health_and_stops_on_sigterm(
    service: str, kafka_bootstrap: str, redis_url: str
) -> None:
    http_port, grpc_port = free_port(), free_port()
    env = {
        **os.environ,
        "HELPLINE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "HELPLINE_REDIS_URL": redis_url,
        "HELPLINE_AUTH_REDIS_URL": redis_url,
        "HELPLINE_HTTP_PORT": str(http_port),
        "HELPLINE_GRPC_PORT": str(grpc_port),
        "HELPLINE_TOPIC_PARTITIONS": "2",
        "HELPLINE_API_KEY_PEPPER": "shells-pepper",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "helpline.cli", "run", service],
        cwd=REPO_ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{http_port}"
    try:
        wait_until(lambda: _ready(f"{base}/readyz"), timeout=60, what=f"{service} to be ready")
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
        ready = httpx.get(f"{base}/readyz").json()
        # A router is also unready while it holds all the offer streams it may.
        own = {"offer_streams"} if service == "router" else set()
        assert set(ready["checks"]) == {"startup", "kafka", "redis"} | own
        metrics = httpx.get(f"{base}/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "helpline_http_request_duration_seconds" in metrics.text
        if service in GRPC_SERVICES:
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        logs = proc.stderr.read() if proc.stderr else ""
    assert code == 0, logs[-3000:]
    assert '"event": "service stopped"' in logs


def test_a_service_with_an_api_and_no_pepper_exits_saying_so(kafka_bootstrap: str, redis_url: str) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("HELPLINE_API_KEY_PEPPER", "HELPLINE_ENV")
    }
    env |= {
        "HELPLINE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "HELPLINE_REDIS_URL": redis_url,
        "HELPLINE_AUTH_REDIS_URL": redis_url,
        "HELPLINE_HTTP_PORT": str(free_port()),
        "HELPLINE_GRPC_PORT": str(free_port()),
    }
    done = subprocess.run(
        [sys.executable, "-m", "helpline.cli", "run", "tickets"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "HELPLINE_API_KEY_PEPPER is empty" in done.stderr
