"""Helpers the integration tests share: a fresh topic, reading a topic back, waiting for a condition."""

from __future__ import annotations

import time
from collections.abc import Callable

from helpline.kafka import clients
from helpline.kafka.port import TopicPartition
from helpline.kafka.reading import read
from helpline.records import Record
from helpline.topic_admin import ensure_topics
from helpline.topics import TopicSpec


def make_topic(bootstrap: str, name: str, partitions: int = 3) -> str:
    ensure_topics(bootstrap, [TopicSpec(name, key="id", partitions=partitions, domains=("test",))])
    return name


def read_all(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[Record]:
    return read(bootstrap, [topic], expected, timeout)


def text(value: bytes | str) -> str:
    """A Redis reply as text: redis-py types each reply as bytes or str, whichever its client decodes to."""
    return value.decode() if isinstance(value, bytes) else value


def wait_until(check: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def wait_committed(
    bootstrap: str, group: str, partitions: list[TopicPartition], timeout: float = 60.0
) -> None:
    """Until `group` has committed the end of each partition as it is now, i.e. handled everything
    published so far. Reads the group's commits without joining it: it never subscribes."""
    reader = clients.consumer(bootstrap, "test-commit-reader", group)
    try:
        ends = reader.end_offsets(partitions)

        def handled() -> bool:
            committed = reader.committed(partitions)
            return all(committed[tp] >= end for tp, end in ends.items())

        wait_until(handled, timeout, what="the consumer to handle every event")
    finally:
        reader.close()
