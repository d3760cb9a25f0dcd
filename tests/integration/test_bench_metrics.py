"""The metrics ingest benchmark still runs end to end: a small day of events on helpline.contacts, read
by Kafka's Java tool, a bare loop through the Kafka port's raw consumer and the metrics service as a
process, which counts every event of the run's tenant and leaves none of its state behind. No timing
is asserted: performance is a ratio the benchmark reports, never a test threshold."""

from __future__ import annotations

from pathlib import Path

import redis
from rich.progress import Progress

from bench.metrics_ingest import CHECKS, CONTACTS, ExporterRun, Report, build_records, markdown, run, verdicts
from services.metrics.state import PREFIX, SEP

COUNT = 300
TYPES = {
    "QueueConfigured",
    "ContactReceived",
    "ContactQueued",
    "ContactConnected",
    "AgentStateChanged",
    "ContactCompleted",
    "SurveyAnswered",
    "TicketCreated",
    "SlaApplied",
    "TicketStatusChanged",
}


def _state_of(client: redis.Redis, tenant: str) -> list[object]:
    """Every key of the tenant's, and every field of its in the hashes tenants share."""
    left: list[object] = list(client.scan_iter(match=f"{PREFIX}*{tenant}{SEP}*"))
    for shared in client.scan_iter(match=f"{PREFIX}*", _type="HASH"):
        left += [field for field, _ in client.hscan_iter(shared, match=f"{tenant}{SEP}*")]
    return left


def test_the_service_counts_every_event_and_leaves_nothing(
    kafka_bootstrap: str, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    report = run(kafka_bootstrap, redis_url, COUNT, tmp_path / "metrics.log", Progress(disable=True))
    _, kinds = build_records("any", COUNT)
    exporter = report.exporter
    assert report.produced == COUNT
    # The run's events, and whatever the shared broker's `metrics` group had not read yet.
    assert exporter.events >= COUNT
    assert exporter.expected == {label: kinds[kind] for label, _, _, kind in CHECKS}
    assert exporter.counted == exporter.expected
    assert exporter.counted["contacts received"] == kinds["ContactReceived"] > 0
    assert exporter.exit_code == 0
    assert _state_of(redis_client, report.tenant) == []
    assert "| metrics service (" in markdown(report)


def test_the_mix_holds_every_kind_of_event_keyed_by_its_entity() -> None:
    records, kinds = build_records("t1", COUNT)
    assert len(records) == sum(kinds.values()) == COUNT
    assert set(kinds) == TYPES
    assert {record.topic for record in records} == {CONTACTS}
    keys = {record.key for record in records}
    assert {b"q00", b"c0000000", b"a0000", b"t0000000"} <= keys
    # Every contact is received, queued, connected and completed, and its agent changes state twice.
    assert kinds["ContactReceived"] >= kinds["ContactCompleted"] >= kinds["ContactReceived"] - 1
    assert kinds["AgentStateChanged"] >= 2 * kinds["ContactCompleted"]


def test_the_report_gives_a_ratio_to_each_baseline_and_a_verdict() -> None:
    expected = {label: 10 for label, _, _, _ in CHECKS}

    def report(rate: float, counted: dict[str, int]) -> Report:
        exporter = ExporterRun(5_000, 5_000 / rate, 0.9, expected, counted, 0, 0)
        return Report(
            "bench-t", 5_000, exporter, bare_rate=40_000.0, java_rate=80_000.0, client="kafka-python"
        )

    slow = report(4_000.0, expected)
    table = markdown(slow)
    assert "| bare kafka-python consumer loop (same topic) | 5,000 | 40,000 | 0.100 |" in table
    assert "| Java ConsumerPerformance (same topic) | 5,000 | 80,000 | 0.050 |" in table
    verdict, counted, cpu = verdicts(slow)
    assert verdict.endswith("0.10 of the bare kafka-python loop (40,000/s), target >= 0.2: MISSED")
    assert counted.startswith("the exporter counted every event")
    assert cpu.startswith("the service process used 0.90 cores")
    assert verdicts(report(10_000.0, expected))[0].endswith("target >= 0.2: met")
    short = verdicts(report(20_000.0, {**expected, "contacts received": 9}))[1]
    assert short == "COUNT MISMATCH, the rate does not stand: contacts received 9 of 10"
