"""The built image (`make image`, localhost/helpline:dev) run as operators run it: each service as
docker-compose.yml and as the Kubernetes manifests (deploy/k8s/base) start it, with their security
options (uid 10001, read-only root filesystem, every capability dropped, no new privileges, only the
scratch space they mount), on the Kafka and Redis the test session starts. `make deploy-test`.

What the image carries is checked too: only the services' commands, none of the development code,
a root-owned virtual environment with its bytecode compiled.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from helpline.settings import Settings
from services.metrics.app import MetricsSettings
from services.notify.app import NotifySettings
from services.router.app import RouterSettings
from services.sla.app import SlaSettings
from services.tickets.app import TicketsSettings
from tests.deploy.podman import (
    IMAGE,
    ULIMITS,
    Container,
    Deployment,
    compose_deployment,
    compose_services,
    image_exists,
    k8s_deployment,
    k8s_service_pod,
    listening_addresses,
    pid1_ids,
    podman,
    podman_available,
    run_detached,
    run_once,
    wait_ready,
)
from tests.stack_provider import Endpoints

SERVICES = ["router", "tickets", "sla", "metrics", "notify"]
PROFILES = ["compose", "kubernetes"]
USER = (10001, 10001)


@pytest.fixture(scope="session", autouse=True)
def _image() -> None:
    if not podman_available():
        pytest.fail("podman is not installed: `make image` installs it and builds the image")
    if not image_exists():
        pytest.fail(f"no image {IMAGE}: build it with `make image` (`make deploy-test` does)")


def _in_image(*command: str) -> str:
    """A command in a throwaway container of the image, as its default user; its stdout."""
    result = podman("run", "--rm", *ULIMITS, "--network", "none", IMAGE, *command, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _deployment(profile: str, name: str, stack: Endpoints) -> Deployment:
    build = compose_deployment if profile == "compose" else k8s_deployment
    return build(name, stack.kafka_bootstrap, stack.redis_url)


# --- what the image carries ---------------------------------------------------------------------------


def test_the_cli_has_only_the_services_commands() -> None:
    usage = _in_image("helpline", "--help")
    commands = set(re.findall(r"^│ ([a-z][a-z-]*) ", usage, flags=re.MULTILINE))
    assert {"run", "topics", "apikey"} <= commands, usage
    assert not commands & {"up", "down", "simulate"}, f"development commands in the image: {commands}"


def test_no_development_code_is_importable() -> None:
    probe = (
        "import importlib.util, json; "
        "names = ('simulator', 'devstack', 'tests', 'bench'); "
        "print(json.dumps([m for m in names if importlib.util.find_spec(m)]))"
    )
    assert json.loads(_in_image("python", "-c", probe)) == []


def test_the_installed_project_is_the_library_and_the_services_only() -> None:
    probe = (
        "import importlib.metadata, json; "
        "print(json.dumps(sorted({f.parts[0] for f in importlib.metadata.files('helpline')})))"
    )
    tops = set(json.loads(_in_image("python", "-c", probe)))
    assert tops - {"..", "helpline-0.1.0.dist-info"} == {"helpline", "services"}, tops


def test_the_default_user_is_10001_and_cannot_change_the_code() -> None:
    # No --read-only here: the virtual environment itself must be closed to the service's user.
    probe = (
        "import os, sys, json, pathlib; venv = pathlib.Path(sys.prefix); "
        "print(json.dumps({'ids': [os.getuid(), os.getgid()], 'prefix': str(venv), "
        "'owners': sorted({p.stat().st_uid for p in venv.rglob('*') if not p.is_symlink()}), "
        "'writable': [str(p) for p in venv.rglob('*') if not p.is_symlink() and os.access(p, os.W_OK)][:5]}))"
    )
    facts = json.loads(_in_image("python", "-c", probe))
    assert tuple(facts["ids"]) == USER
    assert facts["prefix"] == "/app/.venv"
    assert facts["owners"] == [0], "the venv is root's"
    assert facts["writable"] == []


def test_the_bytecode_is_compiled_into_the_image() -> None:
    """A read-only container cannot write .pyc files: every module of the project has its own."""
    probe = (
        "import importlib.util, json, pathlib, helpline, services; "
        "roots = [pathlib.Path(helpline.__file__).parent, pathlib.Path(services.__file__).parent]; "
        "sources = [p for r in roots for p in r.rglob('*.py')]; "
        "print(json.dumps([len(sources), [str(p) for p in sources "
        "if not pathlib.Path(importlib.util.cache_from_source(str(p))).is_file()]]))"
    )
    count, missing = json.loads(_in_image("python", "-c", probe))
    assert count > 50
    assert missing == []


def test_the_system_gives_what_the_settings_rely_on() -> None:
    """An empty HELPLINE_KAFKA_SSL_CAFILE or HELPLINE_REDIS_CA_FILE trusts the system's CAs; the SLA
    calendars name IANA time zones; socket libraries read /etc/services. The python image has all of
    them (ca-certificates, tzdata, netbase); a Debian minbase has only what it is given."""
    probe = (
        "import json, ssl, zoneinfo, socket; "
        "stats = ssl.create_default_context().cert_store_stats(); "
        "print(json.dumps({'cas': stats['x509_ca'], 'zone': str(zoneinfo.ZoneInfo('America/New_York')), "
        "'zones': len(zoneinfo.available_timezones()), 'https': socket.getservbyname('https')}))"
    )
    facts = json.loads(_in_image("python", "-c", probe))
    assert facts["cas"] > 50, "the system's CA bundle"
    assert facts["zone"] == "America/New_York"
    assert facts["zones"] > 300
    assert facts["https"] == 443


# --- the services, as compose and Kubernetes run them -------------------------------------------------


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    """The containers a test started; removed after it by their ids, whatever happened."""
    started: list[Container] = []
    try:
        yield started
    finally:
        for container in started:
            container.remove()


@pytest.fixture(scope="session")
def topics(stack: Endpoints) -> None:
    """The catalog's topics, created as compose's one-shot `topics` service creates them."""
    code, output = run_once(_deployment("compose", "topics", stack), "topics")
    assert code == 0, output


@pytest.mark.parametrize("profile", PROFILES)
def test_the_topic_creator_runs_in_the_image(profile: str, stack: Endpoints, topics: None) -> None:
    """compose's `topics` service and the Kubernetes Job: the catalog exists (again), exit 0."""
    deployment = _deployment(profile, "topics", stack)
    assert deployment.command == ["helpline", "topics", "--create"]
    code, output = run_once(deployment, f"topics-{profile}")
    assert code == 0, output


def _grpc_serving(port: int) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _check_compose_probe(container: Container, deployment: Deployment) -> None:
    """docker-compose.yml's healthcheck, run in the container as Docker runs it."""
    test = deployment.extra["service"]["healthcheck"]["test"]
    assert test[0] == "CMD", test
    result = container.exec(*[str(word) for word in test[1:]])
    assert result.returncode == 0, f"the compose healthcheck fails: {result.stdout}{result.stderr}"


def _check_k8s_probes(deployment: Deployment) -> None:
    """The manifests' probes: liveness /healthz and readiness /readyz on the ops port, the startup
    probe (gRPC health where the service has gRPC, else /healthz on the HTTP port)."""
    container = deployment.extra["container"]
    startup = container["startupProbe"]
    if "grpc" in startup:
        assert deployment.grpc_port, "a gRPC startup probe on a container without a grpc port"
        assert _grpc_serving(deployment.grpc_port)
    else:
        path = startup["httpGet"]["path"]
        assert httpx.get(f"http://127.0.0.1:{deployment.http_port}{path}", timeout=5).status_code == 200
    assert httpx.get(f"http://127.0.0.1:{deployment.ready_port}/healthz", timeout=5).status_code == 200


def _grace_seconds(profile: str) -> int:
    """How long a stop may take: compose's stop_grace_period; the pods' termination grace period
    less the preStop sleep that runs before the SIGTERM."""
    if profile == "compose":
        grace = str(compose_services()["router"]["stop_grace_period"])
        assert grace.endswith("s"), grace
        return int(grace.removesuffix("s"))
    pod = k8s_service_pod()
    (container,) = pod["containers"]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    return int(pod["terminationGracePeriodSeconds"]) - int(pre_stop)


def _check_operator_commands(container: Container, deployment: Deployment) -> None:
    """What docs/operations.md has operators run in a service's container (`docker compose exec`,
    `kubectl exec`): an API key and an ingress secret created there work against the service."""
    tenant = f"deploy-{uuid.uuid4().hex[:8]}"
    created = container.exec("helpline", "apikey", "create", tenant, "--role", "admin", "--name", "setup")
    assert created.returncode == 0, created.stdout + created.stderr
    key = created.stdout.strip()
    assert key.startswith("hlk_"), created.stdout + created.stderr
    listed = container.exec("helpline", "apikey", "list", tenant)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    secret = container.exec("helpline", "ingress-secret", "create", tenant, "--name", "telephony")
    assert secret.returncode == 0, secret.stdout + secret.stderr
    assert secret.stdout.strip().startswith("isk_"), secret.stdout + secret.stderr
    url = f"http://127.0.0.1:{deployment.http_port}/v1/tickets"
    assert httpx.get(url, headers={"X-API-Key": key}, timeout=10).status_code == 200
    assert httpx.get(url, headers={"X-API-Key": key + "x"}, timeout=10).status_code == 401


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", SERVICES)
def test_the_service_gets_ready_and_stops_cleanly(
    name: str, profile: str, stack: Endpoints, topics: None, containers: list[Container]
) -> None:
    deployment = _deployment(profile, name, stack)
    assert deployment.command == ["helpline", "run", name]
    container = run_detached(deployment, f"{name}-{profile}")
    containers.append(container)

    wait_ready(container, deployment.ready_port)
    assert pid1_ids(container) == USER, "the service runs as the image's user, uid and gid 10001"
    if profile == "compose":
        _check_compose_probe(container, deployment)
    else:
        _check_k8s_probes(deployment)
    for port in filter(None, {deployment.http_port, deployment.grpc_port, deployment.ready_port}):
        assert listening_addresses(port) == {"0.0.0.0"}, (  # noqa: S104 (it is the point)
            f"port {port}: published ports reach only a server on every interface"
        )
    if name == "tickets":
        _check_operator_commands(container, deployment)
    # Nothing but the mounted scratch space is writable, and the service needed nothing more.
    assert container.exec("touch", "/app/written").returncode != 0
    assert container.running(), container.logs()

    # The log is JSON lines, one object each, for the log collector (HELPLINE_LOG_FORMAT's default).
    lines = [line for line in container.logs(tail=200).splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert isinstance(json.loads(line), dict), line

    if name == "metrics":
        # Scraped once, as Prometheus does: a stop then waits for one more scrape, which never comes
        # here, so the stop takes the whole wait and must still fit in the grace period.
        assert httpx.get(f"http://127.0.0.1:{deployment.ready_port}/metrics", timeout=10).status_code == 200
    # SIGTERM as PID 1: the service's own handler stops it, within the grace compose and the
    # manifests give (podman would SIGKILL it after that: exit code 137).
    grace = _grace_seconds(profile)
    assert container.stop(grace) == 0, container.logs()


SETTINGS: dict[str, type[Settings]] = {
    "router": RouterSettings,
    "tickets": TicketsSettings,
    "sla": SlaSettings,
    "metrics": MetricsSettings,
    "notify": NotifySettings,
    "topics": Settings,
}


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", [*SERVICES, "topics"])
def test_every_variable_given_is_a_setting(name: str, profile: str, stack: Endpoints) -> None:
    """A misspelled HELPLINE_ variable is silently ignored (the settings ignore unknown ones): every
    one compose or the manifests give a container must be a setting of what runs in it."""
    deployment = _deployment(profile, name, stack)
    known = {f"HELPLINE_{field.upper()}" for field in SETTINGS[name].model_fields}
    given = {key for key in deployment.env if key.startswith("HELPLINE_")}
    assert given - known == set()


def test_compose_services_keep_the_security_options() -> None:
    """What the service tests run with is what compose sets: a guard against a service losing them."""
    services = compose_services()
    for name in SERVICES:
        service = services[name]
        assert service.get("read_only") is True, name
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
