"""The dashboards by file name, rendered as the committed JSON, written (`generate`) or compared
with what is committed (`check`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

from scripts.dashboards.agents import agents
from scripts.dashboards.overview import overview
from scripts.dashboards.platform_health import platform
from scripts.dashboards.queues import queues
from scripts.dashboards.tickets_sla import tickets_sla

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "deploy" / "grafana" / "dashboards"


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


DASHBOARDS: dict[str, Callable[[], dash.Dashboard]] = {
    "overview": overview,
    "queues": queues,
    "agents": agents,
    "tickets-sla": tickets_sla,
    "platform-health": platform,
}


def _number_panels(board: model.Dashboard) -> model.Dashboard:
    """Give every panel and row an id, 1 up in layout order (the SDK leaves them 0)."""
    next_id = 1
    for panel in board.panels or []:
        panel.id_val = next_id
        next_id += 1
        for inner in getattr(panel, "panels", None) or []:
            inner.id_val = next_id
            next_id += 1
    return board


def render(name: str) -> str:
    board = _number_panels(DASHBOARDS[name]().build())
    return JSONEncoder(sort_keys=True, indent=2).encode(board) + "\n"


def rendered() -> dict[str, str]:
    """File name -> JSON of every dashboard."""
    return {f"{name}.json": render(name) for name in DASHBOARDS}


def generate() -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    fresh = rendered()
    written = 0
    for file_name, text in fresh.items():
        path = OUT_DIR / file_name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written += 1
    for path in sorted(OUT_DIR.glob("*.json")):
        if path.name not in fresh:
            path.unlink()
            written += 1
    say(f"{OUT_DIR.relative_to(ROOT)}: {written} file(s) written or removed, {len(fresh)} dashboards")
    return 0


def check() -> int:
    fresh = rendered()
    committed = {path.name for path in OUT_DIR.glob("*.json")} if OUT_DIR.is_dir() else set()
    stale = sorted(name for name in fresh.keys() & committed if (OUT_DIR / name).read_text() != fresh[name])
    missing = sorted(fresh.keys() - committed)
    extra = sorted(committed - fresh.keys())
    if not (stale or missing or extra):
        say(f"{OUT_DIR.relative_to(ROOT)} is up to date with scripts/dashboards")
        return 0
    say(
        f"{OUT_DIR.relative_to(ROOT)} does not match scripts/dashboards; "
        "run `uv run python -m scripts.dashboards generate`"
    )
    for label, names in (("stale", stale), ("missing", missing), ("extra", extra)):
        for name in names:
            say(f"  {label}: {OUT_DIR.relative_to(ROOT)}/{name}")
    return 1
