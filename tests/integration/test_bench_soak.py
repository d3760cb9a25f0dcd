"""The soak benchmark end to end in its quick mode, as `make bench --quick` runs it: the simulated
centre through two simulated days on the session's broker, each service with its own redis-server,
written up as a report section. Its structure is checked and the plateau criterion is computed for
every service; whether a service levels off in two days is not asserted (its longer retentions
reach past them), nor is any timing: performance is reported, never a test threshold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.report import BENCHES, main
from bench.soak_report import PLATEAUING, SERVICES
from devstack.local_stack import StackConfig


def test_a_quick_soak_reports_memory_per_service_per_day_and_the_plateau(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPLINE_KAFKA_BOOTSTRAP", kafka_bootstrap)
    out = tmp_path / "benchmarks.md"
    assert main(["--only", "soak", "--quick", "--out", str(out)]) == 0
    text = out.read_text()
    assert BENCHES["soak"].measures in text
    section = text[text.index("## soak") :]
    days = re.findall(r"^\| (\d) \| [\d.]+ [kM]?B \|", section, flags=re.MULTILINE)
    assert days == ["0", "1", "2"]
    size = r"[+-][\d.]+ [kM]?B"
    for service in PLATEAUING:
        # No ratio ("-") when a busy machine's first day shrank a Redis (freed pages, expiries).
        verdict = rf"^\| {service} \| {size} \| {size} \| (-?[\d.]+%|-) \| (PASS|FAIL) \|$"
        assert re.search(verdict, section, re.MULTILINE), service
    per_ticket = r"^\| tickets \| .* grows with its tickets: [\d,]+ bytes a ticket"
    assert re.search(per_ticket, section, re.MULTILINE)
    for record in ("contact (router", "ticket (tickets", "SLA record (sla"):
        per_record = rf"^\| {re.escape(record)} .* \| [\d,]+ \| [\d,]+ \|$"
        assert re.search(per_record, section, re.MULTILINE), record
    for service in SERVICES:
        assert f"| {service} | `" in section, "the census names each service's kinds of key"
    assert "| router | `HELPLINE_CONTACT_RETENTION_SECONDS` | 1 day | 1 day | 60 |" in section
    assert "simulated days at 1440x" in section
    assert "every service stopped cleanly (exit code 0)" in section
    solved = re.search(r"the back office solved ([\d,]+) tickets", section)
    assert solved is not None
    assert int(solved.group(1).replace(",", "")) > 0, "the tickets the platform opened were worked"
    lived = re.findall(
        r"^\| [12] \| [\d,]+ \| [\d,]+ \| [\d,]+ \| [\d,]+ \| [\d,]+ s \|$", section, re.MULTILINE
    )
    assert len(lived) == 2, "the centre as the simulator lived it, day by day"
    assert "consumer lag (events), router / tickets / sla / metrics" in section
    servers = StackConfig().var_dir / "bench-soak" / "redis"
    assert not list(servers.glob("*/redis-data")), "the redis-servers' data is removed"
    assert not list(servers.glob("*/run/*.pid")), "every redis-server is stopped"
