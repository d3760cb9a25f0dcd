"""Kafka over SASL_SSL with the HELPLINE_KAFKA_* settings, against a broker of the test's own whose
SASL_SSL listener serves a certificate the test made: every client of a process (the producer,
consumers, topic admin and readiness check of helpline.kafka) checks the broker
against HELPLINE_KAFKA_SSL_CAFILE and logs in; a wrong password or an unchecked broker is refused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import confluent_kafka
import pytest

from devstack.local_stack import LOCAL_SASL_PASSWORD, LOCAL_SASL_USER, LocalStack, StackConfig, free_port
from helpline.http_shell.probes import KafkaCheck
from helpline.kafka.confluent import producer_config
from helpline.kafka.options import BACKENDS
from helpline.kafka.port import KafkaError
from helpline.settings import Settings, load_settings
from tests.integration.test_service_runtime import round_trip
from tests.tls_certs import Certificates, make_certificates


@dataclass(frozen=True)
class TlsKafka:
    plain_bootstrap: str
    tls_bootstrap: str
    certificates: Certificates

    def settings(self, **overrides: object) -> dict[str, object]:
        return {
            "kafka_bootstrap": self.tls_bootstrap,
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "PLAIN",
            "kafka_sasl_username": LOCAL_SASL_USER,
            "kafka_sasl_password": LOCAL_SASL_PASSWORD,
            "kafka_ssl_cafile": str(self.certificates.ca_file),
        } | overrides


@pytest.fixture(scope="module")
def tls_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsKafka]:
    directory = tmp_path_factory.mktemp("kafka-tls")
    certificates = make_certificates(directory / "tls")
    tls_port = free_port()
    cfg = StackConfig(
        var_dir=directory,
        kafka_port=free_port(),
        controller_port=free_port(),
        sasl_port=free_port(),
        kafka_sasl_ssl_listener=(tls_port, certificates.keystore_file),
        kafka_heap="-Xms128m -Xmx384m",
    )
    stack = LocalStack(cfg)
    stack.start_together(stack.kafka_components())
    try:
        yield TlsKafka(cfg.kafka_bootstrap, f"127.0.0.1:{tls_port}", certificates)
    finally:
        stack.down()


@pytest.mark.parametrize("client", BACKENDS)
def test_a_service_runtime_round_trips_an_event_over_sasl_ssl(
    tls_kafka: TlsKafka, redis_url: str, unique: str, client: str
) -> None:
    """Topics, readiness, the outbox relay's producer and a consumer, all over the SASL_SSL listener,
    on either backend."""
    round_trip(tls_kafka.plain_bootstrap, redis_url, unique, **tls_kafka.settings(kafka_client=client))


def test_a_wrong_password_is_refused(tls_kafka: TlsKafka, unique: str) -> None:
    settings = load_settings(**tls_kafka.settings(kafka_sasl_password="not-the-password"))
    assert "Invalid username or password" in _refusal(settings, unique)


def test_a_broker_the_trusted_cas_did_not_sign_is_refused(tls_kafka: TlsKafka, unique: str) -> None:
    settings = load_settings(**tls_kafka.settings(kafka_ssl_cafile=""))
    assert "certificate verify failed" in _refusal(settings, unique)


def _refusal(settings: Settings, unique: str) -> str:
    """Why the services' producer configuration cannot reach the broker (librdkafka's error
    reports name the cause; its exception only a transport failure), once the readiness check
    has failed too."""
    check = KafkaCheck(settings.kafka_bootstrap, timeout_s=3, kafka_options=settings.kafka_options())
    try:
        with pytest.raises(KafkaError):
            check()
    finally:
        check.close()
    errors: list[confluent_kafka.KafkaError] = []
    config = producer_config(settings.kafka_bootstrap, f"refused-{unique}", settings.kafka_options())
    producer = confluent_kafka.Producer(config | {"error_cb": errors.append})
    with pytest.raises(confluent_kafka.KafkaException):
        producer.list_topics(timeout=5)
    # The error reports wait for a poll, as the services' producer serves them.
    producer.poll(1)
    return " ".join(error.str() for error in errors)
