"""Producer and consumer throughput of the helpline bus on each backend of the Kafka port
(helpline.kafka), as ratios to baselines on the same broker in the same run: the same backend's bare
loop through the port's raw producer and consumer (the bus's own overhead: target at least 0.8) and
Kafka's Java perf tools (the broker's limit); then the two backends side by side.

    uv run python -m bench.bus_throughput [--records 50000] [--rounds 3] [--client confluent ...]

Starts its own broker (the local processes, or HELPLINE_KAFKA_BOOTSTRAP if set) and prints Markdown
tables. Throughput only: the numbers depend on the machine, the ratios much less. Each backend's
figures are the median of ROUNDS rounds, each ratio the median of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry
from rich.console import Console

from bench.stack import bench_stack
from helpline.bus import BusMetrics, ConsumerLoop, make_producer, send
from helpline.events import event_handler, event_type_label, new_event, to_record
from helpline.kafka import clients
from helpline.kafka.options import BACKENDS
from helpline.kafka.port import TopicPartition
from helpline.logging import configure_logging
from helpline.topic_admin import ensure_topics
from helpline.topics import TopicSpec
from helpline.v1 import common_pb2, contact_events_pb2

console = Console(stderr=True)

BARE = "same backend's bare loop"
TARGET_RATIO = 0.8
# Rounds per backend, their median reported.
ROUNDS = 5


def _message(i: int) -> contact_events_pb2.ContactReceived:
    return contact_events_pb2.ContactReceived(
        tenant_id="bench", contact_id=f"c-{i}", channel=common_pb2.CHANNEL_CHAT, entry_point="bench"
    )


def _timed(label: str, count: int, work: Callable[[], float | None]) -> float:
    """Records/s of `work`, timed whole unless it returns the seconds of its own timed part."""
    started = time.perf_counter()
    elapsed = work()
    rate = count / (elapsed if elapsed is not None else time.perf_counter() - started)
    console.print(f"{label}: {rate:,.0f} records/s")
    return rate


def helpline_produce(
    bootstrap: str,
    topic: str,
    messages: Sequence[contact_events_pb2.ContactReceived],
    client: str = clients.DEFAULT,
) -> None:
    """The bus's producer path from the application's messages, built before (what the caller of
    the bus makes in any case, as the bare loop's bytes are): the envelope, the CloudEvents headers,
    the serialization and the send."""
    producer = make_producer(bootstrap, "bench-helpline", client=client)
    for message in messages:
        send(producer, to_record(new_event(message, source="/bench", subject=message.contact_id), topic))
    producer.flush()
    producer.close()


def bare_produce(bootstrap: str, topic: str, count: int, client: str = clients.DEFAULT) -> None:
    """The port's raw producer, with the bus's settings (idempotent, acks=all, linger.ms=5), sending
    the very bytes the helpline path sends (value and CloudEvents headers), built once: the ratio is
    then the cost of building events and of the bus, not of the client or of carrying headers."""
    record = to_record(new_event(_message(0), source="/bench", subject="c-0"), topic)
    producer = clients.producer(bootstrap, "bench-bare", client=client)
    for i in range(count):
        producer.send(topic, record.value, key=f"c-{i}".encode(), headers=record.headers)
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


def bare_consume(bootstrap: str, topic: str, count: int, client: str = clients.DEFAULT) -> float:
    """The port's raw consumer in a group: poll, commit what was polled; what ConsumerLoop does
    without decoding, handling, retries or metrics. Seconds from its start (the group join
    included) to its last commit; closing it is not timed."""
    started = time.perf_counter()
    consumer = clients.consumer(bootstrap, "bench-bare", f"bench-bare-{uuid.uuid4().hex[:6]}", client=client)
    consumer.subscribe([topic], on_assign=lambda _p: None, on_revoke=lambda _p: None, on_lost=lambda _p: None)
    seen = 0
    while seen < count:
        records = consumer.poll(0.5, 500)
        if not records:
            continue
        seen += len(records)
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            offsets[TopicPartition(record.topic, record.partition)] = record.offset + 1
        consumer.commit(offsets)
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed


def helpline_consume(
    bootstrap: str, topic: str, count: int, client: str = clients.DEFAULT, metered: bool = False
) -> float:
    """ConsumerLoop with an event handler; `metered`, with the BusMetrics every service gives it.
    Seconds from its start (the group join included) to its last record handled. Stopping it is
    not timed: a stop waits out the poll in hand (up to its timeout), which is not throughput, and
    the loop commits on its interval, not after every poll as the bare loop does."""
    seen = [0]
    done = threading.Event()
    finished = [0.0]

    def handle(_envelope: object) -> None:
        seen[0] += 1
        if seen[0] >= count:
            finished[0] = time.perf_counter()
            done.set()

    producer = make_producer(bootstrap, "bench-dlq", client=client)
    started = time.perf_counter()
    loop = ConsumerLoop(
        bootstrap=bootstrap,
        group_id=f"bench-hl-{uuid.uuid4().hex[:6]}",
        topics=[topic],
        handler=event_handler(handle),
        dlq_producer=producer,
        max_poll_records=500,
        client=client,
        metrics=BusMetrics(CollectorRegistry(), event_type_label) if metered else None,
    )
    thread = threading.Thread(target=loop.run)
    thread.start()
    done.wait()
    loop.stop()
    thread.join()
    producer.close()
    return finished[0] - started


@dataclass(frozen=True)
class Rates:
    """One round of a backend, records/s: the bus, and the same backend's bare loop."""

    helpline_produce: float
    bare_produce: float
    helpline_consume: float
    metered_consume: float
    bare_consume: float


@dataclass(frozen=True)
class Measured:
    """A backend's rounds. Each figure is the median over the rounds, and so is each ratio: a
    round's bus and bare loop run back to back, so their ratio is measured in one state of the
    machine, and the median of those ratios is steadier than a ratio of two medians."""

    client: str
    rounds: Sequence[Rates]

    def rate(self, path: str) -> float:
        """The median records/s of a path, a field of Rates."""
        return statistics.median(float(getattr(r, path)) for r in self.rounds)

    def ratio(self, path: str, baseline: str) -> float:
        return statistics.median(float(getattr(r, path) / getattr(r, baseline)) for r in self.rounds)


def measure(bootstrap: str, client: str, count: int, rounds: int = ROUNDS) -> Measured:
    """`rounds` rounds, each the bare loop then the bus on fresh topics: one round of a Python
    client swings by a third with what else the machine does (its sender and fetcher threads share
    the interpreter), and alternating keeps a slow spell from landing on one side."""
    return Measured(client, [_round(bootstrap, client, count) for _ in range(rounds)])


def _round(bootstrap: str, client: str, count: int) -> Rates:
    suffix = uuid.uuid4().hex[:6]
    topics = {name: f"bench.{name}.{client}.{suffix}" for name in ("helpline", "bare")}
    ensure_topics(
        bootstrap,
        [TopicSpec(t, key="contact_id", partitions=6, domains=("contact",)) for t in topics.values()],
    )
    bare_p = _timed(
        f"{client}: bare producer loop (same bytes, prebuilt)",
        count,
        lambda: bare_produce(bootstrap, topics["bare"], count, client),
    )
    messages = [_message(i) for i in range(count)]
    hl_p = _timed(
        f"{client}: helpline producer (CloudEvent + protobuf)",
        count,
        lambda: helpline_produce(bootstrap, topics["helpline"], messages, client),
    )
    bare_c = _timed(
        f"{client}: bare consumer loop (poll + commit)",
        count,
        lambda: bare_consume(bootstrap, topics["bare"], count, client),
    )
    hl_c = _timed(
        f"{client}: helpline consumer (decode + handler + commit)",
        count,
        lambda: helpline_consume(bootstrap, topics["helpline"], count, client),
    )
    metered_c = _timed(
        f"{client}: helpline consumer with BusMetrics",
        count,
        lambda: helpline_consume(bootstrap, topics["helpline"], count, client, metered=True),
    )
    return Rates(hl_p, bare_p, hl_c, metered_c, bare_c)


def verdict(measured: Measured) -> str:
    """The bus's own overhead on a backend, produce and consume, against the target."""
    ratios = {path: measured.ratio(f"helpline_{path}", f"bare_{path}") for path in ("produce", "consume")}
    missed = [path for path, ratio in ratios.items() if ratio < TARGET_RATIO]
    return (
        f"{measured.client}: the bus produces at {ratios['produce']:.2f} and consumes at "
        f"{ratios['consume']:.2f} of its bare loop, target >= {TARGET_RATIO:g}: "
        + (f"MISSED ({', '.join(missed)})" if missed else "met")
    )


def run(
    bootstrap: str, lib: Path, count: int, backends: Sequence[str] = BACKENDS, rounds: int = ROUNDS
) -> str:
    """Every backend's bus against its bare loop and Kafka's Java tools, then the backends side by
    side: the report's Markdown."""
    java_topic = f"bench.java.{uuid.uuid4().hex[:6]}"
    ensure_topics(bootstrap, [TopicSpec(java_topic, key="contact_id", partitions=6, domains=("contact",))])
    size = len(_message(0).SerializeToString())
    java_p = java_produce(lib, bootstrap, java_topic, count, size)
    java_c = java_consume(lib, bootstrap, java_topic, count)
    measured = [measure(bootstrap, client, count, rounds) for client in backends]
    lines = [
        "| backend | path | helpline records/s | baseline | baseline records/s | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for m in measured:
        for label, path, bare, java, tool in (
            ("produce", "helpline_produce", "bare_produce", java_p, "Java ProducerPerformance"),
            ("consume", "helpline_consume", "bare_consume", java_c, "Java ConsumerPerformance"),
            (
                "consume with BusMetrics",
                "metered_consume",
                "bare_consume",
                java_c,
                "Java ConsumerPerformance",
            ),
        ):
            own, ratio = m.rate(path), m.ratio(path, bare)
            row = f"| {m.client} | {label} | {own:,.0f}"
            lines.append(f"{row} | {BARE} | {m.rate(bare):,.0f} | {ratio:.2f} |")
            lines.append(f"{row} | {tool} | {java:,.0f} | {own / java:.2f} |")
    lines += ["", *(f"- {verdict(m)}" for m in measured)]
    if len(measured) > 1:
        first, *others = measured
        lines += [
            "",
            "The backends side by side (records/s; ratio: each other backend to " + first.client + "):",
            "",
            "| path | "
            + " | ".join(m.client for m in measured)
            + " | "
            + " | ".join(f"{o.client} / {first.client}" for o in others)
            + " |",
            "|---|" + "---|" * (len(measured) + len(others)),
        ]
        for label, path in (
            ("helpline produce", "helpline_produce"),
            ("bare produce loop", "bare_produce"),
            ("helpline consume", "helpline_consume"),
            ("bare consume loop", "bare_consume"),
        ):
            lines.append(
                f"| {label} | "
                + " | ".join(f"{m.rate(path):,.0f}" for m in measured)
                + " | "
                + " | ".join(f"{o.rate(path) / first.rate(path):.2f}" for o in others)
                + " |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help="rounds per backend, their median reported"
    )
    parser.add_argument(
        "--client", nargs="+", choices=BACKENDS, default=list(BACKENDS), help="the backends to measure"
    )
    args = parser.parse_args()
    configure_logging("bench", level="WARNING", fmt="console")
    with bench_stack("bench-stack", redis=False) as stack:
        print(run(stack.bootstrap, stack.kafka_lib, args.records, args.client, args.rounds))


if __name__ == "__main__":
    main()
