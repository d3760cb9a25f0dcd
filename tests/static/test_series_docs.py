"""The series table of docs/metrics.md is the catalog's: every exported series, its type and help."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

from devstack.local_stack import REPO_ROOT
from tests.static.catalog import catalog_series


def _catalog() -> set[tuple[str, str, str]]:
    registry = CollectorRegistry()
    catalog_series(registry)
    return {
        (family.name + ("_total" if family.type == "counter" else ""), family.type, family.documentation)
        for family in registry.collect()
    }


def test_the_guide_lists_every_series_with_its_type_and_help() -> None:
    guide = (REPO_ROOT / "docs" / "metrics.md").read_text()
    text = guide.split("\n## Series\n")[1].split("\n## ")[0]
    rows = re.findall(r"^\| `(helpline_[a-z_]+)` \| (\w+) \| (.+) \|$", text, flags=re.MULTILINE)
    assert set(rows) == _catalog()
