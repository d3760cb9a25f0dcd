"""Round-trip latency baselines on a broker, for benchmarks that time "event on Kafka -> event on
Kafka": what one message costs to produce (acks=all) and consume again, with nothing in between.

- `kafka_end_to_end`: Kafka's own `org.apache.kafka.tools.EndToEndLatency` (the broker's floor);
- `bare_round_trip`: the same loop through the raw producer and consumer of the Kafka port
  (helpline.kafka), on the backend the services run on (the floor of the client Helpline uses).

    uv run python -m bench.latency_baselines [--count 1000]

prints both for a broker of its own (the local processes, or HELPLINE_KAFKA_BOOTSTRAP if set).
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import subprocess
import time
import uuid
from dataclasses import dataclass

from bench.stack import bench_stack, kafka_client
from devstack.local_stack import StackConfig, ensure_kafka_jars
from helpline.kafka import clients
from helpline.kafka.port import Consumer, Start, TopicPartition
from helpline.logging import configure_logging
from helpline.topic_admin import ensure_topics
from helpline.topics import TopicSpec

# About a ContactReceived as the bus sends it (protobuf body plus CloudEvents headers), as one value:
# size barely moves a round trip on loopback, but both baselines send the same.
RECORD_BYTES = 200
WARMUP = 50
RECEIVE_TIMEOUT_S = 30.0

# "Avg latency: 1.2345 ms" goes through the JVM's locale, which may write a decimal comma.
_AVG = re.compile(r"^Avg latency: (\d+[.,]\d+) ms$", re.MULTILINE)
_PERCENTILES = re.compile(r"^Percentiles: 50th = (\d+), 99th = (\d+), 99\.9th = (\d+)$", re.MULTILINE)
# Every 1000th message: its index, a tab, its latency in ms (Double.toString: always a dot).
_PROGRESS = re.compile(r"^\d+\t(\d+\.\d+(?:E-?\d+)?)$", re.MULTILINE)


class BaselineError(RuntimeError):
    """A baseline could not run or its output could not be read; the message carries the output."""


@dataclass(frozen=True)
class LatencyStats:
    label: str
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float


def _nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def stats(label: str, samples_ms: list[float]) -> LatencyStats:
    """Percentiles by nearest rank: always a latency that was measured, never an interpolation.
    EndToEndLatency indexes sorted[int(n * q)], the same rank unless n * q is whole (then one above)."""
    if not samples_ms:
        raise ValueError(f"{label}: no samples")
    ordered = sorted(samples_ms)
    return LatencyStats(
        label=label,
        count=len(ordered),
        p50_ms=_nearest_rank(ordered, 0.50),
        p99_ms=_nearest_rank(ordered, 0.99),
        max_ms=ordered[-1],
        mean_ms=statistics.fmean(ordered),
    )


def latency_topic(bootstrap: str) -> str:
    """A fresh one-partition topic (and, as for every catalog topic, its DLQ): a round trip reads back
    exactly the partition it wrote."""
    name = f"bench.latency.{uuid.uuid4().hex[:10]}"
    ensure_topics(bootstrap, [TopicSpec(name, key="none", partitions=1, domains=("bench",))])
    return name


def parse_end_to_end(output: str, count: int) -> LatencyStats:
    """Read EndToEndLatency's report. Its percentiles are whole milliseconds, rounded down (it divides
    nanoseconds by 10^6 in integers); only the mean keeps fractions. It prints no maximum: max_ms is
    the larger of its 99.9th percentile and its progress samples (every 1000th message, the cold
    first one included), which is the maximum up to 1000 messages and a lower bound beyond."""
    avg = _AVG.search(output)
    percentiles = _PERCENTILES.search(output)
    if avg is None or percentiles is None:
        raise BaselineError(f"EndToEndLatency printed no latency report:\n{output}")
    p50, p99, p999 = (float(v) for v in percentiles.groups())
    progress = [float(v) for v in _PROGRESS.findall(output)]
    return LatencyStats(
        label="java EndToEndLatency",
        count=count,
        p50_ms=p50,
        p99_ms=p99,
        max_ms=max([p999, *progress]),
        mean_ms=float(avg.group(1).replace(",", ".")),
    )


def kafka_end_to_end(bootstrap: str, topic: str, count: int) -> LatencyStats:
    """Kafka's own round trip: send one record and wait for its ack (acks=all, linger.ms=0), then one
    poll (fetch.max.wait.ms=0) that must return it; the next record only after that. No warm-up: the
    first record carries the producer's metadata fetch and connection. A missing topic is created by
    the tool (one partition). The tool commits the consumer's position for a throwaway group
    `test-group-<ms>`, which stays on the broker."""
    cfg = StackConfig()
    ensure_kafka_jars(cfg)
    argv = [
        "java",
        "-Xmx512m",
        "-cp",
        f"{cfg.kafka_lib}/*",
        "org.apache.kafka.tools.EndToEndLatency",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--num-records",
        str(count),
        "--producer-acks",
        "all",
        "--record-size",
        str(RECORD_BYTES),
    ]
    # The tool's producer blocks forever (max.block.ms) on a broker that is gone: give it 10 ms a
    # record on top of the JVM's start rather than hang the benchmark.
    timeout_s = 60 + count * 0.01
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        # Captured output comes back as bytes from a timeout, whatever `text` said.
        partial = b"".join(o for o in (e.stdout, e.stderr) if isinstance(o, bytes))
        raise BaselineError(
            f"EndToEndLatency did not finish {count} records within {timeout_s:.0f} s:\n"
            f"{partial.decode(errors='replace')}"
        ) from None
    output = f"{done.stdout}{done.stderr}"
    if done.returncode != 0:
        raise BaselineError(f"EndToEndLatency exited with {done.returncode}:\n{output}")
    return parse_end_to_end(output, count)


def _await_record(consumer: Consumer, value: bytes) -> None:
    deadline = time.monotonic() + RECEIVE_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(record.value == value for record in consumer.poll(0.1, 500)):
            return
    raise BaselineError(f"a record sent with acks=all was not consumed within {RECEIVE_TIMEOUT_S:.0f} s")


def bare_round_trip(
    bootstrap: str, count: int, *, topic: str | None = None, client: str | None = None
) -> LatencyStats:
    """EndToEndLatency's loop through the port's raw producer (acks=all, linger.ms=0) and consumer,
    on `client` (else the services' backend), timed per record with perf_counter after WARMUP
    uncounted records. Where the Java tool fails unless its one poll returns exactly the record, this
    loop polls until the record itself comes back: a stray record on a shared topic is skipped. The
    broker answers a waiting fetch as soon as a record is committed, so the consumer's long-poll
    costs no latency."""
    topic = topic or latency_topic(bootstrap)
    client = client or kafka_client()
    partition = TopicPartition(topic, 0)
    producer = clients.producer(bootstrap, "bench-round-trip", client=client, linger_ms=0)
    consumer = clients.consumer(bootstrap, "bench-round-trip", client=client)
    samples_ms: list[float] = []
    try:
        # The end as it is now, resolved before the first timed poll.
        consumer.assign([partition], Start.END)
        producer.prepare(topic)
        for i in range(WARMUP + count):
            value = f"{i:08d}".encode().ljust(RECORD_BYTES, b".")
            started = time.perf_counter()
            # The topic has one partition: the record goes to the one read.
            producer.send(topic, value).get(timeout=RECEIVE_TIMEOUT_S)
            _await_record(consumer, value)
            if i >= WARMUP:
                samples_ms.append((time.perf_counter() - started) * 1000)
    finally:
        consumer.close()
        producer.close()
    return stats(f"bare {client} round trip", samples_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Up to 1000 records the Java tool's maximum is exact (see parse_end_to_end).
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    configure_logging("bench", level="WARNING", fmt="console")
    with bench_stack("bench-latency-stack", redis=False) as stack:
        results = [
            kafka_end_to_end(stack.bootstrap, latency_topic(stack.bootstrap), args.count),
            bare_round_trip(stack.bootstrap, args.count),
        ]
    print("| baseline | records | p50 ms | p99 ms | max ms | mean ms |\n|---|---|---|---|---|---|")
    for r in results:
        cells = (f"{ms:.3f}" for ms in (r.p50_ms, r.p99_ms, r.max_ms, r.mean_ms))
        print(f"| {r.label} | {r.count} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
