"""A real Kubernetes control plane's front, for the manifests: Debian's etcd and a kube-apiserver built
from the k8s.io/kubernetes module (scripts/install_kube_apiserver.sh, which also fetches the Prometheus
Operator's CRDs), on free loopback ports, with certificates the test makes (tests/tls_certs.py):
kubectl checks the server's certificate against the test's CA and authenticates with a token of the
`system:masters` group; RBAC and the default admission plugins are on.

No controller manager, scheduler nor kubelet runs: the server stores, defaults, validates and admits
what is applied, and nothing acts on it (no pod is ever created, a Namespace is never finalized).
docs/operations.md, "A real API server", says why that is as far as this machine goes.

The processes are stopped by the ids this module started, their data in the test's folder.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devstack.local_stack import REPO_ROOT, free_port
from tests.compose.stack import stop
from tests.tls_certs import make_certificates

INSTALL = REPO_ROOT / "scripts" / "install_kube_apiserver.sh"


def installed() -> tuple[Path, Path]:
    """kube-apiserver and the CRDs' folder, built or fetched on first use."""
    done = subprocess.run(
        ["bash", str(INSTALL), "--print"], capture_output=True, text=True, check=False, timeout=1800
    )
    assert done.returncode == 0, f"{INSTALL.name} failed:\n{done.stderr[-3000:]}"
    found = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return Path(found["KUBE_APISERVER"]), Path(found["OPERATOR_CRDS"])


@dataclass
class ApiServer:
    folder: Path
    kubeconfig: Path

    def kubectl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def get(self, *args: str) -> dict[str, Any]:
        result = self.kubectl("get", *args, "-o", "json")
        assert result.returncode == 0, result.stderr
        found: dict[str, Any] = json.loads(result.stdout)
        return found


@contextmanager
def _process(command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield process
        finally:
            stop(process, timeout_s=30)


def _wait(what: str, check: Any, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if process.poll() is not None or time.monotonic() > deadline:
            tail = "\n".join(log.read_text().splitlines()[-30:])
            raise AssertionError(f"{what} did not come up (exit {process.poll()}):\n{tail}")
        time.sleep(0.5)


@contextmanager
def running_apiserver(folder: Path) -> Iterator[ApiServer]:
    etcd = shutil.which("etcd")
    assert etcd, "no etcd: Debian's etcd-server (`make kube-test` installs it)"
    binary, _ = installed()
    folder.mkdir(parents=True, exist_ok=True)
    certs = make_certificates(folder / "certs")
    account_key = folder / "service-account.pem"
    account_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            # "EC PRIVATE KEY": the API server reads the public key from it too, and not from PKCS#8.
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    token = secrets.token_hex(24)
    tokens = folder / "tokens.csv"
    tokens.write_text(f'{token},kube-test-admin,kube-test-admin,"system:masters"\n')
    client_port, peer_port, secure_port = free_port(), free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{client_port}"
    etcd_log, apiserver_log = folder / "etcd.log", folder / "kube-apiserver.log"
    with _process(
        [
            etcd, "--name", "kube-test", "--data-dir", str(folder / "etcd"),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-cluster", f"kube-test=http://127.0.0.1:{peer_port}",
        ],
        etcd_log,
    ) as etcd_process:  # fmt: skip
        _wait("etcd", lambda: _status(f"{etcd_url}/health") == 200, etcd_process, etcd_log)
        with _process(
            [
                str(binary),
                "--etcd-servers", etcd_url,
                "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
                "--secure-port", str(secure_port),
                "--tls-cert-file", str(certs.cert_file), "--tls-private-key-file", str(certs.key_file),
                "--client-ca-file", str(certs.ca_file),
                "--token-auth-file", str(tokens),
                "--authorization-mode", "Node,RBAC",
                "--service-account-issuer", "https://kubernetes.default.svc",
                "--service-account-key-file", str(account_key),
                "--service-account-signing-key-file", str(account_key),
                "--service-cluster-ip-range", "10.96.0.0/16",
            ],
            apiserver_log,
        ) as apiserver_process:  # fmt: skip
            server = f"https://127.0.0.1:{secure_port}"
            kubeconfig = folder / "kubeconfig"
            cluster = {"server": server, "certificate-authority": str(certs.ca_file)}
            config = {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "kube-test", "cluster": cluster}],
                "users": [{"name": "admin", "user": {"token": token}}],
                "contexts": [{"name": "kube-test", "context": {"cluster": "kube-test", "user": "admin"}}],
                "current-context": "kube-test",
            }
            kubeconfig.write_text(json.dumps(config))
            os.chmod(kubeconfig, 0o600)

            def ready() -> bool:
                try:
                    reply = httpx.get(
                        f"{server}/readyz",
                        headers={"Authorization": f"Bearer {token}"},
                        verify=ssl.create_default_context(cafile=str(certs.ca_file)),
                        timeout=2,
                    )
                except httpx.HTTPError:
                    return False
                return reply.status_code == 200

            _wait("kube-apiserver", ready, apiserver_process, apiserver_log, timeout=120)
            yield ApiServer(folder, kubeconfig)


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0
