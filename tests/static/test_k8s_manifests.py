"""The Kubernetes manifests of deploy/k8s, offline: every overlay builds with `kubectl kustomize`,
every object it builds validates against the pinned Kubernetes schemas (kubernetes-validate) and
passes kube-score, and the project's own rules hold (probes, resources, security context, labels,
replicas and budgets, network policies, and agreement with the code and the generated monitoring
objects).

The Prometheus Operator's kinds (PodMonitor, PrometheusRule) have no schema offline:
kubernetes-validate ships only Kubernetes' own, and the operator's CRD schemas come with its
release manifests, not with a package a registry serves here. They are skipped by the schema test
and checked by content instead: the PodMonitor against the pods, the PrometheusRules
against the rule files (which test_prometheus_rules.py runs through promtool).
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from devstack.cli import SERVICE_PORTS
from devstack.local_stack import REPO_ROOT
from devstack.prometheus_config import job_name
from helpline.cli import app as cli_app
from helpline.settings import Settings
from services.metrics.app import MetricsSettings
from services.notify.app import NotifySettings
from services.router.app import RouterSettings
from services.sla.app import SlaSettings
from services.tickets.app import TicketsSettings

K8S = REPO_ROOT / "deploy" / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir() if path.is_dir())
# The oldest Kubernetes the manifests support (the preStop sleep action and matchLabelKeys need it).
KUBERNETES_VERSION = "1.30.0"
KUBE_SCORE = REPO_ROOT / ".tools" / "bin" / "kube-score"
OPERATOR_KINDS = {"PodMonitor", "PrometheusRule"}
# kube-score's checks left off, with the reason; every other check, optional ones included, runs.
KUBE_SCORE_EXCEPTIONS = {
    "container-resource-requests-equal-limits": "The sum of the three checks below, decided one by one.",
    "container-cpu-requests-equal-limits": (
        "CPU above the request is lent, not promised: a limit equal to the request would throttle the "
        "bursts (startup, a consumer catching up on a backlog) that the autoscaler reacts to."
    ),
    "container-ephemeral-storage-request-equals-limit": (
        "The request is what a pod usually writes (its logs), the limit the most a node tolerates: "
        "equal ones would reserve the worst case on every node."
    ),
}
RECOMMENDED_LABELS = tuple(
    f"app.kubernetes.io/{key}"
    for key in ("name", "instance", "component", "part-of", "version", "managed-by")
)
SECRETS = {"helpline-api-keys", "helpline-kafka", "helpline-redis"}
# The services that authenticate callers (REST and gRPC) with API keys hashed with the pepper.
AUTHENTICATING = {"router", "tickets", "sla", "notify"}
ALLOWED_EGRESS_PORTS = {53, 9092, 6379}
# Only notify calls out of the platform: to its tenants' webhook receivers, on public addresses.
WEBHOOK_EGRESS_PORTS = {80, 443}
PRIVATE_RANGES = {
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "100.64.0.0/10",
}
SERVICE_DEPLOYMENTS = {f"helpline-{service}": service for service in SERVICE_PORTS}
SETTINGS_CLASSES = (Settings, RouterSettings, TicketsSettings, SlaSettings, MetricsSettings, NotifySettings)


@functools.cache
def build(overlay: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is missing: it builds the overlays (`kubectl kustomize`)"
    built = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    return tuple(doc for doc in yaml.safe_load_all(built.stdout) if doc)


def of_kind(objects: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def workloads(objects: tuple[dict[str, Any], ...]) -> Iterator[dict[str, Any]]:
    return (obj for obj in objects if obj["kind"] in ("Deployment", "Job"))


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod_spec(workload)["containers"]
    return dict(only)


def env(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {var["name"]: var for var in container(workload).get("env", [])}


def settings_map(objects: tuple[dict[str, Any], ...]) -> dict[str, str]:
    (config,) = [
        obj for name, obj in of_kind(objects, "ConfigMap").items() if name.startswith("helpline-settings")
    ]
    data: dict[str, str] = config["data"]
    return data


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels, and matchExpressions with In) against an object's labels."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", expression
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def replicas(objects: tuple[dict[str, Any], ...], deployment: dict[str, Any]) -> int:
    """The fewest replicas the Deployment runs: its own count, or its autoscaler's minimum."""
    scalers = [
        hpa
        for hpa in of_kind(objects, "HorizontalPodAutoscaler").values()
        if hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    ]
    if scalers:
        assert "replicas" not in deployment["spec"], "an autoscaled Deployment states no replicas"
        return int(scalers[0]["spec"]["minReplicas"])
    return int(deployment["spec"].get("replicas", 1))


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def objects(overlay: str) -> tuple[dict[str, Any], ...]:
    return build(overlay)


def test_there_are_the_dev_and_prod_overlays() -> None:
    assert OVERLAYS == ["dev", "prod"]


def test_each_overlay_builds_the_services_the_job_and_the_monitoring(
    objects: tuple[dict[str, Any], ...],
) -> None:
    names = [(obj["kind"], obj["metadata"]["name"]) for obj in objects]
    assert len(names) == len(set(names))
    assert set(of_kind(objects, "Deployment")) == set(SERVICE_DEPLOYMENTS)
    assert set(of_kind(objects, "Service")) == set(SERVICE_DEPLOYMENTS)
    assert set(of_kind(objects, "ServiceAccount")) == {*SERVICE_DEPLOYMENTS, "helpline-topics"}
    assert set(of_kind(objects, "PodDisruptionBudget")) == set(SERVICE_DEPLOYMENTS)
    assert set(of_kind(objects, "Job")) == {"helpline-topics"}
    assert set(of_kind(objects, "PodMonitor")) == {"helpline"}
    assert {obj["metadata"].get("namespace") for obj in objects if obj["kind"] != "Namespace"} == {"helpline"}


def test_every_object_validates_against_the_kubernetes_schemas(objects: tuple[dict[str, Any], ...]) -> None:
    errors = []
    for obj in objects:
        if obj["kind"] in OPERATOR_KINDS:
            continue  # no schema offline: see the module's docstring
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(part) for part in exc.path)
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(exc.message)
    assert not errors, "\n".join(errors)


def test_the_operator_kinds_are_the_only_ones_without_a_schema(objects: tuple[dict[str, Any], ...]) -> None:
    skipped = {(obj["apiVersion"], obj["kind"]) for obj in objects if obj["kind"] in OPERATOR_KINDS}
    assert skipped == {
        ("monitoring.coreos.com/v1", "PodMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
    }


def test_kube_score_passes(overlay: str, objects: tuple[dict[str, Any], ...], tmp_path: Path) -> None:
    if not KUBE_SCORE.exists():
        pytest.fail(f"{KUBE_SCORE} is missing: run scripts/install_kube_score.sh (make deps does)")
    manifests = tmp_path / f"{overlay}.yaml"
    manifests.write_text(yaml.safe_dump_all(objects))
    version = "v" + KUBERNETES_VERSION.rpartition(".")[0]
    scored = subprocess.run(
        [
            str(KUBE_SCORE),
            "score",
            f"--kubernetes-version={version}",
            *_kube_score_checks(),
            "--exit-one-on-warning",
            "--output-format=ci",
            str(manifests),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    findings = [line for line in scored.stdout.splitlines() if not line.startswith(("[OK]", "[SKIPPED]"))]
    assert scored.returncode == 0, "\n".join(findings) + scored.stderr
    assert not findings


def test_only_the_explained_kube_score_exceptions_are_annotated(
    overlay: str, objects: tuple[dict[str, Any], ...]
) -> None:
    # Their reasons are written beside the annotation, in overlays/dev/dev-pods.yaml.
    explained = {"dev": {"container-image-pull-policy", "deployment-replicas"}, "prod": set()}
    annotated = {
        check
        for obj in objects
        for check in obj["metadata"].get("annotations", {}).get("kube-score/ignore", "").split(",")
        if check
    }
    assert annotated == explained[overlay]


def test_every_object_has_the_recommended_labels(objects: tuple[dict[str, Any], ...]) -> None:
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        assert set(RECOMMENDED_LABELS) <= set(labels), f"{obj['kind']}/{obj['metadata']['name']}"
    for workload in workloads(objects):
        template = workload["spec"]["template"]["metadata"]["labels"]
        assert set(RECOMMENDED_LABELS) <= set(template), workload["metadata"]["name"]
        assert {key: template[key] for key in RECOMMENDED_LABELS} == {
            key: workload["metadata"]["labels"][key] for key in RECOMMENDED_LABELS
        }
    assert {obj["metadata"]["labels"]["app.kubernetes.io/part-of"] for obj in objects} == {"helpline"}
    assert {obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] for obj in objects} == {"kustomize"}


def test_the_version_label_is_the_image_tag_and_the_project_version(
    objects: tuple[dict[str, Any], ...],
) -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert {obj["metadata"]["labels"]["app.kubernetes.io/version"] for obj in objects} == {project}
    for workload in workloads(objects):
        image, _, tag = container(workload)["image"].rpartition(":")
        assert (image, tag) == ("ghcr.io/helpline/helpline", project)


def test_every_deployment_probes_the_health_endpoints(objects: tuple[dict[str, Any], ...]) -> None:
    for name, deployment in of_kind(objects, "Deployment").items():
        probed = container(deployment)
        # /readyz is on the operations port (HELPLINE_OPS_PORT), with /healthz as on every port.
        assert probed["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}, name
        assert probed["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}, name
        startup = probed["startupProbe"]
        if SERVICE_PORTS[SERVICE_DEPLOYMENTS[name]]["grpc"]:
            assert startup["grpc"] == {"port": 50051}, name
        else:
            assert startup["httpGet"] == {"path": "/healthz", "port": "http"}, name
        # A readiness check waits 2 s for each dependency; the probe must outlast it.
        assert probed["readinessProbe"]["timeoutSeconds"] > 2


def test_every_workload_has_requests_and_limits(objects: tuple[dict[str, Any], ...]) -> None:
    for workload in workloads(objects):
        name = workload["metadata"]["name"]
        resources = container(workload)["resources"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory", "ephemeral-storage"} <= set(resources[bound]), name
        # Memory cannot be taken back from a process the way CPU is throttled: a pod is promised on
        # its node all it may use.
        assert resources["requests"]["memory"] == resources["limits"]["memory"], name


def test_every_workload_runs_locked_down(objects: tuple[dict[str, Any], ...]) -> None:
    for workload in workloads(objects):
        pod = pod_spec(workload)
        context = container(workload)["securityContext"]
        name = workload["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert context["runAsNonRoot"] is True, name
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["capabilities"] == {"drop": ["ALL"]}, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        # The read-only root leaves /tmp as the one place to write.
        mounts = {mount["mountPath"]: mount["name"] for mount in container(workload)["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], name


def test_the_deployments_run_their_service_as_the_code_defines_it(
    objects: tuple[dict[str, Any], ...],
) -> None:
    services = of_kind(objects, "Service")
    settings = settings_map(objects)
    for name, deployment in of_kind(objects, "Deployment").items():
        service = SERVICE_DEPLOYMENTS[name]
        run = container(deployment)
        assert [*run["command"], *run["args"]] == ["helpline", "run", service]
        ports = {port["name"]: port["containerPort"] for port in run["ports"]}
        expected = {"http": int(settings["HELPLINE_HTTP_PORT"]), "ops": int(settings["HELPLINE_OPS_PORT"])}
        if SERVICE_PORTS[service]["grpc"]:
            expected["grpc"] = int(settings["HELPLINE_GRPC_PORT"])
        assert ports == expected, name
        assert (
            env(deployment)["HELPLINE_REDIS_URL"]["value"]
            == f"$(REDIS_BASE_URL)/{SERVICE_PORTS[service]['redis_db']}"
        )
        assert env(deployment)["HELPLINE_AUTH_REDIS_URL"]["value"] == "$(REDIS_BASE_URL)/0"
        assert pod_spec(deployment)["serviceAccountName"] == name
        exposed = services[name]
        assert matches(
            {"matchLabels": exposed["spec"]["selector"]}, deployment["spec"]["template"]["metadata"]["labels"]
        )
        # The Service, which the ingress reaches, exposes the API's ports, never the operations port.
        assert {port["name"]: port["targetPort"] for port in exposed["spec"]["ports"]} == {
            port: port for port in ports if port != "ops"
        }


def test_the_settings_are_real_and_say_where_kafka_and_redis_are(
    overlay: str, objects: tuple[dict[str, Any], ...]
) -> None:
    settings = settings_map(objects)
    known = {f"HELPLINE_{field.upper()}" for cls in SETTINGS_CLASSES for field in cls.model_fields}
    assert {key for key in settings if key.startswith("HELPLINE_")} <= known
    assert set(settings) - known == {"REDIS_BASE_URL"}
    assert "HELPLINE_API_KEY_PEPPER" not in settings
    # Reached on the pod's IP, not loopback.
    assert settings["HELPLINE_HTTP_HOST"] == "0.0.0.0"  # noqa: S104
    assert re.fullmatch(r"[\w.-]+:\d+(,[\w.-]+:\d+)*", settings["HELPLINE_KAFKA_BOOTSTRAP"])
    assert re.fullmatch(r"rediss?://[\w.-]+:\d+", settings["REDIS_BASE_URL"]), (
        "no database: each service adds its own"
    )
    if overlay == "dev":
        assert settings["HELPLINE_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert settings["REDIS_BASE_URL"] == "redis://redis:6379"


def test_secrets_are_referenced_never_committed(objects: tuple[dict[str, Any], ...]) -> None:
    assert not of_kind(objects, "Secret")
    readme = (K8S / "README.md").read_text()
    for workload in workloads(objects):
        run = container(workload)
        referenced = {
            source["secretRef"]["name"] for source in run.get("envFrom", []) if "secretRef" in source
        }
        referenced |= {
            var["valueFrom"]["secretKeyRef"]["name"]
            for var in run.get("env", [])
            if "secretKeyRef" in var.get("valueFrom", {})
        }
        assert referenced <= SECRETS
    assert all(f"`{secret}`" in readme for secret in SECRETS), "the README says how to create each Secret"
    for name, deployment in of_kind(objects, "Deployment").items():
        pepper = env(deployment).get("HELPLINE_API_KEY_PEPPER")
        if SERVICE_DEPLOYMENTS[name] in AUTHENTICATING:
            # Required: a service that checks API keys must not start with an empty pepper.
            assert pepper == {
                "name": "HELPLINE_API_KEY_PEPPER",
                "valueFrom": {"secretKeyRef": {"name": "helpline-api-keys", "key": "pepper"}},
            }
        else:
            assert pepper is None, "only the services that check API keys get the pepper"


def test_the_topic_job_creates_the_catalog(objects: tuple[dict[str, Any], ...]) -> None:
    job = of_kind(objects, "Job")["helpline-topics"]
    run = container(job)
    assert [*run["command"], *run["args"]] == ["helpline", "topics", "--create"]
    shown = CliRunner().invoke(cli_app, ["topics", "--help"])
    assert shown.exit_code == 0, shown.output
    assert "--create" in shown.output, "`helpline topics` lost its --create flag"
    assert pod_spec(job)["restartPolicy"] in ("OnFailure", "Never")
    assert job["spec"]["ttlSecondsAfterFinished"] > 0


def test_every_deployment_has_an_autoscaler_or_a_fixed_count_and_a_budget(
    objects: tuple[dict[str, Any], ...],
) -> None:
    budgets = of_kind(objects, "PodDisruptionBudget")
    for name, deployment in of_kind(objects, "Deployment").items():
        fewest = replicas(objects, deployment)
        budget = budgets[name]["spec"]
        assert matches(budget["selector"], deployment["spec"]["template"]["metadata"]["labels"])
        # A drain or a rolling update may take a pod down only if the budget allows one.
        if "maxUnavailable" in budget:
            assert budget["maxUnavailable"] >= 1, name
        else:
            assert budget["minAvailable"] < fewest, name
        assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    for hpa in of_kind(objects, "HorizontalPodAutoscaler").values():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"]["name"] in SERVICE_DEPLOYMENTS
        assert hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]


def test_dev_runs_one_replica_of_each() -> None:
    objects = build("dev")
    assert not of_kind(objects, "HorizontalPodAutoscaler")
    assert {
        name: replicas(objects, deployment) for name, deployment in of_kind(objects, "Deployment").items()
    } == {name: 1 for name in SERVICE_DEPLOYMENTS}


def test_prod_runs_at_least_two_replicas_spread_over_nodes_and_zones() -> None:
    objects = build("prod")
    for name, deployment in of_kind(objects, "Deployment").items():
        assert replicas(objects, deployment) >= 2, name
        pod = pod_spec(deployment)
        (anti,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        assert anti["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
        assert matches(
            anti["podAffinityTerm"]["labelSelector"], deployment["spec"]["template"]["metadata"]["labels"]
        )
        (spread,) = pod["topologySpreadConstraints"]
        assert spread["topologyKey"] == "topology.kubernetes.io/zone"
        assert "app.kubernetes.io/name" in spread["matchLabelKeys"]
        assert matches(spread["labelSelector"], deployment["spec"]["template"]["metadata"]["labels"])
    namespace = of_kind(objects, "Namespace")["helpline"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_network_policies_cover_every_pod_and_allow_only_what_the_design_needs(
    objects: tuple[dict[str, Any], ...],
) -> None:
    policies = list(of_kind(objects, "NetworkPolicy").values())
    for workload in workloads(objects):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        applying = [policy["spec"] for policy in policies if matches(policy["spec"]["podSelector"], labels)]
        types = {kind for spec in applying for kind in spec["policyTypes"]}
        assert types == {"Ingress", "Egress"}, workload["metadata"]["name"]
        named_ports = {port["name"] for port in container(workload).get("ports", [])}
        for spec in applying:
            for rule in spec.get("ingress", []):
                assert {port["port"] for port in rule["ports"]} <= named_ports
            for rule in spec.get("egress", []):
                ports = {port["port"] for port in rule["ports"]}
                blocks = [peer["ipBlock"] for peer in rule.get("to", []) if "ipBlock" in peer]
                if not blocks:
                    assert ports <= ALLOWED_EGRESS_PORTS
                    continue
                # The webhook receivers: public addresses only, on the web's ports.
                assert labels["app.kubernetes.io/name"] == "helpline-notify", workload["metadata"]["name"]
                assert ports == WEBHOOK_EGRESS_PORTS
                (ipv4,) = [block for block in blocks if block["cidr"] == "0.0.0.0/0"]
                assert set(ipv4["except"]) >= PRIVATE_RANGES
    # Nothing but Prometheus calls the metrics service.
    (scrape,) = of_kind(objects, "NetworkPolicy")["helpline-metrics"]["spec"]["ingress"]
    (prometheus,) = scrape["from"]
    assert prometheus["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}


def test_the_pod_monitor_scrapes_every_service_under_the_job_the_alerts_expect(
    objects: tuple[dict[str, Any], ...],
) -> None:
    monitor = of_kind(objects, "PodMonitor")["helpline"]["spec"]
    scraped = {
        name: deployment
        for name, deployment in of_kind(objects, "Deployment").items()
        if matches(monitor["selector"], deployment["spec"]["template"]["metadata"]["labels"])
    }
    assert set(scraped) == set(SERVICE_DEPLOYMENTS)
    (endpoint,) = monitor["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    alerts = (REPO_ROOT / "deploy" / "prometheus" / "rules" / "alerts.yml").read_text()
    assert 'job=~"helpline-.+"' in alerts
    for name, deployment in scraped.items():
        job = deployment["spec"]["template"]["metadata"]["labels"][monitor["jobLabel"]]
        assert job == job_name(SERVICE_DEPLOYMENTS[name]), "the job the local Prometheus and the alerts use"
        # /metrics is where HELPLINE_OPS_PORT puts it.
        assert endpoint["port"] == "ops"
        assert "ops" in {port["name"] for port in container(deployment)["ports"]}


def test_prod_serves_no_grpc_reflection() -> None:
    assert settings_map(build("prod"))["HELPLINE_GRPC_REFLECTION"] == "false"


def test_the_generated_files_are_what_the_generator_writes() -> None:
    generator = _generator()
    stale = [
        str(path)
        for path, text in generator.outputs().items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, "run `uv run python scripts/k8s_generated.py generate`"


def test_the_prometheus_rules_are_the_rule_files(objects: tuple[dict[str, Any], ...]) -> None:
    sources = sorted((REPO_ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
    assert sources
    built = of_kind(objects, "PrometheusRule")
    assert set(built) == {f"helpline-{path.stem}" for path in sources}
    for path in sources:
        assert built[f"helpline-{path.stem}"]["spec"] == {
            "groups": yaml.safe_load(path.read_text())["groups"]
        }


def test_the_dashboard_config_maps_are_the_dashboards(objects: tuple[dict[str, Any], ...]) -> None:
    sources = sorted((REPO_ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
    assert sources
    built = {
        name: cm
        for name, cm in of_kind(objects, "ConfigMap").items()
        if name.startswith("helpline-dashboard-")
    }
    assert set(built) == {f"helpline-dashboard-{path.stem}" for path in sources}
    for path in sources:
        config_map = built[f"helpline-dashboard-{path.stem}"]
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["data"] == {f"helpline-{path.name}": path.read_text()}


def _kube_score_checks() -> list[str]:
    """Every optional check but the exceptions, named one by one: kube-score cannot combine
    --all-default-optional with --ignore-test, and the default checks run anyway."""
    listed = subprocess.run([str(KUBE_SCORE), "list"], capture_output=True, text=True, check=True, timeout=60)
    # CSV rows: id, target kind, description (may hold commas), default|optional.
    rows = [line.split(",") for line in listed.stdout.splitlines() if line]
    defaults = {row[0] for row in rows if row[-1] == "default"}
    optional = {row[0] for row in rows if row[-1] == "optional"}
    assert set(KUBE_SCORE_EXCEPTIONS) <= optional, "an exception to a default check needs --ignore-test"
    assert defaults
    assert optional
    return [
        arg
        for check in sorted(optional - set(KUBE_SCORE_EXCEPTIONS))
        for arg in ("--enable-optional-test", check)
    ]


def _generator() -> Any:
    """scripts/ is no package: load the generator from its file, as `make lint` runs it."""
    spec = importlib.util.spec_from_file_location("k8s_generated", REPO_ROOT / "scripts" / "k8s_generated.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
