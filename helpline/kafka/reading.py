"""Reading topics back, as tools and tests check what was written: without a group, so nothing is
committed."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from helpline.kafka import clients
from helpline.kafka.port import Consumer, Start, TopicPartition
from helpline.records import Record


def partitions(consumer: Consumer, topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition of `topics` that exist, in order."""
    return [TopicPartition(topic, p) for topic in topics for p in consumer.partitions_of(topic)]


@contextmanager
def reader(
    bootstrap: str,
    topics: Sequence[str],
    start: Start = Start.BEGINNING,
    timeout: float = 30.0,
    **options: Any,
) -> Iterator[Consumer]:
    """A consumer assigned every partition of `topics`, from their beginning or end; waits up to
    `timeout` for a topic just created to be in the cluster's metadata."""
    consumer = clients.consumer(bootstrap, "helpline-reader", **options)
    try:
        deadline = time.monotonic() + timeout
        assigned = partitions(consumer, topics)
        while not assigned and time.monotonic() < deadline:
            time.sleep(0.1)
            assigned = partitions(consumer, topics)
        consumer.assign(assigned, start)
        yield consumer
    finally:
        consumer.close()


def read(
    bootstrap: str, topics: Sequence[str], expected: int, timeout: float = 30.0, **options: Any
) -> list[Record]:
    """The records of `topics` from their beginning, in each partition's order, until `expected`
    have come or `timeout` has passed."""
    deadline = time.monotonic() + timeout
    records: list[Record] = []
    with reader(bootstrap, topics, timeout=timeout, **options) as consumer:
        while len(records) < expected and time.monotonic() < deadline:
            records.extend(consumer.poll(0.5, 500))
    return records
