"""The dev overlay for real (`make kube-test`): `kubectl kustomize deploy/k8s/overlays/dev` played with
`podman kube play` (tests/kube/cluster.py says what it changes and why), every probe passing, the pods
running with the overlay's security contexts, the simulated centre run against it from the host and
the KPIs in a Prometheus configured from the overlay's PodMonitor and PrometheusRules held to the
centre's ledger, as the compose test holds them (tests/compose/test_compose_stack.py); then played
down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.compose.centre import drive_and_hold_to_ledger
from tests.compose.stack import gateway
from tests.kube.cluster import SERVICES, Cluster, podman, probe_passes, progress, running_cluster

# The pods' start and stop count towards the first test's time.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("kube")) as played:
        yield played


def _deployment(cluster: Cluster, service: str) -> dict[str, Any]:
    (found,) = [
        d
        for d in cluster.rendered
        if d["kind"] == "Deployment" and d["metadata"]["name"] == f"helpline-{service}"
    ]
    return found


def test_the_changes_are_only_those_podman_needs(cluster: Cluster) -> None:
    """What the run changed in the rendered overlay: the image, and the `$(VAR)` podman does not
    expand; what it set aside: only kinds podman has no use for."""
    assert cluster.plan is not None
    for change in cluster.plan.changes:
        assert (
            " image ghcr.io/helpline/helpline:" in change
            or change.endswith(" expanded")
            or change.endswith(": ports not published")
            or change.startswith(("Job/helpline-topics: ", "emptyDir volumes named "))
        ), change
    aside = {entry.split("/")[0] for entry in cluster.plan.set_aside}
    assert aside <= {
        "Namespace", "Service", "NetworkPolicy", "PodDisruptionBudget", "ServiceAccount",
        "PodMonitor", "PrometheusRule", "ConfigMap",
    }, aside  # fmt: skip
    assert "ConfigMap/" + _settings_name(cluster) not in cluster.plan.set_aside


def test_the_played_pods_keep_the_overlays_security_probes_and_resources(cluster: Cluster) -> None:
    """Field by field, what the run played against what kustomize rendered: the pod's and the
    container's security contexts, the probes, resources, command, arguments, `envFrom`, mounts,
    lifecycle and termination grace are the rendered ones; the `env` differs only by the expansion."""
    assert cluster.plan is not None
    played = {d["metadata"]["name"]: d for d in cluster.plan.documents if d["kind"] in ("Deployment", "Pod")}
    for rendered in cluster.rendered:
        if rendered["kind"] not in ("Deployment", "Job"):
            continue
        name = rendered["metadata"]["name"]
        spec = rendered["spec"]["template"]["spec"]
        ran = played[name]["spec"] if rendered["kind"] == "Job" else played[name]["spec"]["template"]["spec"]
        for key in ("securityContext", "terminationGracePeriodSeconds", "automountServiceAccountToken"):
            assert ran.get(key) == spec.get(key), (name, key)
        (container,) = spec["containers"]
        (played_container,) = ran["containers"]
        for key in (
            "securityContext", "startupProbe", "readinessProbe", "livenessProbe", "resources",
            "command", "args", "envFrom", "lifecycle", "imagePullPolicy",
        ):  # fmt: skip
            assert played_container.get(key) == container.get(key), (name, key)
        mounts = [m["mountPath"] for m in played_container.get("volumeMounts", [])]
        assert mounts == [m["mountPath"] for m in container.get("volumeMounts", [])], name
        names = [v["name"] for v in played_container.get("env", [])]
        assert names == [v["name"] for v in container.get("env", [])], name


def _settings_name(cluster: Cluster) -> str:
    (name,) = [
        d["metadata"]["name"]
        for d in cluster.rendered
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("helpline-settings-")
    ]
    return str(name)


def test_the_pods_run_with_the_overlays_security_contexts(cluster: Cluster) -> None:
    """As podman really ran them: user and group 10001, read-only root with /tmp an emptyDir, every
    capability dropped, no new privileges, the seccomp profile on; the settings from the ConfigMap,
    the pepper from the Secret and the Redis URLs expanded; every probe passing, made as the kubelet
    makes it (podman's own conversion of the liveness probe cannot run here: the module doc)."""
    for service in SERVICES:
        pod = f"helpline-{service}-pod-0"
        info = cluster.inspect(pod)
        host, config = info["HostConfig"], info["Config"]
        assert config["User"] == "10001:10001", (service, config["User"])
        assert host["ReadonlyRootfs"] is True, service
        assert any(m["Destination"] == "/tmp" for m in info["Mounts"]), (service, info["Mounts"])
        assert host["Privileged"] is False, service
        assert "CAP_NET_RAW" in host["CapDrop"], (service, host["CapDrop"])
        assert not host["CapAdd"], (service, host["CapAdd"])
        caps = cluster_exec(cluster, pod, "grep", "^CapEff", "/proc/1/status")
        assert caps.split()[-1] == "0000000000000000", (service, caps)
        assert any(o.startswith("no-new-privileges") for o in host["SecurityOpt"]), host["SecurityOpt"]
        assert not any("seccomp=unconfined" in o for o in host["SecurityOpt"]), host["SecurityOpt"]
        env = dict(e.split("=", 1) for e in config["Env"])
        assert env["HELPLINE_HTTP_HOST"] == "0.0.0.0"  # noqa: S104 (the overlay's setting, read back)
        assert env["HELPLINE_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["HELPLINE_REDIS_URL"].startswith("redis://redis:6379/"), env["HELPLINE_REDIS_URL"]
        if service != "metrics":
            assert env["HELPLINE_API_KEY_PEPPER"] == cluster.pepper
        assert info["State"]["Running"], service
        deployment = _deployment(cluster, service)
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert probe_passes(cluster, deployment, kind), f"{service}: {kind}"


def cluster_exec(cluster: Cluster, pod: str, *command: str) -> str:
    result = podman("exec", cluster.container(pod), *command)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_played_overlay_reports_the_kpis_the_simulated_centre_lived(cluster: Cluster) -> None:
    ips = cluster.ips
    drive_and_hold_to_ledger(
        tenant=f"kube{cluster.run[-8:]}",
        pepper=cluster.pepper,
        redis_url=f"redis://{ips['redis']}:6379/0",
        kafka_bootstrap=f"127.0.0.1:{cluster.kafka_port}",
        router_http=f"http://{ips['helpline-router']}:8080",
        router_grpc=f"{ips['helpline-router']}:50051",
        sla_http=f"http://{ips['helpline-sla']}:8080",
        tickets_grpc=f"{ips['helpline-tickets']}:50051",
        tickets_http=f"http://{ips['helpline-tickets']}:8080",
        notify_http=f"http://{ips['helpline-notify']}:8080",
        # The pods' network, on which the host is its gateway.
        receiver_host=gateway(cluster.run),
        prometheus_url=f"http://{ips['prometheus']}:9090",
        progress=progress,
    )


def test_no_pod_restarted_nor_logged_an_error(cluster: Cluster) -> None:
    """After the run: every service still live (its liveness probe), none restarted, and none of the
    pods logged an error (their JSON lines)."""
    errors: list[str] = []
    records = 0
    for service in SERVICES:
        pod = f"helpline-{service}-pod-0"
        info = cluster.inspect(pod)
        assert info["State"]["Running"], service
        assert info.get("RestartCount", 0) == 0, f"{service} restarted {info['RestartCount']} times"
        assert probe_passes(cluster, _deployment(cluster, service), "livenessProbe"), service
    for pod in ("helpline-topics", *(f"helpline-{s}-pod-0" for s in SERVICES)):
        for line in cluster.logs(pod).splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            records += isinstance(record, dict)
            if isinstance(record, dict) and record.get("level") in ("error", "critical"):
                errors.append(f"{pod}: {line[:300]}")
    assert records, "no JSON log line read: the check would pass on anything"
    assert not errors, "\n".join(errors)
