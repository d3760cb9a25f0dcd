"""Redis over TLS (`rediss://` URLs, HELPLINE_REDIS_CA_FILE), against a redis-server of the test's own
serving only TLS with a certificate the test made: the client checks the server against the CA,
refuses a server it cannot check, and a whole service runtime runs on it."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from devstack.local_stack import Component, LocalStack, StackConfig, free_port, port_open
from helpline.redis_client import connect
from helpline.settings import load_settings
from tests.integration.test_service_runtime import round_trip
from tests.tls_certs import Certificates, make_certificates


@dataclass(frozen=True)
class TlsRedis:
    port: int
    certificates: Certificates

    @property
    def url(self) -> str:
        return f"rediss://localhost:{self.port}/0"


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    directory = tmp_path_factory.mktemp("redis-tls")
    certificates = make_certificates(directory / "tls")
    port = free_port()
    stack = LocalStack(StackConfig(var_dir=directory))
    redis_server = shutil.which("redis-server")
    assert redis_server, "redis-server is not installed (make deps)"
    stack.start(
        Component(
            name="redis-tls",
            argv=[
                redis_server,
                "--bind",
                "127.0.0.1",
                # TLS only: no plaintext port at all.
                "--port",
                "0",
                "--tls-port",
                str(port),
                "--tls-cert-file",
                str(certificates.cert_file),
                "--tls-key-file",
                str(certificates.key_file),
                "--tls-ca-cert-file",
                str(certificates.ca_file),
                # Clients show no certificate of their own: the services log in with the URL's password.
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--dir",
                str(directory),
            ],
            ready=functools.partial(port_open, port),
            log_file=directory / "redis-tls.log",
            start_timeout=20.0,
        )
    )
    try:
        yield TlsRedis(port, certificates)
    finally:
        stack.stop("redis-tls")


def test_a_rediss_url_with_the_ca_connects(tls_redis: TlsRedis, unique: str) -> None:
    client = connect(tls_redis.url, load_settings(redis_ca_file=str(tls_redis.certificates.ca_file)))
    try:
        client.set(f"tls:{unique}", "over TLS")
        assert client.get(f"tls:{unique}") == b"over TLS"
    finally:
        client.close()


def test_a_server_the_trusted_cas_did_not_sign_is_refused(tls_redis: TlsRedis) -> None:
    client = connect(tls_redis.url, load_settings())
    try:
        with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            client.ping()
    finally:
        client.close()


def test_plaintext_to_the_tls_port_is_refused(tls_redis: TlsRedis) -> None:
    client = connect(f"redis://127.0.0.1:{tls_redis.port}/0", load_settings(redis_socket_timeout_seconds=2))
    try:
        with pytest.raises(redis.ConnectionError):
            client.ping()
    finally:
        client.close()


def test_the_service_runtime_runs_on_redis_over_tls(
    tls_redis: TlsRedis, kafka_bootstrap: str, unique: str
) -> None:
    """Outbox relay, consumer, readiness and the API keys' store, all on the TLS Redis."""
    round_trip(kafka_bootstrap, tls_redis.url, unique, redis_ca_file=str(tls_redis.certificates.ca_file))
