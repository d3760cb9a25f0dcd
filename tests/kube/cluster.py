"""The dev overlay run for real, under `podman kube play`: `kubectl kustomize deploy/k8s/overlays/dev`
rendered, changed only where podman 4.3 or this machine need it, played as pods on a private podman
network, every probe passing, and played down again. docs/operations.md, "The manifests under podman
(`make kube-test`)", says what each change is for.

What the overlay assumes that a cluster gives and podman does not, and what stands in for it:

- Kafka and Redis "in the same namespace as the Services `kafka` and `redis`" (overlays/dev): two
  pods of the local images of `make compose-images`, configured as docker-compose.yml configures
  them (read from that file), and every pod's /etc/hosts naming them (`hostAliases`): podman plays
  no Service, so the names `kafka` and `redis` of the overlay's settings resolve to those pods' IPs.
  The settings themselves are left as the overlay has them.
- Secrets: podman 4.3 stores a `kind: Secret` it plays as YAML and reads a `secretKeyRef` as a flat
  JSON map of base64 values, so a Secret it played itself cannot be read (containers/podman#17071).
  The run creates the Secrets the operator would (docs/operations.md, 2.4) with `podman secret
  create`, in the form podman reads.
- `$(VAR)` in an `env` value: the kubelet expands it from the variables before it; podman 4.3 passes
  it through literally (`HELPLINE_REDIS_URL=$(REDIS_BASE_URL)/1`). The run expands it as the kubelet
  would.
- The topics Job: podman plays no Job, so its pod template is played as a Pod, restart policy and all.
- Ports: podman 4.3 publishes every `containerPort` on the host, on the same port number (a missing
  `hostPort` defaults to it), which four pods of the same ports cannot all have and a cluster never
  does. The played containers list no ports (in Kubernetes they only name the ports; the probes are
  driven from the rendered manifests, which keep them).
- Probes: podman turns a liveness probe into a healthcheck that systemd timers would run, and ignores
  startup and readiness probes. The run does what the kubelet does, from the host on the pod's IP:
  the startup probe until it passes, then the readiness probe; the liveness healthchecks are run
  with `podman healthcheck run`.
- The PodMonitor and PrometheusRules: a Prometheus pod (the local image) whose configuration is
  what the operator would generate from them: one job per pod named by its `jobLabel`, at the
  PodMonitor's interval, path and port, and the PrometheusRules' groups as its rule files.

Everything else the overlay holds (Namespace, Services, NetworkPolicies, PodDisruptionBudgets,
ServiceAccounts, the dashboards' ConfigMaps) podman has no use for; `set_aside` lists it. The
security contexts, probes, resources, commands and settings are played as rendered.

A run's pods, network and secrets are removed by name or id afterwards, whatever happened.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack.local_stack import REPO_ROOT, free_port
from tests.compose.stack import COMPOSE_FILE, CONTAINERS_CONF, local_images

PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
OVERLAY = REPO_ROOT / "deploy" / "k8s" / "overlays" / "dev"
HELPLINE_IMAGE = os.environ.get("KUBE_HELPLINE_IMAGE", "localhost/helpline:dev")
# The image the manifests name; the overlay's tag is replaced by the local build.
MANIFEST_IMAGE = "ghcr.io/helpline/helpline"
SERVICES = ("router", "tickets", "sla", "metrics", "notify")
# Kinds podman 4.3 plays. Everything else is set aside (module doc).
PLAYED = {"Deployment", "ConfigMap", "Job"}
KAFKA_EXTERNAL_PORT = 19092


def _print(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


progress_sink: Callable[[str], None] = _print


def progress(message: str) -> None:
    progress_sink(f"[kube {time.strftime('%H:%M:%S')}] {message}")


def podman(
    *args: str, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False, env=env
    )


def render(overlay: Path = OVERLAY) -> list[dict[str, Any]]:
    done = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=True, timeout=120
    )
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def _expand(value: str, env: dict[str, str]) -> str:
    """The kubelet's `$(VAR)` expansion: a defined variable replaced, `$$` an escaped `$`, an
    undefined reference left as written."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
        lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
        value,
    )


@dataclass
class Plan:
    """The overlay as podman plays it: the documents to play, the Secrets to create, what was set
    aside and what was changed."""

    documents: list[dict[str, Any]]
    set_aside: list[str]
    changes: list[str]
    pods: list[str]
    volumes: list[str]


def _own_empty_dirs(spec: dict[str, Any], owner: str) -> list[str]:
    """podman 4.3 plays an `emptyDir` as a volume named as the pod's volume (`tmp`), the same volume
    for every pod that names one so: each pod's gets a name of its own (`owner`-`tmp`). The
    renamed volumes."""
    renamed: dict[str, str] = {}
    for volume in spec.get("volumes", []):
        if "emptyDir" in volume:
            renamed[volume["name"]] = volume["name"] = f"{owner}-{volume['name']}"
    for container in spec["containers"]:
        for mount in container.get("volumeMounts", []):
            mount["name"] = renamed.get(mount["name"], mount["name"])
    return list(renamed.values())


def for_podman(
    rendered: list[dict[str, Any]],
    hosts: dict[str, str],
    secrets: dict[str, dict[str, str]],
    run: str,
) -> Plan:
    """The changes of the module doc, and no other: the image, /etc/hosts, `$(VAR)`, Job as Pod,
    each pod's emptyDir a volume of its own (named after `run` too)."""
    documents: list[dict[str, Any]] = []
    set_aside: list[str] = []
    changes: list[str] = []
    pods: list[str] = []
    volumes: list[str] = []
    config_maps = {doc["metadata"]["name"]: doc for doc in rendered if doc["kind"] == "ConfigMap"}
    referenced: set[str] = set()
    for original in rendered:
        kind, name = original["kind"], original["metadata"]["name"]
        if kind not in PLAYED:
            set_aside.append(f"{kind}/{name}")
            continue
        if kind == "ConfigMap":
            continue  # added below, if a pod reads it
        doc = copy.deepcopy(original)
        spec = _pod_spec(doc)
        spec["hostAliases"] = [{"ip": ip, "hostnames": [host]} for host, ip in sorted(hosts.items())]
        volumes += _own_empty_dirs(spec, f"{run}-{name}")
        for container in spec["containers"]:
            if container.pop("ports", None):
                changes.append(f"{kind}/{name}: ports not published")
            image = container["image"]
            if image.split(":")[0] == MANIFEST_IMAGE:
                container["image"] = HELPLINE_IMAGE
                changes.append(f"{kind}/{name}: image {image} -> {HELPLINE_IMAGE}")
            known: dict[str, str] = {}
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    ref = source["configMapRef"]["name"]
                    referenced.add(ref)
                    known |= {k: str(v) for k, v in config_maps[ref].get("data", {}).items()}
                if "secretRef" in source:
                    known |= secrets.get(source["secretRef"]["name"], {})
            for variable in container.get("env", []):
                if "value" in variable:
                    expanded = _expand(variable["value"], known)
                    if expanded != variable["value"]:
                        changes.append(f"{kind}/{name}: {variable['name']}={variable['value']} expanded")
                        variable["value"] = expanded
                    known[variable["name"]] = expanded
        if kind == "Job":
            doc = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {**doc["spec"]["template"]["metadata"], "name": name},
                "spec": spec,
            }
            changes.append(f"Job/{name}: its pod template played as Pod/{name}")
            pods.append(name)
        else:
            pods.append(f"{name}-pod-0")
        documents.append(doc)
    for name, doc in config_maps.items():
        if name in referenced:
            documents.insert(0, doc)
        else:
            set_aside.append(f"ConfigMap/{name}")
    if volumes:
        changes.append(f"emptyDir volumes named {', '.join(volumes)}")
    return Plan(documents, set_aside, changes, pods, volumes)


def _compose_service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())["services"][name]
    return service


def dependencies(kafka_port: int, run: str) -> list[dict[str, Any]]:
    """Kafka and Redis as the dev overlay expects them in the namespace, configured as
    docker-compose.yml configures them: Kafka's INTERNAL listener advertised as kafka:9092 for the
    pods, its EXTERNAL one as 127.0.0.1:`kafka_port` for the simulated centre on the host (a host
    port). Inside Kafka's own pod, `kafka` is itself (its controller quorum names it)."""
    images = local_images()
    kafka_env = {
        key: str(value).replace("${KAFKA_PORT:-9092}", str(kafka_port))
        for key, value in _compose_service("kafka")["environment"].items()
    }
    redis_command = _compose_service("redis")["command"]
    pods: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "kafka", "labels": {"app.kubernetes.io/name": "kafka"}},
            "spec": {
                "hostAliases": [{"ip": "127.0.0.1", "hostnames": ["kafka"]}],
                "containers": [
                    {
                        "name": "kafka",
                        "image": images["KAFKA_IMAGE"],
                        "env": [{"name": k, "value": v} for k, v in kafka_env.items()],
                        "ports": [
                            {
                                "containerPort": KAFKA_EXTERNAL_PORT,
                                "hostPort": kafka_port,
                                "hostIP": "127.0.0.1",
                            },
                        ],
                        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/kafka/data"}],
                    }
                ],
                "volumes": [{"name": "data", "emptyDir": {}}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "redis", "labels": {"app.kubernetes.io/name": "redis"}},
            "spec": {
                "containers": [
                    {
                        "name": "redis",
                        "image": images["REDIS_IMAGE"],
                        "args": redis_command,
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }
                ],
                "volumes": [{"name": "data", "emptyDir": {}}],
            },
        },
    ]
    for pod in pods:
        _own_empty_dirs(pod["spec"], f"{run}-{pod['metadata']['name']}")
    return pods


def prometheus(rendered: list[dict[str, Any]], targets: dict[str, str], run: str) -> list[dict[str, Any]]:
    """A Prometheus pod configured as the Prometheus Operator would configure one from the overlay's
    PodMonitor and PrometheusRules: `targets` maps each selected pod's `jobLabel` value (its
    app.kubernetes.io/name) to its IP."""
    (monitor,) = [doc for doc in rendered if doc["kind"] == "PodMonitor"]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    selected = monitor["spec"]["selector"]["matchExpressions"][0]["values"]
    ports = {
        doc["metadata"]["name"]: {
            p["name"]: p["containerPort"] for p in _pod_spec(doc)["containers"][0]["ports"]
        }
        for doc in rendered
        if doc["kind"] == "Deployment"
    }
    config = {
        "global": {"scrape_interval": endpoint["interval"], "evaluation_interval": endpoint["interval"]},
        "rule_files": ["/etc/prometheus/*.rules.yml"],
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": endpoint["path"],
                "scrape_interval": endpoint["interval"],
                "scrape_timeout": endpoint["scrapeTimeout"],
                "static_configs": [{"targets": [f"{targets[job]}:{ports[job][endpoint['port']]}"]}],
            }
            for job in selected
        ],
    }
    data = {"prometheus.yml": yaml.safe_dump(config)}
    for doc in rendered:
        if doc["kind"] == "PrometheusRule":
            data[f"{doc['metadata']['name']}.rules.yml"] = yaml.safe_dump({"groups": doc["spec"]["groups"]})
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "prometheus"},
        "spec": {
            "containers": [
                {
                    "name": "prometheus",
                    "image": local_images()["PROMETHEUS_IMAGE"],
                    "volumeMounts": [
                        {"name": "config", "mountPath": "/etc/prometheus"},
                        {"name": "data", "mountPath": "/prometheus"},
                    ],
                }
            ],
            "volumes": [
                {"name": "config", "configMap": {"name": f"{run}-prometheus"}},
                {"name": "data", "emptyDir": {}},
            ],
        },
    }
    _own_empty_dirs(pod["spec"], f"{run}-prometheus")
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{run}-prometheus"},
        "data": data,
    }
    return [config_map, pod]


def _secret_json(values: dict[str, str]) -> str:
    """A Secret's data in the form podman 4.3's secretKeyRef reads: a JSON map of base64 values."""
    return json.dumps({key: base64.b64encode(value.encode()).decode() for key, value in values.items()})


@dataclass
class Cluster:
    """One run: its folder, network, the operator's pepper, and where everything answers."""

    folder: Path
    run: str = field(default_factory=lambda: f"helpline-kt-{uuid.uuid4().hex[:8]}")
    pepper: str = field(default_factory=lambda: uuid.uuid4().hex * 2)
    kafka_port: int = field(default_factory=free_port)
    played: list[Path] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    ips: dict[str, str] = field(default_factory=dict)
    plan: Plan | None = None
    rendered: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.conf = self.folder / "containers.conf"
        self.conf.write_text(CONTAINERS_CONF)

    @property
    def operator_secrets(self) -> dict[str, dict[str, str]]:
        """What the operator creates before applying (docs/operations.md, 2.4): the pepper. The two
        optional Secrets are left out, as a dev cluster leaves them."""
        return {"helpline-api-keys": {"pepper": self.pepper}}

    def play(self, documents: list[dict[str, Any]], name: str, timeout: float = 300) -> None:
        path = self.folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
        self.played.append(path)
        started = time.monotonic()
        result = podman(
            "kube", "play", "--network", self.run, str(path),
            timeout=timeout, env=os.environ | {"CONTAINERS_CONF": str(self.conf)},
        )  # fmt: skip
        (self.folder / f"{name}.play.log").write_text(result.stdout + result.stderr)
        assert result.returncode == 0, f"kube play {name} failed:\n{result.stderr}"
        progress(f"played {name} in {time.monotonic() - started:.1f} s")

    def pod_ip(self, pod: str) -> str:
        infra = podman("pod", "inspect", "--format", "{{.InfraContainerID}}", pod)
        assert infra.returncode == 0, infra.stderr
        found = podman(
            "inspect", "--format", f'{{{{(index .NetworkSettings.Networks "{self.run}").IPAddress}}}}',
            infra.stdout.strip(),
        )  # fmt: skip
        assert found.returncode == 0, found.stderr
        assert found.stdout.strip(), f"{pod} has no address on {self.run}"
        return found.stdout.strip()

    def container(self, pod: str) -> str:
        """The id of the pod's one application container."""
        found = podman("pod", "inspect", "--format", "{{json .Containers}}", pod)
        assert found.returncode == 0, found.stderr
        ids = [str(c["Id"]) for c in json.loads(found.stdout) if not c["Name"].endswith("-infra")]
        assert len(ids) == 1, found.stdout
        return ids[0]

    def inspect(self, pod: str) -> dict[str, Any]:
        found = podman("inspect", "--type", "container", self.container(pod))
        assert found.returncode == 0, found.stderr
        (info,) = json.loads(found.stdout)
        return dict(info)

    def logs(self, pod: str, tail: int | None = None) -> str:
        args = ["logs", *(["--tail", str(tail)] if tail else []), self.container(pod)]
        result = podman(*args)
        return result.stdout + result.stderr

    def down(self) -> list[str]:
        """Every played file played down (newest first), the secrets and the network removed; what
        could not be removed, said."""
        problems: list[str] = []
        for path in reversed(self.played):
            result = podman("kube", "play", "--down", str(path), timeout=300)
            if result.returncode != 0:
                problems.append(f"kube play --down {path.name}: {result.stderr.strip()}")
        # A configMap volume is played as a podman volume named as the ConfigMap, which `--down`
        # leaves behind; the run's names all start with its own.
        for volume in podman("volume", "ls", "--format", "{{.Name}}").stdout.split():
            if volume.startswith(f"{self.run}-"):
                result = podman("volume", "rm", volume)
                if result.returncode != 0:
                    problems.append(f"volume rm {volume}: {result.stderr.strip()}")
        for secret in self.secrets:
            result = podman("secret", "rm", secret)
            if result.returncode != 0:
                problems.append(f"secret rm {secret}: {result.stderr.strip()}")
        result = podman("network", "rm", self.run)
        if result.returncode != 0:
            problems.append(f"network rm {self.run}: {result.stderr.strip()}")
        return problems

    def leftovers(self) -> list[str]:
        pods = podman("pod", "ps", "--filter", f"network={self.run}", "--format", "{{.Name}}").stdout.split()
        networks = podman("network", "ls", "--format", "{{.Name}}").stdout.split()
        volumes = podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
        secrets = podman("secret", "ls", "--format", "{{.Name}}").stdout.split()
        return (
            [f"pod {p}" for p in pods]
            + [f"network {n}" for n in networks if n == self.run]
            + [f"secret {s}" for s in secrets if s in self.secrets]
            + [f"volume {v}" for v in volumes if v.startswith(self.run)]
        )


def _get(url: str, timeout: float) -> int:
    try:
        return httpx.get(url, timeout=timeout).status_code
    except httpx.HTTPError:
        return 0


def _passes(ip: str, probe: dict[str, Any], ports: dict[str, int]) -> bool:
    """One probe as the kubelet makes it: an HTTP GET answered 2xx or 3xx, or a gRPC health check
    answered SERVING (the overlay uses no other kind)."""
    timeout = probe.get("timeoutSeconds", 1)
    if "grpc" in probe:
        target = f"{ip}:{probe['grpc']['port']}"
        try:
            with grpc.insecure_channel(target) as channel:
                request = health_pb2.HealthCheckRequest(service=probe["grpc"].get("service", ""))
                reply = health_pb2_grpc.HealthStub(channel).Check(request, timeout=timeout)
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    port = probe["httpGet"]["port"]
    number = ports[port] if isinstance(port, str) else int(port)
    return 200 <= _get(f"http://{ip}:{number}{probe['httpGet']['path']}", timeout) < 400


def probe_passes(cluster: Cluster, deployment: dict[str, Any], kind: str) -> bool:
    """The Deployment's pod's probe of that kind, made once from the host on the pod's IP."""
    (container,) = _pod_spec(deployment)["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    ip = cluster.pod_ip(f"{deployment['metadata']['name']}-pod-0")
    return _passes(ip, container[kind], ports)


def wait_ready(cluster: Cluster, deployment: dict[str, Any], timeout: float = 240) -> float:
    """The kubelet's part for one Deployment's pod, from the host on the pod's IP: its startup probe
    until it passes (within failureThreshold x periodSeconds), then its readiness probe. The time
    it took."""
    started = time.monotonic()
    name = deployment["metadata"]["name"]
    pod = f"{name}-pod-0"
    (container,) = _pod_spec(deployment)["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    ip = cluster.pod_ip(pod)
    for kind in ("startupProbe", "readinessProbe"):
        probe = container[kind]
        limit = min(timeout, probe.get("failureThreshold", 3) * probe.get("periodSeconds", 10) + 5)
        deadline = time.monotonic() + limit
        while not _passes(ip, probe, ports):
            state = cluster.inspect(pod)["State"]
            if not state["Running"] or time.monotonic() > deadline:
                raise AssertionError(
                    f"{pod}: {kind} {probe} did not pass within {limit:.0f} s ({state['Status']}):\n"
                    f"{cluster.logs(pod, 40)}"
                )
            time.sleep(min(1.0, probe.get("periodSeconds", 10)))
    return time.monotonic() - started


def wait_exited(cluster: Cluster, pod: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state: dict[str, Any] = cluster.inspect(pod)["State"]
        if state["Status"] == "exited" and (state["ExitCode"] == 0 or time.monotonic() > deadline):
            return state
        assert time.monotonic() < deadline, f"{pod} still {state['Status']}:\n{cluster.logs(pod, 40)}"
        time.sleep(1)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not within {timeout:.0f} s"
        time.sleep(1)


@contextmanager
def running_cluster(folder: Path) -> Iterator[Cluster]:
    """The dev overlay played and ready, with Kafka, Redis and Prometheus beside it; played down and
    checked gone afterwards."""
    images = [HELPLINE_IMAGE, *local_images().values()]
    missing = [image for image in images if podman("image", "exists", image).returncode != 0]
    assert not missing, f"no image {missing}: `make image` and `make compose-images` build them"
    started = time.monotonic()
    cluster = Cluster(folder)
    cluster.rendered = render()
    progress(f"rendered the dev overlay in {time.monotonic() - started:.1f} s")
    failed = True
    try:
        created = podman("network", "create", cluster.run)
        assert created.returncode == 0, created.stderr
        for name, values in cluster.operator_secrets.items():
            path = folder / f"{name}.json"
            path.write_text(_secret_json(values))
            result = podman("secret", "create", name, str(path))
            path.unlink()
            assert result.returncode == 0, f"secret {name}: {result.stderr}"
            cluster.secrets.append(name)

        cluster.play(dependencies(cluster.kafka_port, cluster.run), "dependencies")
        cluster.ips = {name: cluster.pod_ip(name) for name in ("kafka", "redis")}
        wait_for(
            "Kafka answering",
            lambda: podman(
                "exec", cluster.container("kafka"), "/opt/kafka/bin/kafka-broker-api-versions.sh",
                "--bootstrap-server", "127.0.0.1:9092", timeout=60,
            ).returncode == 0,
        )  # fmt: skip
        wait_for(
            "Redis answering",
            lambda: "PONG" in podman("exec", cluster.container("redis"), "redis-cli", "ping").stdout,
        )
        progress(f"Kafka and Redis up in {time.monotonic() - started:.0f} s ({cluster.ips})")

        secret_values = cluster.operator_secrets
        cluster.plan = for_podman(cluster.rendered, cluster.ips, secret_values, cluster.run)
        cluster.play(cluster.plan.documents, "overlay")
        deployments = [d for d in cluster.rendered if d["kind"] == "Deployment"]
        for deployment in deployments:
            took = wait_ready(cluster, deployment)
            progress(f"{deployment['metadata']['name']} ready ({took:.0f} s more)")
        topics = wait_exited(cluster, "helpline-topics")
        assert topics["ExitCode"] == 0, f"the topics Job failed:\n{cluster.logs('helpline-topics')}"
        targets = {
            d["metadata"]["name"]: cluster.pod_ip(f"{d['metadata']['name']}-pod-0") for d in deployments
        }
        cluster.ips |= targets
        cluster.play(prometheus(cluster.rendered, targets, cluster.run), "prometheus")
        cluster.ips["prometheus"] = cluster.pod_ip("prometheus")
        wait_for(
            "Prometheus ready",
            lambda: _get(f"http://{cluster.ips['prometheus']}:9090/-/ready", 2) == 200,
        )
        progress(f"every pod ready in {time.monotonic() - started:.0f} s")
        yield cluster
        failed = False
    finally:
        # The pods' logs kept in the run's folder, read before the pods go.
        with suppress(Exception):
            for pod in ["kafka", "redis", *(cluster.plan.pods if cluster.plan else [])]:
                (folder / f"{pod}.log").write_text(cluster.logs(pod))
        if failed:
            progress(f"failed: logs in {folder}")
        took = time.monotonic()
        problems = cluster.down()
        left = cluster.leftovers()
        progress(f"played down in {time.monotonic() - took:.0f} s")
    assert not problems, problems
    assert not left, f"left behind: {left}"
