"""The webhooks benchmark still runs end to end on the session's broker and Redis: the notify service
as a process delivers every event, waiting (in each round, the service stopped and started between
them) and paced, to the receiver with a valid signature, the bare client posts the same bodies, and
the run leaves none of its tenant's state or keys behind. No
timing is asserted: performance is a ratio the benchmark reports, never a test threshold."""

from __future__ import annotations

from pathlib import Path

import redis
from rich.progress import Progress

from bench.webhooks import markdown, run, verdicts
from helpline.auth import ApiKeyStore

EVENTS = 100


def test_every_event_is_delivered_signed_and_nothing_is_left(
    kafka_bootstrap: str, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    report = run(
        kafka_bootstrap, redis_url, EVENTS, 1.0, 4, tmp_path, Progress(disable=True), rounds_wanted=2
    )
    assert [(r.backlog.events, r.bare.events) for r in report.rounds] == [(EVENTS, EVENTS)] * 2
    assert report.paced.events >= 1
    assert all(r.backlog.latency is not None and r.bare.latency is None for r in report.rounds)
    assert report.paced.latency is not None
    phases = [*(phase for r in report.rounds for phase in (r.bare, r.backlog)), report.paced]
    assert [phase.bad_signatures for phase in phases] == [0] * 5
    # Stopped after subscribing, after the first round, and at the end: cleanly each time.
    assert report.exit_codes == [0, 0, 0]
    assert list(redis_client.scan_iter(match=f"notify:{{{report.tenant}}}*")) == []
    # Any pepper lists the tenant's keys: the revoked one is gone.
    assert ApiKeyStore(redis_client, pepper="any").list(report.tenant) == []
    assert "| bare httpx client, 4 threads with keep-alive" in markdown(report)
    assert verdicts(report)[3].startswith(f"all {4 * EVENTS + report.paced.events:,} signatures valid")
