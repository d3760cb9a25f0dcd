"""Transient or permanent: the classification every loop and API acts on, and the backoff."""

from __future__ import annotations

import threading

import pytest
import redis

from helpline.events import EventError
from helpline.failures import Backoff, StoppedError, TransientError, is_transient, until_available
from helpline.kafka.port import DeliveryError, KafkaError, ProduceTimeoutError
from helpline.limits import LimitError


@pytest.mark.parametrize(
    "failure",
    [
        redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
        redis.ConnectionError("No connection available."),
        redis.TimeoutError("Timeout reading from socket"),
        redis.BusyLoadingError("Redis is loading the dataset in memory"),
        redis.exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
        redis.ResponseError("BUSY Redis is busy running a script."),
        redis.ResponseError("NOREPLICAS Not enough good replicas to write."),
        redis.ReadOnlyError("You can't write against a read only replica."),
        ProduceTimeoutError("no ack from Kafka within 30 s"),
        DeliveryError("NOT_ENOUGH_REPLICAS: Broker: Not enough in-sync replicas", code=19),
        KafkaError("_TRANSPORT: Connection refused", code=-195),
        ConnectionResetError(104, "Connection reset by peer"),
        TransientError("ticket t-1 is changing too fast; try again"),
    ],
    ids=repr,
)
def test_a_dependency_away_slow_full_or_contended_is_transient(failure: Exception) -> None:
    assert is_transient(failure)


@pytest.mark.parametrize(
    "failure",
    [
        redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        redis.ResponseError("ERR Error running script: attempt to compare nil with number"),
        DeliveryError("MSG_SIZE_TOO_LARGE: Broker: Message size too large", code=10, permanent=True),
        KafkaError("_FENCED: the producer was fenced", code=-144, permanent=True),
        EventError("not a CloudEvent"),
        LimitError("too_long", "subject is 300 characters; at most 250", "subject"),
        ValueError("a bug"),
        KeyError("a bug"),
    ],
    ids=repr,
)
def test_a_record_or_request_at_fault_and_a_bug_are_not(failure: Exception) -> None:
    assert not is_transient(failure)


def test_a_transient_cause_makes_the_wrapping_failure_transient() -> None:
    wrapped = RuntimeError("use case failed")
    wrapped.__cause__ = redis.ConnectionError("refused")
    assert is_transient(wrapped)


def test_backoff_doubles_to_its_cap_with_bounded_jitter() -> None:
    backoff = Backoff(initial_s=0.1, cap_s=2.0, jitter=0.2)
    for attempt, base in [(1, 0.1), (2, 0.2), (3, 0.4), (5, 1.6), (6, 2.0), (60, 2.0)]:
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(base * 0.8 <= d <= base * 1.2 for d in delays)


def test_waiting_for_a_dependency_retries_transient_failures_and_gives_up_on_stop() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise redis.ConnectionError("refused")
        return "up"

    stop = threading.Event()
    assert until_available(flaky, "test", stop, Backoff(0.001, 0.002)) == "up"
    assert len(calls) == 3
    with pytest.raises(ValueError, match="permanent"):
        until_available(lambda: (_ for _ in ()).throw(ValueError("permanent")), "test", stop)
    stop.set()
    with pytest.raises(StoppedError):
        until_available(lambda: (_ for _ in ()).throw(redis.ConnectionError("down")), "test", stop)
