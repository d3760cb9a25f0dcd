"""The tests' testcontainers path run for real (tests/stack_provider.py, tests/container_stack.py):
the bus contract tests (tests/integration/kafka/test_contract.py: both Kafka backends, produce and
consume, commits, rebalances, the DLQ, one service round trip) in a pytest of their own, with
HELPLINE_TEST_STACK=testcontainers, on podman's Docker-compatible API, with the local Kafka and
Redis images (`make compose-images`). `make deploy-test`; docs/operations.md, "The tests on
containers".

What the inner run is given, and why:

- DOCKER_HOST: a `podman system service` on a socket of this test's own, started and stopped by its
  process id (tests/compose/stack.py's, with its containers.conf: runc, cgroupfs, fixed rlimits);
- TESTCONTAINERS_RYUK_DISABLED=true: Ryuk, testcontainers' reaper, is an image of Docker Hub
  (testcontainers/ryuk) and no registry answers here. The containers are removed by the session's
  own `with` blocks, and those of a session killed hard by the next one (tests/container_stack.py,
  by their owner label); this test checks none is left;
- TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 and TESTCONTAINERS_CONNECTION_MODE=docker_host: the engine
  runs on this machine. testcontainers takes a /.dockerenv for "inside a Docker container" and would
  reach the containers through the default gateway, where nothing is published: this sandbox has
  that file, and podman runs inside it;
- the images: HELPLINE_TEST_KAFKA_IMAGE and HELPLINE_TEST_REDIS_IMAGE, the local stand-ins.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.local_stack import REPO_ROOT
from tests.compose.stack import podman, podman_service
from tests.container_stack import OWNER_LABEL

CONTRACT = "tests/integration/kafka/test_contract.py"
KAFKA_IMAGE = "localhost/helpline-kafka:4.3.1"
REDIS_IMAGE = "localhost/helpline-redis:bookworm"


def test_the_bus_contract_holds_on_testcontainers_over_podman(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = [image for image in (KAFKA_IMAGE, REDIS_IMAGE) if podman("image", "exists", image).returncode]
    assert not missing, f"no image {missing}: `make compose-images` builds them"
    started = time.monotonic()
    log = tmp_path / "contract.log"
    with podman_service(tmp_path / "podman") as docker_host:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"HELPLINE_KAFKA_BOOTSTRAP", "HELPLINE_REDIS_URL"}
        }
        env |= {
            "DOCKER_HOST": docker_host,
            "HELPLINE_TEST_STACK": "testcontainers",
            "HELPLINE_TEST_KAFKA_IMAGE": KAFKA_IMAGE,
            "HELPLINE_TEST_REDIS_IMAGE": REDIS_IMAGE,
            "TESTCONTAINERS_RYUK_DISABLED": "true",
            "TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
            "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
        }
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", CONTRACT]
        with log.open("w") as out:
            run = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                returncode = run.wait(timeout=900)
            finally:
                if run.poll() is None:
                    run.kill()
                    run.wait()
        owner = f"{socket.gethostname()}/{run.pid}"
        left = podman(
            "ps", "--all", "--filter", f"label={OWNER_LABEL}={owner}", "--format", "{{.Names}}"
        ).stdout.split()
    took = time.monotonic() - started
    output = log.read_text()
    with capsys.disabled():
        counts = re.findall(r"^=*\s*(\d+ (?:passed|failed|error).* in [\d.]+s.*?)=*$", output, re.MULTILINE)
        summary = counts[-1].strip() if counts else "no summary line"
        sys.stderr.write(f"\n[testcontainers] {CONTRACT} on podman: {summary}; {took:.0f} s in all\n")
    assert returncode == 0, "\n".join(output.splitlines()[-80:])
    assert f"Kafka and Redis from: testcontainers ({KAFKA_IMAGE}, {REDIS_IMAGE})" in output, output[-3000:]
    assert not left, f"the session left its containers: {left}"
