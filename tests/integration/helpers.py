"""Helpers the integration tests share: a fresh topic, reading a topic back, waiting for a condition."""

from __future__ import annotations

import time
from collections.abc import Callable

from kafka import KafkaConsumer

from helpline.topic_admin import ensure_topics
from helpline.topics import TopicSpec


def make_topic(bootstrap: str, name: str, partitions: int = 3) -> str:
    ensure_topics(bootstrap, [TopicSpec(name, key="id", partitions=partitions, domains=("test",))])
    return name


def read_all(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list:  # type: ignore[type-arg]
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    records: list = []  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while len(records) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    consumer.close()
    return records


def wait_until(check: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
