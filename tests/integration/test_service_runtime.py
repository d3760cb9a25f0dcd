"""The runtime wires a service's parts: a state change written through the outbox reaches Kafka by
the relay and comes back through a consumer, with readiness, metrics and a clean stop."""

from __future__ import annotations

import threading

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack.local_stack import LOCAL_SASL_PASSWORD, LOCAL_SASL_USER
from helpline.events import Envelope, event_handler, new_event, to_record
from helpline.outbox import OutboxScript
from helpline.service import MissingPepperError, ServiceRuntime
from helpline.settings import load_settings
from helpline.v1 import contact_events_pb2
from tests.integration.helpers import make_topic, wait_until
from tests.stack_provider import Endpoints


def test_outbox_to_consumer_through_the_runtime(kafka_bootstrap: str, redis_url: str, unique: str) -> None:
    round_trip(kafka_bootstrap, redis_url, unique)


def test_the_runtime_logs_in_to_a_sasl_listener(
    stack: Endpoints, kafka_bootstrap: str, redis_url: str, unique: str
) -> None:
    """Producer, consumer, topic admin and readiness check all log in with HELPLINE_KAFKA_SASL_*."""
    if stack.local_stack is None:
        pytest.skip("the SASL/PLAIN listener belongs to the local-process broker (deploy/local)")
    cfg = stack.local_stack.cfg
    round_trip(
        kafka_bootstrap,
        redis_url,
        unique,
        kafka_bootstrap=cfg.kafka_sasl_bootstrap,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username=LOCAL_SASL_USER,
        kafka_sasl_password=LOCAL_SASL_PASSWORD,
    )


def round_trip(plain_bootstrap: str, redis_url: str, unique: str, **overrides: object) -> None:
    """`overrides` are settings of the runtime (its Kafka login, its Redis CA); the test's topic is
    made over plain_bootstrap."""
    topic = make_topic(plain_bootstrap, f"test.runtime.{unique}")
    settings = load_settings(
        service_name=f"svc-{unique}",
        redis_url=redis_url,
        auth_redis_url=redis_url,
        http_port=0,
        grpc_port=0,
        topic_partitions=1,
        log_format="console",
        api_key_pepper=unique,
        **({"kafka_bootstrap": plain_bootstrap} | overrides),
    )
    runtime = ServiceRuntime(settings)
    stream = f"outbox:{unique}"
    seen: list[Envelope] = []
    runtime.add_outbox_relay(stream)
    runtime.add_consumer(f"g-{unique}", [topic], event_handler(seen.append))
    runtime.add_grpc()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(runtime.run(install_signals=False)))
    thread.start()
    try:
        wait_until(lambda: runtime.http_port is not None, what="the HTTP server")
        base = f"http://127.0.0.1:{runtime.http_port}"
        wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, what="readiness")

        script = OutboxScript(
            runtime.redis, stream, "redis.call('SET', KEYS[1], ARGV[1]) emit_all() return 1"
        )
        event = new_event(
            contact_events_pb2.ContactReceived(tenant_id="acme", contact_id="c-1"),
            source="/test",
            subject="c-1",
        )
        assert script(keys=[f"contact:{unique}"], args=["received"], records=[to_record(event, topic)]) == 1

        wait_until(lambda: len(seen) == 1, what="the event to come back through Kafka")
        assert seen[0] == event
        assert runtime.redis.get(f"contact:{unique}") == b"received"
        assert runtime.grpc_port
        with grpc.insecure_channel(f"127.0.0.1:{runtime.grpc_port}") as channel:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        metrics = httpx.get(f"{base}/metrics").text
        assert f'helpline_outbox_published_total{{stream="{stream}"}} 1.0' in metrics
        handled = f'outcome="ok",topic="{topic}",type="helpline.contact.received.v1"'
        assert f"helpline_events_handled_total{{{handled}}} 1.0" in metrics
        health_check = 'grpc_code="OK",grpc_method="Check",grpc_service="grpc.health.v1.Health"'
        assert f"helpline_grpc_request_duration_seconds_count{{{health_check}}} 1.0" in metrics
    finally:
        runtime.stop()
        thread.join(60)
    assert result == [0]


def test_a_scraped_process_stops_after_one_more_scrape_and_an_unscraped_one_at_once(
    kafka_bootstrap: str, redis_url: str, unique: str
) -> None:
    """With HELPLINE_FINAL_SCRAPE_WAIT_SECONDS, what the process counted last reaches Prometheus:
    once its work has stopped, it serves /metrics until the next scrape, within the wait."""
    settings = load_settings(
        service_name=f"svc-{unique}",
        redis_url=redis_url,
        auth_redis_url=redis_url,
        kafka_bootstrap=kafka_bootstrap,
        http_port=0,
        log_format="console",
        final_scrape_wait_seconds=60,
    )

    def started() -> tuple[ServiceRuntime, threading.Thread, str]:
        runtime = ServiceRuntime(settings)
        thread = threading.Thread(target=lambda: runtime.run(install_signals=False))
        thread.start()
        wait_until(lambda: runtime.http_port is not None, what="the HTTP server")
        base = f"http://127.0.0.1:{runtime.http_port}"
        wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, what="readiness")
        return runtime, thread, base

    runtime, thread, base = started()
    httpx.get(f"{base}/metrics").raise_for_status()
    runtime.stop()
    thread.join(3)
    assert thread.is_alive(), "it stopped before the scrape that takes its last counts"
    assert httpx.get(f"{base}/healthz").status_code == 200
    httpx.get(f"{base}/metrics").raise_for_status()
    thread.join(30)
    assert not thread.is_alive(), "the scrape it waited for came, and it went on waiting"

    runtime, thread, _base = started()
    runtime.stop()
    thread.join(30)
    assert not thread.is_alive(), "nobody ever scraped it, yet it waited for a scrape"


def test_a_service_with_an_api_refuses_to_start_without_a_pepper_outside_dev(
    kafka_bootstrap: str, redis_url: str, unique: str
) -> None:
    common = {"service_name": f"svc-{unique}", "redis_url": redis_url, "auth_redis_url": redis_url}
    runtime = ServiceRuntime(load_settings(kafka_bootstrap=kafka_bootstrap, **common))
    with pytest.raises(MissingPepperError, match="HELPLINE_API_KEY_PEPPER is empty"):
        runtime.api_keys  # noqa: B018 -- the property is what refuses
    dev = ServiceRuntime(load_settings(kafka_bootstrap=kafka_bootstrap, env="dev", **common))
    assert dev.api_keys is dev.api_keys
