"""Both overlays accepted by a real kube-apiserver (tests/kube/apiserver.py), with the Prometheus
Operator's CRDs installed: server-side apply, first as a server dry run, then for real; every rendered
object then read back from the server. The API server validates what the offline schemas of
tests/static cannot: the PodMonitor and PrometheusRules against the operator's own CRDs, admission's
defaults and immutable fields. Then the upgrade of docs/operations.md ("Upgrade steps") from dev to
prod as written: the apply fails on the finished topics Job alone until the Job is deleted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube.apiserver import ApiServer, installed, running_apiserver
from tests.kube.cluster import render

pytestmark = pytest.mark.timeout(1800)  # a fresh machine builds kube-apiserver first (minutes)
OVERLAYS = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "overlays"


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with running_apiserver(tmp_path_factory.mktemp("apiserver")) as server:
        _, crds = installed()
        applied = server.kubectl("apply", "--server-side", "-f", str(crds))
        assert applied.returncode == 0, applied.stderr
        established = server.kubectl(
            "wait", "--for", "condition=established", "--timeout", "60s",
            "crd/podmonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com",
        )  # fmt: skip
        assert established.returncode == 0, established.stderr
        yield server


def _write(folder: Path, name: str, documents: list[dict[str, Any]]) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def _apply(apiserver: ApiServer, path: Path, *extra: str) -> str:
    result = apiserver.kubectl(
        "apply", "--server-side", "--field-manager", "kube-test", *extra, "-f", str(path)
    )
    assert result.returncode == 0, result.stderr[-4000:]
    # The server's warnings (a deprecated API, an ignored field) come on standard error.
    assert not result.stderr.strip(), result.stderr[-4000:]
    return result.stdout


def _stored(apiserver: ApiServer, documents: list[dict[str, Any]]) -> None:
    for doc in documents:
        kind, meta = doc["kind"], doc["metadata"]
        args = [kind, meta["name"], *(["--namespace", meta["namespace"]] if "namespace" in meta else [])]
        found = apiserver.get(*args)
        assert meta.get("labels", {}).items() <= found["metadata"]["labels"].items(), (kind, meta["name"])


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_api_server_accepts_the_overlay(apiserver: ApiServer, overlay: str, tmp_path: Path) -> None:
    """Into a namespace of its own (the overlays' `helpline` renamed, as a Namespace is never
    finalized here and both overlays name the same one): a server dry run, then the apply; every
    object stored as rendered."""
    namespace = f"helpline-{overlay}"
    documents = render(OVERLAYS / overlay)
    for doc in documents:
        if doc["kind"] == "Namespace":
            doc["metadata"]["name"] = namespace
        else:
            doc["metadata"]["namespace"] = namespace
    namespaces = [d for d in documents if d["kind"] == "Namespace"]
    assert len(namespaces) == 1
    _apply(apiserver, _write(tmp_path, "namespace", namespaces))
    path = _write(tmp_path, overlay, documents)
    dry = _apply(apiserver, path, "--dry-run=server")
    assert dry.count("serverside-applied (server dry run)") == len(documents), dry
    _apply(apiserver, path)
    _stored(apiserver, documents)


def test_dev_to_prod_in_place_needs_the_finished_job_deleted(apiserver: ApiServer, tmp_path: Path) -> None:
    """docs/operations.md's upgrade: an apply over a namespace the topics Job ran in fails on the Job
    alone (its pod template is immutable), and passes once the Job is deleted as the guide says."""
    namespace = "helpline-upgrade"
    dev, prod = render(OVERLAYS / "dev"), render(OVERLAYS / "prod")
    for doc in (*dev, *prod):
        if doc["kind"] == "Namespace":
            doc["metadata"]["name"] = namespace
        else:
            doc["metadata"]["namespace"] = namespace
    _apply(apiserver, _write(tmp_path, "dev", dev))
    upgrade = _write(tmp_path, "prod", prod)
    failed = apiserver.kubectl("apply", "--server-side", "--field-manager", "kube-test", "-f", str(upgrade))
    assert failed.returncode != 0
    errors = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, failed.stderr[-4000:]
    assert errors[0].startswith('The Job "helpline-topics" is invalid'), errors[0]
    assert "field is immutable" in errors[0], errors[0]
    deleted = apiserver.kubectl(
        "--namespace", namespace, "delete", "job", "helpline-topics", "--ignore-not-found"
    )
    assert deleted.returncode == 0, deleted.stderr
    _apply(apiserver, upgrade)
    _stored(apiserver, prod)
