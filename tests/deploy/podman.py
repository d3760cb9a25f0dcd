"""Containers of the built image, run with podman as docker-compose.yml and the Kubernetes manifests
run them: the same command, environment and security options, read from those files.

Every podman call runs with runc and cgroupfs (crun fails on this kernel's hybrid cgroups) and fixed
rlimits (the sandbox cannot raise them). Containers share the host's network, so they reach the
Kafka and Redis the test session starts on loopback, and listen on free loopback ports.

A test removes only the containers it started, by the id podman gave it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from devstack.local_stack import REPO_ROOT, free_port

IMAGE = os.environ.get("DEPLOY_IMAGE", "localhost/helpline:dev")
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
K8S_BASE = REPO_ROOT / "deploy" / "k8s" / "base"
# The secrets a deployment supplies: .env for compose (docs/operations.md, section 3), a Secret in
# Kubernetes.
PEPPER = "deploy-test-pepper-" + "x" * 32


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def podman_available() -> bool:
    return shutil.which("podman") is not None


def image_exists(image: str = IMAGE) -> bool:
    return podman_available() and podman("image", "exists", image, check=False).returncode == 0


def unique_name(label: str) -> str:
    return f"helpline-deploy-{label}-{uuid.uuid4().hex[:10]}"


@dataclass
class Deployment:
    """How one container runs: command, environment and podman's security flags, plus where its
    probes answer."""

    command: list[str]
    env: dict[str, str]
    flags: list[str]
    ready_port: int = 0
    http_port: int = 0
    grpc_port: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Container:
    id: str
    name: str

    def logs(self, tail: int = 60) -> str:
        result = podman("logs", "--tail", str(tail), self.id, check=False)
        return result.stdout + result.stderr

    def state(self) -> dict[str, Any]:
        (info,) = json.loads(podman("inspect", "--type", "container", self.id).stdout)
        state: dict[str, Any] = info["State"]
        return state

    def running(self) -> bool:
        return bool(self.state()["Running"])

    def exec(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.id, *command, timeout=timeout, check=False)

    def stop(self, grace: int) -> int:
        """SIGTERM, as `docker compose stop` and the kubelet stop it; its exit code."""
        podman("stop", "--time", str(grace), self.id, timeout=grace + 30)
        return int(self.state()["ExitCode"])

    def remove(self) -> None:
        podman("rm", "--force", "--time", "2", self.id, check=False, timeout=60)


def run_detached(deployment: Deployment, label: str) -> Container:
    name = unique_name(label)
    args = ["run", "--detach", "--name", name, "--network", "host", *ULIMITS, *deployment.flags]
    for key, value in deployment.env.items():
        args += ["--env", f"{key}={value}"]
    container_id = podman(*args, IMAGE, *deployment.command).stdout.strip()
    return Container(container_id, name)


def run_once(deployment: Deployment, label: str, timeout: float = 180) -> tuple[int, str]:
    """A one-shot container to its end: (exit code, its output). Removed after, by its name."""
    name = unique_name(label)
    args = ["run", "--name", name, "--network", "host", *ULIMITS, *deployment.flags]
    for key, value in deployment.env.items():
        args += ["--env", f"{key}={value}"]
    try:
        result = podman(*args, IMAGE, *deployment.command, timeout=timeout, check=False)
    finally:
        podman("rm", "--force", "--time", "2", name, check=False, timeout=60)
    return result.returncode, result.stdout + result.stderr


def wait_ready(container: Container, port: int, path: str = "/readyz", timeout: float = 120) -> None:
    """Until GET path answers 200; fails at once, with the container's log, if it exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:300]}"
        except httpx.HTTPError as error:
            last = repr(error)
        if not container.running():
            raise AssertionError(f"{container.name} exited before {path} answered:\n{container.logs()}")
        time.sleep(0.5)
    raise AssertionError(
        f"{container.name}: {path} on {port} never answered 200 ({last}):\n{container.logs()}"
    )


def pid1_ids(container: Container) -> tuple[int, int]:
    """The real uid and gid of the container's main process."""
    status = container.exec("cat", "/proc/1/status")
    assert status.returncode == 0, status.stderr
    uid = re.search(r"^Uid:\s+(\d+)", status.stdout, flags=re.MULTILINE)
    gid = re.search(r"^Gid:\s+(\d+)", status.stdout, flags=re.MULTILINE)
    assert uid, status.stdout
    assert gid, status.stdout
    return int(uid[1]), int(gid[1])


def listening_addresses(port: int) -> set[str]:
    """The addresses TCP sockets listen on at `port`, from the host's /proc/net/tcp and tcp6: the
    containers share the host's network, so their sockets are there. 0.0.0.0 stands for :: too."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                if set(address) == {"0"}:
                    found.add("0.0.0.0")  # noqa: S104 (a name for the wildcard address)
                elif len(address) == 8:
                    found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
                else:
                    found.add(address)
    return found


# --- docker-compose.yml -----------------------------------------------------------------------------

_DEFAULT = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def _with_defaults(node: Any) -> Any:
    """Compose's interpolation with no variable set: every `${VAR:-default}` its default, and a
    required `${VAR:?message}` (the pepper) empty, for the test to fill in."""
    if isinstance(node, str):
        return _DEFAULT.sub(lambda m: m["arg"] if m["op"] and m["op"].endswith("-") else "", node)
    if isinstance(node, dict):
        return {key: _with_defaults(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_with_defaults(item) for item in node]
    return node


def compose_services() -> dict[str, dict[str, Any]]:
    loaded: dict[str, Any] = _with_defaults(yaml.safe_load(COMPOSE_FILE.read_text()))
    services: dict[str, dict[str, Any]] = loaded["services"]
    return services


def _compose_flags(service: dict[str, Any]) -> list[str]:
    flags: list[str] = []
    if service.get("read_only"):
        # podman's --read-only mounts tmpfs on /tmp, /var/tmp and /run by itself; Docker does not,
        # so without this the test would hide a write the compose file gives no tmpfs for.
        flags += ["--read-only", "--read-only-tmpfs=false"]
    for path in service.get("tmpfs", []):
        flags += ["--tmpfs", path]
    for capability in service.get("cap_drop", []):
        flags += ["--cap-drop", capability]
    for option in service.get("security_opt", []):
        flags += ["--security-opt", option]
    if "user" in service:
        flags += ["--user", str(service["user"])]
    return flags


def _redis_on(redis_url: str, database: str) -> str:
    parts = urlsplit(redis_url)
    return f"{parts.scheme}://{parts.netloc}/{database}"


def compose_deployment(name: str, kafka_bootstrap: str, redis_url: str) -> Deployment:
    """The compose service `name` as docker-compose.yml runs it, its addresses pointed at the test's
    Kafka and Redis (the same database numbers) and its ports at free ones on the host."""
    service = compose_services()[name]
    env = {key: str(value) for key, value in service.get("environment", {}).items()}
    env["HELPLINE_KAFKA_BOOTSTRAP"] = kafka_bootstrap
    for key in ("HELPLINE_REDIS_URL", "HELPLINE_AUTH_REDIS_URL"):
        if key in env:
            env[key] = _redis_on(redis_url, urlsplit(env[key]).path.lstrip("/") or "0")
    http_port = grpc_port = 0
    if "HELPLINE_HTTP_PORT" in env:
        http_port = free_port()
        env["HELPLINE_HTTP_PORT"] = str(http_port)
    if "HELPLINE_GRPC_PORT" in env:
        grpc_port = free_port()
        env["HELPLINE_GRPC_PORT"] = str(grpc_port)
    if "HELPLINE_API_KEY_PEPPER" in env and not env["HELPLINE_API_KEY_PEPPER"]:
        env["HELPLINE_API_KEY_PEPPER"] = PEPPER
    return Deployment(
        command=[str(word) for word in service["command"]],
        env=env,
        flags=_compose_flags(service),
        ready_port=http_port,
        http_port=http_port,
        grpc_port=grpc_port,
        extra={"service": service},
    )


# --- deploy/k8s/base --------------------------------------------------------------------------------


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _workload(path: Path) -> dict[str, Any]:
    (workload,) = [doc for doc in _documents(path) if doc["kind"] in ("Deployment", "Job")]
    return workload


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any]
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def k8s_service_pod() -> dict[str, Any]:
    """The pod spec every service Deployment shares (patches/service-pods.yaml)."""
    pod: dict[str, Any] = _workload(K8S_BASE / "patches" / "service-pods.yaml")["spec"]["template"]["spec"]
    return pod


def _settings_literals() -> dict[str, str]:
    kustomization = yaml.safe_load((K8S_BASE / "kustomization.yaml").read_text())
    (generator,) = kustomization["configMapGenerator"]
    return dict(literal.split("=", 1) for literal in generator["literals"])


def _k8s_flags() -> list[str]:
    """podman's flags for the security context every Helpline pod gets (patches/pod-security.yaml)."""
    patch = _workload(K8S_BASE / "patches" / "pod-security.yaml")
    pod = patch["spec"]["template"]["spec"]
    container = _container(patch)
    context = container["securityContext"]
    flags: list[str] = []
    if context.get("readOnlyRootFilesystem"):
        flags += ["--read-only", "--read-only-tmpfs=false"]
    flags += ["--user", f"{context['runAsUser']}:{context['runAsGroup']}"]
    for capability in context.get("capabilities", {}).get("drop", []):
        flags += ["--cap-drop", capability]
    if context.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        assert "emptyDir" in volumes[mount["name"]], f"only emptyDir volumes are mapped: {mount}"
        flags += ["--tmpfs", mount["mountPath"]]
    return flags


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) references to variables defined before."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), value)


def k8s_deployment(name: str, kafka_bootstrap: str, redis_url: str) -> Deployment:
    """The service `name` (or `topics`, the Job) as deploy/k8s/base runs it: the ConfigMap's settings,
    the shared env of the service pods and the container's own, the pods' security context. What an
    overlay supplies (Kafka, REDIS_BASE_URL, the pepper Secret) points at the test's; the ports
    (8080, 50051, 9102 in every pod) become free ones, since the containers share the host network."""
    path = K8S_BASE / ("topics-job.yaml" if name == "topics" else f"{name}.yaml")
    container = _container(_workload(path))
    env = _settings_literals()
    env["HELPLINE_KAFKA_BOOTSTRAP"] = kafka_bootstrap
    env["REDIS_BASE_URL"] = _redis_on(redis_url, "").rstrip("/")
    entries: list[dict[str, Any]] = []
    if name != "topics":
        entries += _container(_workload(K8S_BASE / "patches" / "service-pods.yaml")).get("env", [])
    entries += container.get("env", [])
    for entry in entries:
        if "value" in entry:
            env[entry["name"]] = _expand(str(entry["value"]), env)
        elif "secretKeyRef" in entry["valueFrom"]:
            assert entry["valueFrom"]["secretKeyRef"]["key"] == "pepper", entry
            env[entry["name"]] = PEPPER
        elif entry["valueFrom"].get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[entry["name"]] = unique_name(name)
        else:
            raise AssertionError(f"no stand-in for {entry}")
    http_port, grpc_port, ops_port = free_port(), free_port(), free_port()
    env |= {
        "HELPLINE_HTTP_PORT": str(http_port),
        "HELPLINE_GRPC_PORT": str(grpc_port),
        "HELPLINE_OPS_PORT": str(ops_port),
    }
    ports = {port["name"] for port in container.get("ports", [])}
    return Deployment(
        command=[*container["command"], *container.get("args", [])],
        env=env,
        flags=_k8s_flags(),
        ready_port=ops_port,
        http_port=http_port,
        grpc_port=grpc_port if "grpc" in ports else 0,
        extra={"container": container},
    )
