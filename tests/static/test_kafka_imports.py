"""Issue 19's check that helpline.kafka is the only code importing a Kafka client. The import-linter
contract holds `helpline` and `services` to it; this holds the rest of the repository (the
benchmarks, the tests, the scripts): only the port and its own tests may use kafka-python or
confluent-kafka."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from devstack.local_stack import REPO_ROOT

# Issue 19's pattern, spelled so that this file does not match it.
PATTERN = "|".join(("import" + " kafka", "from" + " kafka", "confluent" + "_kafka"))
ALLOWED = ("helpline/kafka/", "tests/unit/kafka/", "tests/integration/kafka/")


def importers() -> list[str]:
    """The tracked Python files that name a Kafka client, as `git grep -l` finds them."""
    found = subprocess.run(
        ["git", "grep", "-l", "-E", PATTERN, "--", "*.py"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    # git grep exits 1 when nothing matches.
    assert found.returncode in (0, 1), found.stderr
    return found.stdout.split()


@pytest.mark.skipif(
    shutil.which("git") is None or not (REPO_ROOT / ".git").exists(), reason="needs the git checkout"
)
def test_only_the_kafka_port_and_its_tests_import_a_kafka_client() -> None:
    files = importers()
    assert any(f.startswith("helpline/kafka/") for f in files), "the check no longer finds the port itself"
    assert [f for f in files if not f.startswith(ALLOWED)] == []
