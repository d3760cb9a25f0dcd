"""A service as production runs it behind an ingress: its API over TLS (HTTPS and gRPC) with a
certificate the test made, the operations endpoints on a port of their own, gRPC reflection off.
The public port shows neither metrics, readiness detail nor the API's map; plaintext is refused.
With a client CA, a client without a certificate it signed is refused too (mutual TLS)."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from devstack.local_stack import free_port
from helpline.auth import ApiKeyStore
from helpline.v1 import ticket_service_pb2 as pb
from helpline.v1.ticket_service_pb2_grpc import TicketServiceStub
from tests.integration.service_process import ServiceProcess, running, service_env
from tests.stack_provider import Endpoints
from tests.tls_certs import Certificates, make_certificates

OPERATIONS_PATHS = ("/readyz", "/metrics", "/docs", "/redoc", "/openapi.json")


@dataclass(frozen=True)
class Exposed:
    process: ServiceProcess
    certificates: Certificates
    key: str

    @property
    def api(self) -> str:
        return f"https://localhost:{self.process.port}"

    @property
    def ops(self) -> str:
        return f"http://127.0.0.1:{self.process.ops_port}"

    def https(self) -> httpx.Client:
        return httpx.Client(verify=ssl.create_default_context(cafile=self.certificates.ca_file), timeout=10)

    def grpc_channel(self) -> grpc.Channel:
        credentials = grpc.ssl_channel_credentials(root_certificates=self.certificates.ca_pem)
        return grpc.secure_channel(f"localhost:{self.process.grpc_port}", credentials)


@contextmanager
def _tickets_over_tls(
    stack: Endpoints, directory: Path, name: str, *, client_ca: bool, **env: str
) -> Iterator[Exposed]:
    """A tickets service on TLS with its operations endpoints on a port of their own (and with
    `client_ca`, asking every client for a certificate the test's CA signed), and a key for it."""
    certificates = make_certificates(directory / "tls")
    pepper = uuid.uuid4().hex
    if client_ca:
        env["HELPLINE_TLS_CLIENT_CA_FILE"] = str(certificates.ca_file)
    service = service_env(
        "tickets",
        stack.redis_url,
        stack.kafka_bootstrap,
        pepper,
        HELPLINE_OPS_PORT=str(free_port()),
        HELPLINE_TLS_CERT_FILE=str(certificates.cert_file),
        HELPLINE_TLS_KEY_FILE=str(certificates.key_file),
        **env,
    )
    with running("tickets", service, directory / "tickets.log") as process:
        keys = ApiKeyStore(redis.Redis.from_url(stack.redis_url), pepper=pepper)
        _, key = keys.create(f"t{uuid.uuid4().hex[:12]}", name)
        yield Exposed(process, certificates, key)


@pytest.fixture(scope="module")
def exposed(stack: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exposed]:
    with _tickets_over_tls(
        stack,
        tmp_path_factory.mktemp("exposure"),
        "exposure",
        client_ca=False,
        HELPLINE_GRPC_REFLECTION="false",
    ) as running_service:
        yield running_service


def test_the_api_answers_over_https_checked_against_the_test_ca(exposed: Exposed) -> None:
    with exposed.https() as client:
        created = client.post(
            f"{exposed.api}/v1/tickets", json={"subject": "Over TLS"}, headers={"X-API-Key": exposed.key}
        )
    assert created.status_code == 201, created.text
    assert created.json()["subject"] == "Over TLS"


def test_the_operations_endpoints_are_served_on_their_port_only(exposed: Exposed) -> None:
    with exposed.https() as public, httpx.Client(timeout=10) as ops:
        for path in OPERATIONS_PATHS:
            assert public.get(f"{exposed.api}{path}").status_code == 404, path
            assert ops.get(f"{exposed.ops}{path}").status_code == 200, path
        assert public.get(f"{exposed.api}/healthz").json()["status"] == "ok"
        assert "/v1/tickets" in ops.get(f"{exposed.ops}/openapi.json").json()["paths"]
        assert "helpline_http_request_duration_seconds" in ops.get(f"{exposed.ops}/metrics").text


def test_grpc_answers_over_tls_with_a_key(exposed: Exposed) -> None:
    with exposed.grpc_channel() as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        reply = TicketServiceStub(channel).CreateTicket(
            pb.CreateTicketRequest(subject="Over gRPC and TLS"),
            metadata=(("x-api-key", exposed.key),),
            timeout=10,
        )
    assert reply.ticket.subject == "Over gRPC and TLS"


def test_reflection_is_off(exposed: Exposed) -> None:
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    with exposed.grpc_channel() as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            list(
                stub.ServerReflectionInfo(iter([request]), metadata=(("x-api-key", exposed.key),), timeout=10)
            )
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_plaintext_to_the_tls_ports_is_refused(exposed: Exposed) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{exposed.process.port}/healthz", timeout=5)
    with (
        grpc.insecure_channel(f"127.0.0.1:{exposed.process.grpc_port}") as channel,
        pytest.raises(grpc.RpcError) as refused,
    ):
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.fixture(scope="module")
def mutual(stack: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exposed]:
    """The service asking every HTTP and gRPC client for a certificate the test's CA signed."""
    with _tickets_over_tls(stack, tmp_path_factory.mktemp("mutual-tls"), "mutual", client_ca=True) as service:
        yield service


def test_mutual_tls_serves_a_client_with_a_certificate_of_the_ca(mutual: Exposed) -> None:
    context = ssl.create_default_context(cafile=mutual.certificates.ca_file)
    context.load_cert_chain(mutual.certificates.client_cert_file, mutual.certificates.client_key_file)
    with httpx.Client(verify=context, timeout=10) as client:
        created = client.post(
            f"{mutual.api}/v1/tickets", json={"subject": "Mutual"}, headers={"X-API-Key": mutual.key}
        )
    assert created.status_code == 201, created.text
    credentials = grpc.ssl_channel_credentials(
        root_certificates=mutual.certificates.ca_pem,
        private_key=mutual.certificates.client_key_file.read_bytes(),
        certificate_chain=mutual.certificates.client_cert_file.read_bytes(),
    )
    with grpc.secure_channel(f"localhost:{mutual.process.grpc_port}", credentials) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_mutual_tls_refuses_a_client_without_a_certificate(mutual: Exposed) -> None:
    with mutual.https() as client, pytest.raises(httpx.TransportError):
        client.get(f"{mutual.api}/healthz")
    with mutual.grpc_channel() as channel, pytest.raises(grpc.RpcError) as refused:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    # The probes and Prometheus need none: the operations port is plaintext.
    assert httpx.get(f"{mutual.ops}/readyz", timeout=10).status_code == 200


def test_a_certificate_without_its_key_stops_the_service_saying_so(
    redis_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    certificates = make_certificates(tmp_path / "tls")
    env = service_env(
        "tickets", redis_url, kafka_bootstrap, "pepper", HELPLINE_TLS_CERT_FILE=str(certificates.cert_file)
    )
    process = ServiceProcess("tickets", env, tmp_path / "tickets.log")
    process.start(wait_ready=False)
    assert process.process is not None
    assert process.process.wait(60) != 0
    assert "HELPLINE_TLS_KEY_FILE" in process.log.read_text()
