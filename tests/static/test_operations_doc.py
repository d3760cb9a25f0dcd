"""docs/operations.md, the operator's guide, held to the code and the manifests: every alert is linked
to its runbook entry, every path and link it names exists, every `HELPLINE_*` variable is a real
setting, every overlay it names exists, and its tables of topics, consumer groups, Secrets and
manifest settings say what the catalog, the services and deploy/k8s say. Offline: no cluster, no
broker."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from devstack.local_stack import REPO_ROOT
from helpline.audit import AUDIT_TOPIC
from helpline.cli import app as cli_app
from helpline.settings import Settings
from helpline.topics import CATALOG, DAY_MS, dlq_topic
from services.metrics import app as metrics_app
from services.metrics.app import MetricsSettings
from services.notify import consumer as notify_consumer
from services.notify.app import NotifySettings
from services.notify.facts import TOPIC as NOTIFY_OUTBOX_TOPIC
from services.router import consumers as router_consumers
from services.router.app import RouterSettings
from services.router.storage.store import TOPIC_OF_DOMAIN as ROUTER_OUTBOX_TOPICS
from services.sla import consumers as sla_consumers
from services.sla.app import SlaSettings
from services.sla.watches import TOPIC as SLA_OUTBOX_TOPIC
from services.tickets import consumers as tickets_consumers
from services.tickets.app import TicketsSettings
from services.tickets.store import TOPIC as TICKETS_OUTBOX_TOPIC

GUIDE = REPO_ROOT / "docs" / "operations.md"
RUNBOOKS = REPO_ROOT / "docs" / "runbooks.md"
ALERTS = REPO_ROOT / "deploy" / "prometheus" / "rules" / "alerts.yml"
K8S = REPO_ROOT / "deploy" / "k8s"
SETTINGS_CLASSES = (Settings, RouterSettings, TicketsSettings, SlaSettings, MetricsSettings, NotifySettings)
# Each service's consumer group and the topics it reads, from the code that subscribes them.
CONSUMERS = {
    "router": (router_consumers.GROUP, router_consumers.TOPICS),
    "tickets": (tickets_consumers.GROUP, tickets_consumers.TOPICS),
    "sla": (sla_consumers.GROUP, sla_consumers.TOPICS),
    "metrics": (metrics_app.GROUP, metrics_app.TOPICS),
    "notify": (notify_consumer.GROUP, notify_consumer.TOPICS),
}
PARTITIONS = {spec.name: spec.partitions for spec in CATALOG}


@functools.cache
def guide() -> str:
    return GUIDE.read_text()


def table_rows(text: str) -> list[list[str]]:
    """Every Markdown table row of `text` as its cells, stripped (separator rows left out)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|[-|: ]+\|", line):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks, those indented in list items too."""
    return re.findall(r"^[ \t]*```[a-z]*\n(.*?)^[ \t]*```", text, flags=re.MULTILINE | re.DOTALL)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_\[\]()]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """The anchors a link may name: headings (outside code blocks, where `#` is a comment) and ids."""
    prose = re.sub(r"^[ \t]*```.*?^[ \t]*```", "", markdown, flags=re.MULTILINE | re.DOTALL)
    found = {slug(h) for h in re.findall(r"^#{1,6} (.+)$", prose, flags=re.MULTILINE)}
    return found | set(re.findall(r'<a id="([^"]+)"', markdown))


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_every_alert_is_listed_with_a_link_to_its_runbook_entry() -> None:
    runbook_anchors = anchors(RUNBOOKS.read_text())
    rows = {row[0].strip("`"): row for row in table_rows(guide()) if row[0].startswith("`Helpline")}
    rules = alert_rules()
    assert rules, "no alerts found in alerts.yml"
    assert set(rows) == {rule["alert"] for rule in rules}, "the alert table lists exactly the alerts"
    for rule in rules:
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("docs/runbooks.md#"), url
        anchor = url.split("#", 1)[1]
        assert anchor in runbook_anchors, f"docs/runbooks.md has no entry #{anchor}"
        row = " | ".join(rows[rule["alert"]])
        assert f"(runbooks.md#{anchor})" in row, f"{rule['alert']} is not linked to its runbook entry"
        assert rule["labels"]["severity"] in rows[rule["alert"]], f"{rule['alert']}: wrong severity"


def test_every_repository_path_named_exists() -> None:
    named = set(re.findall(r"(?<![\w./-])((?:deploy|docs)/[\w./*-]*[\w*])", guide()))
    # kubectl's TYPE/NAME (`kubectl logs deploy/helpline-tickets`) is a Deployment, not a path.
    named = {path for path in named if not re.fullmatch(r"deploy/helpline(-[\w-]*)?", path)}
    assert named, "the guide names no deploy/ or docs/ path"
    missing = sorted(
        path
        for path in named
        if not (list(REPO_ROOT.glob(path)) if "*" in path else (REPO_ROOT / path).exists())
    )
    assert not missing, f"paths named in docs/operations.md that do not exist: {missing}"


def test_every_relative_link_and_anchor_resolves() -> None:
    own = anchors(guide())
    for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", guide()):
        if target.startswith(("http://", "https://")):
            continue
        if not target:
            assert anchor in own, f"no heading #{anchor} in docs/operations.md"
            continue
        path = (GUIDE.parent / target).resolve()
        assert path.exists(), f"link to {target} resolves to nothing"
        if anchor:
            assert anchor in anchors(path.read_text()), f"{target} has no heading #{anchor}"


def test_every_helpline_variable_named_is_a_setting() -> None:
    known = {f"HELPLINE_{name.upper()}" for cls in SETTINGS_CLASSES for name in cls.model_fields}
    # The image's build arguments (`docker build --build-arg HELPLINE_VERSION=...`) are not settings.
    known |= set(
        re.findall(r"^ARG (HELPLINE_\w+)", (REPO_ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    )
    named = set(re.findall(r"\bHELPLINE_[A-Z0-9_]*[A-Z0-9]\b", guide()))
    assert named, "the guide names no setting"
    # HELPLINE_TEST_*: the test suite's own variables ("The tests on containers"), read in tests/.
    tests_read = "\n".join(path.read_text() for path in (REPO_ROOT / "tests").rglob("*.py"))
    test_variables = {name for name in named if name.startswith("HELPLINE_TEST_")}
    unread = sorted(name for name in test_variables if f'"{name}"' not in tests_read)
    assert not unread, f"test variables no test reads: {unread}"
    named -= test_variables
    assert not named - known, f"not settings of any service: {sorted(named - known)}"


def test_every_overlay_named_exists() -> None:
    named = set(re.findall(r"overlays/([\w-]+)", guide()))
    assert {"dev", "prod"} <= named
    for overlay in named:
        assert (K8S / "overlays" / overlay / "kustomization.yaml").is_file(), f"no overlay {overlay}"


def test_the_topic_table_is_the_catalog() -> None:
    rows = {row[0].strip("`"): row for row in table_rows(guide()) if row[0].startswith("`helpline.")}
    for spec in CATALOG:
        assert spec.name in rows, f"the topic table lacks {spec.name}"
        row = rows[spec.name]
        assert row[1] == spec.key.replace("_", " "), f"{spec.name}: key"
        assert row[2] == str(spec.partitions), f"{spec.name}: partitions"
        days = spec.retention_ms // DAY_MS
        assert row[3] == f"{days} day" + ("s" if days != 1 else ""), f"{spec.name}: retention"
    assert not any(spec.compacted for spec in CATALOG), "the guide says no topic is compacted"


@pytest.mark.parametrize("service", sorted(CONSUMERS))
def test_the_scaling_table_gives_each_group_its_topics_and_partitions(service: str) -> None:
    group, topics = CONSUMERS[service]
    rows = table_rows(guide())
    (row,) = [row for row in rows if len(row) == 4 and row[0] == service and "`helpline." in row[2]]
    assert row[1] == f"`{group}`"
    listed = dict(re.findall(r"`(helpline\.[\w.]+)` \((\d+)\)", row[2]))
    assert listed == {topic: str(PARTITIONS[topic]) for topic in topics}
    assert row[3].startswith(f"up to {max(PARTITIONS[topic] for topic in topics)}")


def base_objects() -> list[dict[str, Any]]:
    objects = []
    for path in sorted((K8S / "base").glob("*.yaml")):
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return objects


# The topics each service's outbox relay publishes to: its own, and the audit trail of the
# configuration it keeps.
OUTBOX_TOPICS = {
    "router": {*ROUTER_OUTBOX_TOPICS.values(), AUDIT_TOPIC},
    "tickets": {TICKETS_OUTBOX_TOPIC, AUDIT_TOPIC},
    "sla": {SLA_OUTBOX_TOPIC, AUDIT_TOPIC},
    "metrics": set(),
    "notify": {NOTIFY_OUTBOX_TOPIC, AUDIT_TOPIC},
}


def acl_grants() -> dict[tuple[str, str], set[str]]:
    """The `kafka-acls.sh` lines of the guide: (principal, operation) -> the topics and groups named
    (a prefix ends with `*`)."""
    grants: dict[tuple[str, str], set[str]] = {}
    for block in code_blocks(guide()):
        for line in block.splitlines():
            if not line.strip().startswith("$ACL"):
                continue
            principal = re.search(r"--allow-principal (\S+)", line)
            assert principal, line
            prefixed = "--resource-pattern-type prefixed" in line
            named = {
                f"{kind}:{name}{'*' if prefixed else ''}"
                for kind, name in re.findall(r"--(topic|group) (\S+)", line)
            }
            for operation in re.findall(r"--operation (\w+)", line):
                grants.setdefault((principal.group(1), operation), set()).update(named)
    return grants


@pytest.mark.parametrize("service", sorted(CONSUMERS))
def test_the_acls_give_each_service_its_group_topics_and_dead_letters(service: str) -> None:
    group, topics = CONSUMERS[service]
    grants = acl_grants()
    # Granted to every service in a loop: a service lists the catalog when it starts.
    assert grants[("User:helpline-$service", "Describe")] == {"topic:helpline.*"}
    own = f"User:helpline-{service}"
    assert grants[(own, "Read")] == {f"group:{group}"} | {f"topic:{t}" for t in topics}
    writes = OUTBOX_TOPICS[service] | {dlq_topic(t) for t in topics}
    assert grants[(own, "Write")] == {f"topic:{t}" for t in writes}


def test_the_acls_keep_other_systems_to_their_topic_and_let_one_principal_create() -> None:
    grants = acl_grants()
    outside = {spec.name for spec in CATALOG if spec.validated}
    written = {
        name.removeprefix("topic:")
        for (principal, operation), named in grants.items()
        if principal.startswith(("User:gateway-", "User:survey-"))
        for name in named
    }
    assert written == outside
    assert {principal for principal, operation in grants if operation == "Create"} == {"User:helpline-topics"}


def test_the_secrets_created_are_the_ones_the_pods_reference() -> None:
    referenced: dict[str, set[str]] = {}
    for obj in base_objects():
        if obj["kind"] not in {"Deployment", "Job"}:
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    referenced.setdefault(source["secretRef"]["name"], set())
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    referenced.setdefault(ref["name"], set()).add(ref["key"])
    patch = yaml.safe_load((K8S / "base" / "patches" / "service-pods.yaml").read_text())
    for source in patch["spec"]["template"]["spec"]["containers"][0]["envFrom"]:
        if "secretRef" in source:
            referenced.setdefault(source["secretRef"]["name"], set())
    commands = " ".join(code_blocks(guide())).replace("\\\n", " ")
    created = dict(re.findall(r"create secret generic ([\w-]+)\s+--from-literal=([\w]+)=", commands))
    assert set(created) == set(referenced), "a create command for every Secret the pods use, no other"
    for name, keys in referenced.items():
        if keys:
            assert {created[name]} == keys, f"{name} needs the keys {keys}"
        else:
            # envFrom: each key becomes a variable, so it must be one the services read.
            assert created[name] in {"REDIS_BASE_URL", "HELPLINE_KAFKA_BOOTSTRAP"}


def test_the_manifest_settings_table_is_what_the_manifests_set() -> None:
    kustomization = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    (generator,) = kustomization["configMapGenerator"]
    rows = {row[0]: row for row in table_rows(guide()) if row[0].startswith("`HELPLINE_")}
    for literal in generator["literals"]:
        key, value = literal.split("=", 1)
        assert f"`{key}`" in rows, f"the table lacks {key}"
        assert rows[f"`{key}`"][1] == f"`{value}`", f"{key}: the base sets {value}"
    databases = {}
    for obj in base_objects():
        if obj["kind"] == "Deployment":
            (container,) = obj["spec"]["template"]["spec"]["containers"]
            env = {var["name"]: var.get("value") for var in container.get("env", [])}
            databases[container["args"][1]] = env["HELPLINE_REDIS_URL"].removeprefix("$(REDIS_BASE_URL)")
    expected = ", ".join(
        (f"`$(REDIS_BASE_URL){db}` ({name})" if i == 0 else f"`{db}` ({name})")
        for i, (name, db) in enumerate(sorted(databases.items(), key=lambda item: item[1]))
    )
    assert expected in guide(), f"the Redis databases of the manifests: {expected}"


@functools.cache
def cli_commands() -> Any:
    """The `helpline` command as Click sees it: groups have `commands`, commands have `params`."""
    return typer.main.get_command(cli_app)


def test_every_helpline_command_in_the_code_blocks_exists() -> None:
    root = cli_commands()
    seen = 0
    for block in code_blocks(guide()):
        for line in block.replace("\\\n", " ").splitlines():
            # `helpline` as a command (not the namespace of `kubectl -n helpline`), to the end of
            # the shell command: a comment, a pipe or a `;` ends it.
            for rest in re.findall(r"(?:^|\s)(?<!-n )helpline ([^#|;&]*)", line):
                parts = rest.split()
                command = root
                while parts and parts[0] in getattr(command, "commands", {}):
                    command = command.commands[parts.pop(0)]
                assert command is not root, f"not a helpline command: {line.strip()}"
                options = {opt for param in command.params for opt in param.opts}
                for option in re.findall(r"(?<!\S)(--[\w-]+)", " ".join(parts)):
                    assert option in options, f"`{command.name}` has no {option}: {line.strip()}"
                seen += 1
    assert seen >= 4, "the guide shows the apikey, topics and tail commands"


def test_the_guide_is_linked_from_the_readme_and_the_k8s_readme() -> None:
    assert "docs/operations.md" in (REPO_ROOT / "README.md").read_text()
    assert "docs/operations.md" in (K8S / "README.md").read_text()
    assert Path(GUIDE).is_file()
