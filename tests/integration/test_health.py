"""The operations HTTP surface on a real server thread, with readiness checked against the real
Redis and Kafka."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter

from devstack.local_stack import free_port
from helpline.http_shell import probes
from helpline.http_shell.apps import build_http_app
from helpline.http_shell.server import HttpServer


@pytest.fixture
def serve() -> Iterator[Callable[[FastAPI], httpx.Client]]:
    """Runs an app on a free port; returns a client for it. Everything started is stopped after."""
    started: list[tuple[HttpServer, httpx.Client]] = []

    def run(app: FastAPI) -> httpx.Client:
        server = HttpServer(app, port=0)
        port = server.start()
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        started.append((server, client))
        return client

    yield run
    for server, client in started:
        client.close()
        server.stop()


def test_healthz_is_ok_without_any_check(serve: Callable[[FastAPI], httpx.Client]) -> None:
    def never() -> bool:
        raise AssertionError("liveness must not run readiness checks")

    client = serve(
        build_http_app(service="test", registry=CollectorRegistry(), readiness_checks={"x": never})
    )
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz_with_real_redis_and_kafka(
    serve: Callable[[FastAPI], httpx.Client], redis_client: redis.Redis, kafka_bootstrap: str
) -> None:
    app = build_http_app(
        service="test",
        registry=CollectorRegistry(),
        readiness_checks={
            "redis": probes.redis_check(redis_client),
            "kafka": probes.kafka_check(kafka_bootstrap),
        },
    )
    client = serve(app)
    for _ in range(2):  # the second probe reuses the Kafka admin client
        response = client.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json()["checks"] == {"redis": {"ok": True}, "kafka": {"ok": True}}


def test_readyz_names_the_failed_check(
    serve: Callable[[FastAPI], httpx.Client], redis_client: redis.Redis
) -> None:
    dead_redis = redis.Redis(port=free_port(), socket_connect_timeout=1)
    app = build_http_app(
        service="test",
        registry=CollectorRegistry(),
        readiness_checks={
            "redis": probes.redis_check(redis_client),
            "kafka": probes.kafka_check(f"127.0.0.1:{free_port()}", timeout_s=1.0),
            "cache": probes.redis_check(dead_redis),
        },
    )
    client = serve(app)
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["cache", "kafka"]
    assert body["checks"]["redis"] == {"ok": True}
    # redis-py retries a refused connection with backoff, so this one may fail or time out.
    assert body["checks"]["cache"]["ok"] is False
    assert body["checks"]["kafka"]["ok"] is False
    dead_redis.close()


def test_a_hung_check_times_out_and_is_not_started_twice(serve: Callable[[FastAPI], httpx.Client]) -> None:
    release = threading.Event()
    calls: list[int] = []

    def hangs() -> bool:
        calls.append(1)
        release.wait(10)
        return True

    app = build_http_app(
        service="test",
        registry=CollectorRegistry(),
        readiness_checks={"slow": hangs, "fine": lambda: True},
        check_timeout_s=0.3,
    )
    client = serve(app)
    for _ in range(3):
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["slow"] == {"ok": False, "error": "timed out after 0.3 s"}
        assert response.json()["checks"]["fine"] == {"ok": True}
    assert len(calls) == 1
    release.set()
    deadline = time.monotonic() + 5
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "did not recover after the check finished"
        time.sleep(0.05)


def test_metrics_expose_the_registry_and_request_latency(serve: Callable[[FastAPI], httpx.Client]) -> None:
    registry = CollectorRegistry()
    jobs = Counter("helpline_test_jobs_total", "Jobs done in the test.", registry=registry)
    jobs.inc(3)
    app = build_http_app(service="test", registry=registry, readiness_checks={})

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    client = serve(app)
    for thing_id in ("a", "b", "c"):
        assert client.get(f"/v1/things/{thing_id}").status_code == 200
    assert client.get("/no/such/path").status_code == 404
    assert client.request("BREW", "/healthz").status_code == 405

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert "helpline_test_jobs_total 3.0" in text
    labels = 'method="GET",route="/v1/things/{thing_id}",status="200"'
    assert f"helpline_http_request_duration_seconds_count{{{labels}}} 3.0" in text
    assert 'route="<unmatched>",status="404"' in text
    assert 'method="OTHER",route="/healthz",status="405"' in text
    # Labels come from the template, never the raw path.
    assert "/v1/things/a" not in text

    openmetrics = client.get("/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")


def test_server_threads_start_and_stop_cleanly() -> None:
    app = build_http_app(service="test", registry=CollectorRegistry(), readiness_checks={})
    before = set(threading.enumerate())
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = HttpServer(app, port=0)
    port = server.start()
    # Off the main thread uvicorn leaves the process's signal handling alone.
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    server.stop()
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers
    assert set(threading.enumerate()) <= before
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_a_taken_port_fails_in_the_caller() -> None:
    app = build_http_app(service="test", registry=CollectorRegistry(), readiness_checks={})
    first = HttpServer(app, port=0)
    port = first.start()
    try:
        with pytest.raises(RuntimeError, match="could not bind"):
            HttpServer(app, port=port).start()
    finally:
        first.stop()
