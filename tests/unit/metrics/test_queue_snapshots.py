"""The snapshot gauges: the latest figures of each queue, dropped once no snapshot refreshes them."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry

from services.metrics.series import QueueFigures, QueueSnapshots

Q1 = ("t", "q1", "voice")
Q2 = ("t", "q2", "chat")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_latest_snapshot_counts_until_it_goes_stale() -> None:
    registry, clock = CollectorRegistry(), Clock()
    snapshots = QueueSnapshots(registry, timedelta(seconds=60), clock)
    snapshots.update(Q1, QueueFigures(5, 40.0, 30.0, {"idle": 1, "busy": 3}))
    snapshots.update(Q1, QueueFigures(4, 45.0, 20.0, {"idle": 2, "busy": 3}))
    clock.now += 30
    snapshots.update(Q2, QueueFigures(1, 5.0, 0.0, {"busy": 1}))

    def value(name: str, labels: tuple[str, str, str], **more: str) -> float | None:
        return registry.get_sample_value(
            name, dict(zip(("tenant", "queue", "channel"), labels, strict=True)) | more
        )

    assert value("helpline_queue_depth", Q1) == 4
    assert value("helpline_queue_oldest_contact_age_seconds", Q1) == 45
    assert value("helpline_queue_estimated_wait_seconds", Q1) == 20
    assert value("helpline_queue_agents", Q1, state="idle") == 2
    assert value("helpline_queue_staffed_agents", Q1) == 5

    # Q1's partition moved to another replica (or the queue is gone): its figures leave this one.
    clock.now += 31
    assert value("helpline_queue_depth", Q1) is None
    assert value("helpline_queue_staffed_agents", Q1) is None
    assert value("helpline_queue_depth", Q2) == 1
