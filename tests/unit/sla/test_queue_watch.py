from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.sla.domain.queue_watch import QueueTarget, WatchRecord, fire, left_queue, queued, timers

T0 = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)
TARGET = QueueTarget("q", timedelta(seconds=20), version=1)


def _queued(
    record: WatchRecord | None = None, *, since: datetime = T0, at: datetime = T0, channel: str = "voice"
) -> WatchRecord:
    found = queued(record, "c", "q", channel, since, at, TARGET)
    assert found is not None
    return found


def test_a_queued_call_warns_at_three_quarters_of_the_threshold_and_breaches_at_it() -> None:
    record = _queued()
    assert record.watch is not None
    instance = record.watch.instance_id
    assert timers(record) == {
        (instance, False): T0 + timedelta(seconds=15),
        (instance, True): T0 + timedelta(seconds=20),
    }
    assert fire(record, instance, False, T0 + timedelta(seconds=14)) is None
    warned, alert = fire(record, instance, False, T0 + timedelta(seconds=15)) or (None, None)
    assert warned is not None
    assert alert is not None
    assert not alert.breach
    assert alert.waited == timedelta(seconds=15)
    assert timers(warned) == {(instance, True): T0 + timedelta(seconds=20)}
    assert fire(warned, instance, False, T0 + timedelta(seconds=16)) is None
    breached, alert = fire(warned, instance, True, T0 + timedelta(seconds=21)) or (None, None)
    assert breached is not None
    assert alert is not None
    assert alert.breach
    assert timers(breached) == {}
    assert fire(breached, instance, True, T0 + timedelta(seconds=22)) is None


def test_the_wait_before_a_transfer_counts() -> None:
    record = _queued(since=T0 - timedelta(seconds=18))
    assert record.watch is not None
    assert record.watch.deadline == T0 + timedelta(seconds=2)


def test_an_answer_stops_the_watch_and_an_older_fact_does_not_restart_it() -> None:
    record = _queued()
    answered = left_queue(record, T0 + timedelta(seconds=5))
    assert answered is not None
    assert answered.watch is None
    assert timers(answered) == {}
    assert queued(answered, "c", "q", "voice", T0, T0, TARGET) is None
    assert record.watch is not None
    assert fire(answered, record.watch.instance_id, True, T0 + timedelta(seconds=30)) is None


def test_the_same_entry_announced_again_keeps_its_sent_alerts() -> None:
    record = _queued()
    assert record.watch is not None
    warned, _ = fire(record, record.watch.instance_id, False, T0 + timedelta(seconds=15)) or (None, None)
    assert warned is not None
    again = _queued(warned, at=T0 + timedelta(seconds=16))
    assert again.watch is not None
    assert again.watch.warned


def test_email_and_queues_without_a_threshold_are_not_watched() -> None:
    assert _queued(channel="email").watch is None
    none = queued(None, "c", "q", "voice", T0, T0, QueueTarget("q", timedelta(0), 1))
    assert none is not None
    assert none.watch is None
    assert queued(None, "c", "q", "voice", T0, T0, None) == WatchRecord("c", None, T0)


def test_a_breach_fired_first_leaves_no_warning_to_fire() -> None:
    record = _queued()
    assert record.watch is not None
    breached, _ = fire(record, record.watch.instance_id, True, T0 + timedelta(seconds=25)) or (None, None)
    assert breached is not None
    assert fire(breached, record.watch.instance_id, False, T0 + timedelta(seconds=25)) is None
