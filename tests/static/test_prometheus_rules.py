"""The recording and alert rules of deploy/prometheus/ through Prometheus' own promtool: they load,
and their unit tests in tests/prometheus/ (KPIs from counters of known rates, each alert fired and
kept quiet) pass."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from devstack.local_stack import REPO_ROOT

RULES = sorted((REPO_ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
UNIT_TESTS = sorted((REPO_ROOT / "tests" / "prometheus").glob("*_test.yml"))


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: `make deps` installs Debian's prometheus package, which has it"
    return subprocess.run([tool, *args], capture_output=True, text=True, check=False, timeout=120)


def test_there_are_rules_and_unit_tests() -> None:
    assert [path.name for path in RULES] == ["alerts.yml", "recording.yml"]
    assert [path.name for path in UNIT_TESTS] == ["alerts_test.yml", "recording_test.yml"]


@pytest.mark.parametrize("rules", RULES, ids=lambda path: path.name)
def test_promtool_checks_the_rules(rules: object) -> None:
    checked = promtool("check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("unit_test", UNIT_TESTS, ids=lambda path: path.name)
def test_promtool_runs_the_rule_unit_tests(unit_test: object) -> None:
    tested = promtool("test", "rules", str(unit_test))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_its_runbook_entry_and_every_entry_an_alert() -> None:
    alerts = [
        rule
        for group in yaml.safe_load((REPO_ROOT / "deploy/prometheus/rules/alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    ]
    runbooks = (REPO_ROOT / "docs" / "runbooks.md").read_text()
    anchors = re.findall(r'^<a id="([a-z-]+)"></a>\n## (\w+)$', runbooks, flags=re.MULTILINE)
    linked = {
        (rule["annotations"]["runbook_url"].removeprefix("docs/runbooks.md#"), rule["alert"])
        for rule in alerts
    }
    assert linked == set(anchors)
    assert all(rule["annotations"]["runbook_url"].startswith("docs/runbooks.md#") for rule in alerts)
