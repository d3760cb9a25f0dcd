"""The durability benchmark still runs every setup on real redis-server processes (a replica for
`WAIT 1`) and leaves nothing behind. No timing is asserted: the cost is a ratio it reports."""

from __future__ import annotations

from pathlib import Path

from rich.progress import Progress

from bench.durability import SETUPS, markdown, run


def test_every_setup_is_measured_against_the_default_and_cleaned_up(tmp_path: Path) -> None:
    rows = run(30, [1, 2], tmp_path, Progress(disable=True))
    assert [(r.setup, r.clients) for r in rows] == [(s.name, c) for c in (1, 2) for s in SETUPS]
    for row in rows:
        assert row.measured.ops == 30
        assert 0 < row.measured.p50_ms <= row.measured.p99_ms
        assert row.ratio > 0
    assert [r.ratio for r in rows if r.setup == "everysec"] == [1.0, 1.0]
    assert "| WAIT 1 | 2 |" in markdown(rows)
    assert list(tmp_path.iterdir()) == []
