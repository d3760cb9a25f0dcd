"""The webhooks benchmark still runs end to end on the session's broker and Redis: the notify service
as a process delivers every event, waiting and paced, to the receiver with a valid signature, the
bare client posts the same bodies, and the run leaves none of its tenant's state or keys behind. No
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
    report = run(kafka_bootstrap, redis_url, EVENTS, 1.0, 4, tmp_path, Progress(disable=True))
    assert report.backlog.events == report.bare.events == EVENTS
    assert report.paced.events >= 1
    assert report.backlog.latency is not None
    assert report.paced.latency is not None
    assert report.bare.latency is None
    phases = (report.bare, report.backlog, report.paced)
    assert [phase.bad_signatures for phase in phases] == [0, 0, 0]
    assert report.exit_code == 0
    assert list(redis_client.scan_iter(match=f"notify:{{{report.tenant}}}*")) == []
    # Any pepper lists the tenant's keys: the revoked one is gone.
    assert ApiKeyStore(redis_client, pepper="any").list(report.tenant) == []
    assert "| bare httpx client, 4 threads with keep-alive" in markdown(report)
    assert verdicts(report)[2].startswith(f"all {2 * EVENTS + report.paced.events:,} signatures valid")
