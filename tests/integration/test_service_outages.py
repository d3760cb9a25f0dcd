"""A service process while its Redis or Kafka is away, as an SRE pulls them: it stays up, its
readiness goes false and comes back, REST answers 503 with Retry-After and gRPC UNAVAILABLE
meanwhile, and at start it waits for Kafka instead of exiting."""

from __future__ import annotations

import collections
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import pytest
import redis

from helpline.auth import ApiKeyStore
from helpline.v1 import ticket_service_pb2 as pb
from helpline.v1 import ticket_service_pb2_grpc
from tests.integration.helpers import wait_until
from tests.integration.private_stack import PrivateStack
from tests.integration.service_process import ServiceProcess, service_env

TICKET = {"subject": "The printer is on fire", "requester_id": "ann"}


def _readiness(process: ServiceProcess) -> tuple[int, dict[str, object]]:
    reply = httpx.get(f"http://127.0.0.1:{process.port}/readyz", timeout=5)
    return reply.status_code, reply.json()


def _create_over_grpc(process: ServiceProcess, key: str) -> grpc.StatusCode:
    with grpc.insecure_channel(f"127.0.0.1:{process.grpc_port}") as channel:
        stub = ticket_service_pb2_grpc.TicketServiceStub(channel)
        try:
            stub.CreateTicket(
                pb.CreateTicketRequest(subject="Over gRPC", requester_id="bob"),
                metadata=(("x-api-key", key),),
                timeout=15,
            )
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("away", ["stopped", "frozen"])
def test_redis_away_gives_503_and_unavailable_and_the_service_comes_back_by_itself(
    away: str, private_stack: PrivateStack, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    """Stopped: connections refused. Frozen (SIGSTOP, as the issue's `kill -STOP` reproduction):
    connections accepted and never answered, so every call waits out the socket timeout."""
    private_stack.start("redis")
    url = private_stack.db_url(2)
    key = ApiKeyStore(redis.Redis.from_url(url), pepper=unique).create(f"t{unique}", "outage")[1]
    env = service_env("tickets", url, kafka_bootstrap, unique, HELPLINE_REDIS_SOCKET_TIMEOUT_SECONDS="2")
    process = ServiceProcess("tickets", env, tmp_path / "tickets.log")
    process.start()
    base = f"http://127.0.0.1:{process.port}"
    headers = {"X-API-Key": key}
    try:
        assert httpx.post(f"{base}/v1/tickets", json=TICKET, headers=headers).status_code == 201

        (private_stack.stop if away == "stopped" else private_stack.freeze)("redis")
        wait_until(lambda: _readiness(process)[0] == 503, what="readiness to go false")
        _status, body = _readiness(process)
        assert body["checks"]["redis"]["ok"] is False  # type: ignore[index]
        refused = httpx.post(f"{base}/v1/tickets", json=TICKET, headers=headers, timeout=30)
        assert refused.status_code == 503
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["status"] == 503
        assert _create_over_grpc(process, key) == grpc.StatusCode.UNAVAILABLE
        # A minute of Redis away must not stop the process.
        time.sleep(20)
        assert process.process is not None
        assert process.process.poll() is None

        (private_stack.start if away == "stopped" else private_stack.thaw)("redis")
        wait_until(lambda: _readiness(process)[0] == 200, what="readiness to come back", timeout=60)
        assert httpx.post(f"{base}/v1/tickets", json=TICKET, headers=headers).status_code == 201
        assert _create_over_grpc(process, key) == grpc.StatusCode.OK
    finally:
        code = process.stop()
    assert code == 0, process.log.read_text()[-3000:]
    log = process.log.read_text()
    assert "worker failed" not in log


def test_a_service_started_before_kafka_waits_for_it_not_ready_and_then_serves(
    private_stack: PrivateStack, redis_url: str, unique: str, tmp_path: Path
) -> None:
    # The broker's ports are chosen now; the broker starts after the service.
    env = service_env("tickets", redis_url, private_stack.kafka_bootstrap, unique)
    process = ServiceProcess("tickets", env, tmp_path / "tickets.log")
    _waits_unready_until_started(process, private_stack, "kafka", failing_check="startup")
    assert "waiting for Kafka" in process.log.read_text()


def _http_answers(process: ServiceProcess) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{process.port}/healthz", timeout=1)
    except httpx.HTTPError:
        return False
    return True


def test_a_full_redis_pool_makes_callers_wait_briefly_then_answers_503_and_never_exits(
    redis_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    key = ApiKeyStore(redis.Redis.from_url(redis_url), pepper=unique).create(f"t{unique}", "pool")[1]
    env = service_env(
        "tickets",
        redis_url,
        kafka_bootstrap,
        unique,
        HELPLINE_REDIS_MAX_CONNECTIONS="2",
        HELPLINE_REDIS_POOL_TIMEOUT_SECONDS="0.05",
    )
    process = ServiceProcess("tickets", env, tmp_path / "tickets.log")
    process.start()
    base = f"http://127.0.0.1:{process.port}"

    def create(_n: int) -> int:
        return httpx.post(
            f"{base}/v1/tickets", json=TICKET, headers={"X-API-Key": key}, timeout=30
        ).status_code

    try:
        statuses: collections.Counter[int] = collections.Counter()
        # Whether forty callers ever overlap on two connections depends on the machine's
        # scheduling, so the burst repeats (a few times at most) until one was refused.
        with ThreadPoolExecutor(max_workers=40) as pool:
            for _burst in range(5):
                statuses.update(pool.map(create, range(200)))
                if statuses[503]:
                    break
        assert set(statuses) <= {201, 503}, statuses
        assert statuses[503] > 0, "two connections for forty callers: some must have been refused"
        assert process.process is not None
        assert process.process.poll() is None
        wait_until(lambda: create(0) == 201, what="a caller alone to be served")
    finally:
        code = process.stop()
    assert code == 0
    assert "Too many connections" not in process.log.read_text()


@pytest.mark.parametrize("service", ["router", "tickets", "sla", "metrics", "notify"])
def test_a_service_started_before_redis_waits_for_it_not_ready_and_then_serves(
    service: str, private_stack: PrivateStack, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    env = service_env(service, private_stack.db_url(1), kafka_bootstrap, unique)
    process = ServiceProcess(service, env, tmp_path / f"{service}.log")
    _waits_unready_until_started(process, private_stack, "redis", failing_check="redis")


def _waits_unready_until_started(
    process: ServiceProcess, stack: PrivateStack, dependency: str, failing_check: str
) -> None:
    """Start `process` before its `dependency`: it answers HTTP, unready, without exiting, until
    the dependency starts; then it becomes ready, and stops cleanly."""
    process.start(wait_ready=False)
    try:
        wait_until(lambda: _http_answers(process), what="the HTTP server to answer", timeout=60)
        # Long enough for a first attempt on the dependency to fail and be retried.
        time.sleep(8)
        status, body = _readiness(process)
        assert status == 503
        assert body["checks"][failing_check]["ok"] is False  # type: ignore[index]
        assert process.process is not None
        assert process.process.poll() is None, f"the service must wait for {dependency}, not exit"
        stack.start(dependency)
        wait_until(lambda: _readiness(process)[0] == 200, what="the service to be ready", timeout=120)
    finally:
        code = process.stop()
    assert code == 0, process.log.read_text()[-3000:]
    assert "worker failed" not in process.log.read_text()


def test_the_metrics_endpoint_serves_its_counters_while_redis_is_away(
    private_stack: PrivateStack, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    private_stack.start("redis")
    env = service_env("metrics", private_stack.db_url(4), kafka_bootstrap, unique)
    process = ServiceProcess("metrics", env, tmp_path / "metrics.log")
    process.start()
    scrape = f"http://127.0.0.1:{process.port}/metrics"
    try:
        assert "helpline_agents" in httpx.get(scrape, timeout=10).text
        private_stack.stop("redis")
        wait_until(lambda: _readiness(process)[0] == 503, what="readiness to go false")
        away = httpx.get(scrape, timeout=30)
        # The process's own series are served; the gauges read from Redis have no samples meanwhile.
        assert away.status_code == 200
        assert "helpline_http_request_duration_seconds" in away.text
        assert "helpline_agents{" not in away.text
        private_stack.start("redis")
        wait_until(lambda: _readiness(process)[0] == 200, what="readiness to come back", timeout=60)
        assert httpx.get(scrape, timeout=10).status_code == 200
    finally:
        code = process.stop()
    assert code == 0
    assert "Traceback" not in process.log.read_text()
