"""Producer and consumer throughput of the helpline bus, as ratios to baselines on the same broker
in the same run: a bare kafka-python loop (the client's own limit) and Kafka's Java perf tools
(the broker's limit).

    uv run python -m bench.bus_throughput [--records 50000]

Starts its own broker (the local processes, or HELPLINE_KAFKA_BOOTSTRAP if set) and prints a
Markdown table. Throughput only: the numbers depend on the machine, the ratios much less.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from rich.console import Console

from bench.stack import bench_stack
from helpline.bus import ConsumerLoop, make_producer, send
from helpline.events import event_handler, new_event, to_record
from helpline.logging import configure_logging
from helpline.topic_admin import ensure_topics
from helpline.topics import TopicSpec
from helpline.v1 import common_pb2, contact_events_pb2

console = Console(stderr=True)


def _message(i: int) -> contact_events_pb2.ContactReceived:
    return contact_events_pb2.ContactReceived(
        tenant_id="bench", contact_id=f"c-{i}", channel=common_pb2.CHANNEL_CHAT, entry_point="bench"
    )


def _timed(label: str, count: int, work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    rate = count / (time.perf_counter() - started)
    console.print(f"{label}: {rate:,.0f} records/s")
    return rate


def helpline_produce(bootstrap: str, topic: str, count: int) -> None:
    producer = make_producer(bootstrap, "bench-helpline")
    for i in range(count):
        send(producer, to_record(new_event(_message(i), source="/bench", subject=f"c-{i}"), topic))
    producer.flush()
    producer.close()


def bare_produce(bootstrap: str, topic: str, count: int) -> None:
    # The very bytes the helpline path sends (value and CloudEvents headers), built once: the ratio
    # is then the cost of building events and of the bus, not of carrying headers.
    record = to_record(new_event(_message(0), source="/bench", subject="c-0"), topic)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    for i in range(count):
        producer.send(topic, value=record.value, key=f"c-{i}".encode(), headers=record.headers)
    producer.flush()
    producer.close()


def java_produce(lib: Path, bootstrap: str, topic: str, count: int, size: int) -> float:
    done = subprocess.run(
        [
            "java",
            "-Xmx512m",
            "-cp",
            f"{lib}/*",
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            topic,
            "--num-records",
            str(count),
            "--record-size",
            str(size),
            "--throughput",
            "-1",
            "--producer-props",
            f"bootstrap.servers={bootstrap}",
            "acks=all",
            "linger.ms=5",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"([\d.]+) records/sec", done.stdout.strip().splitlines()[-1])
    assert match, done.stdout
    rate = float(match.group(1))
    console.print(f"java ProducerPerformance: {rate:,.0f} records/s")
    return rate


def java_consume(lib: Path, bootstrap: str, topic: str, count: int) -> float:
    done = subprocess.run(
        [
            "java",
            "-Xmx512m",
            "-cp",
            f"{lib}/*",
            "org.apache.kafka.tools.ConsumerPerformance",
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--num-records",
            str(count),
            "--group",
            f"bench-java-{uuid.uuid4().hex[:6]}",
            "--hide-header",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    # One line: start, end, MB, MB/s, records, records/s, rebalance ms, fetch ms, fetch MB/s, fetch records/s.
    # The fetch rate leaves out the group join, as the Python loops below start timing before it.
    fields = [f.strip() for f in done.stdout.strip().splitlines()[-1].split(",")]
    rate = float(fields[5])
    console.print(f"java ConsumerPerformance: {rate:,.0f} records/s")
    return rate


def bare_consume(bootstrap: str, topic: str, count: int) -> None:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-bare-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=500,
    )
    seen = 0
    while seen < count:
        for records in consumer.poll(timeout_ms=500).values():
            seen += len(records)
        consumer.commit()
    consumer.close()


def helpline_consume(bootstrap: str, topic: str, count: int) -> None:
    seen = [0]
    done = threading.Event()

    def handle(_envelope: object) -> None:
        seen[0] += 1
        if seen[0] >= count:
            done.set()

    producer = make_producer(bootstrap, "bench-dlq")
    loop = ConsumerLoop(
        bootstrap=bootstrap,
        group_id=f"bench-hl-{uuid.uuid4().hex[:6]}",
        topics=[topic],
        handler=event_handler(handle),
        dlq_producer=producer,
        max_poll_records=500,
    )
    thread = threading.Thread(target=loop.run)
    thread.start()
    done.wait()
    loop.stop()
    thread.join()
    producer.close()


def run(bootstrap: str, lib: Path, count: int) -> list[tuple[str, float, str, float]]:
    suffix = uuid.uuid4().hex[:6]
    topics = {name: f"bench.{name}.{suffix}" for name in ("helpline", "bare", "java")}
    ensure_topics(
        bootstrap,
        [TopicSpec(t, key="contact_id", partitions=6, domains=("contact",)) for t in topics.values()],
    )
    size = len(_message(0).SerializeToString())
    java_p = java_produce(lib, bootstrap, topics["java"], count, size)
    bare_p = _timed(
        "bare kafka-python producer (same bytes, prebuilt)",
        count,
        lambda: bare_produce(bootstrap, topics["bare"], count),
    )
    hl_p = _timed(
        "helpline producer (CloudEvent + protobuf)",
        count,
        lambda: helpline_produce(bootstrap, topics["helpline"], count),
    )
    java_c = java_consume(lib, bootstrap, topics["java"], count)
    bare_c = _timed(
        "bare kafka-python consumer", count, lambda: bare_consume(bootstrap, topics["bare"], count)
    )
    hl_c = _timed(
        "helpline consumer (decode + handler + commit)",
        count,
        lambda: helpline_consume(bootstrap, topics["helpline"], count),
    )
    return [
        ("produce", hl_p, "bare kafka-python", hl_p / bare_p),
        ("produce", hl_p, "Java ProducerPerformance", hl_p / java_p),
        ("consume", hl_c, "bare kafka-python", hl_c / bare_c),
        ("consume", hl_c, "Java ConsumerPerformance", hl_c / java_c),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    args = parser.parse_args()
    configure_logging("bench", level="WARNING", fmt="console")
    with bench_stack("bench-stack", redis=False) as stack:
        rows = run(stack.bootstrap, stack.kafka_lib, args.records)
    print("| path | helpline records/s | baseline | ratio |\n|---|---|---|---|")
    for path, rate, baseline, ratio in rows:
        print(f"| {path} | {rate:,.0f} | {baseline} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
