"""The Prometheus configuration of the local stack (`helpline up`) and of the tests that scrape the
services: one job per service, named `helpline-<service>` as the alerts expect, and the project's
recording and alert rules from deploy/prometheus/rules loaded.

Written as JSON, which is YAML too, so it needs no YAML writer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from devstack.local_stack import REPO_ROOT

RULES_DIR = REPO_ROOT / "deploy" / "prometheus" / "rules"


def job_name(service: str) -> str:
    return f"helpline-{service}"


def write_prometheus_config(path: Path, targets: Mapping[str, Sequence[str]], interval: str = "5s") -> Path:
    """`targets` maps each service to its `host:port` /metrics endpoints; `interval` is both the
    scrape and the rule evaluation interval."""
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(RULES_DIR / "*.yml")],
        "scrape_configs": [
            {"job_name": job_name(service), "static_configs": [{"targets": list(endpoints)}]}
            for service, endpoints in targets.items()
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path
