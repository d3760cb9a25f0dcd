"""Ingest rate of the metrics service's exporter: events a second that the service consumes, decodes,
turns into Prometheus series and Redis state, and commits, beside two baselines reading the same
topic on the same broker in the same run: a bare consumer loop through the raw consumer of the Kafka
port (helpline.kafka), on the backend the service runs on (the client's own limit), and Kafka's Java
ConsumerPerformance (the broker's limit).

    uv run python -m bench.metrics_ingest [--records 50000]

The records are a contact centre's day in miniature, produced once by the helpline producer before
anything is timed: each contact received, queued, connected and completed, its agent going busy and
back to idle, a survey answer for every second contact, and for every fourth a ticket created, its
SLA applied and the ticket opened; the tenant's queues are configured (with their answer targets)
first. All of it goes to helpline.contacts, keyed by the entity it is about: the exporter routes by
event type, not by topic, and one topic lets both baselines (which read one topic) read the very
records the exporter reads.

The exporter is the service itself, `python -m services.metrics` as the benchmark's child, configured
by HELPLINE_* like a pod, in its `metrics` consumer group (the group is a constant of the service, not
a setting; the benchmark's own broker makes it a fresh one). Its clock starts when its consumer loop
starts (the service's "consuming" log line), before the group join, as the baselines' clocks start
before theirs; it stops when the group's committed offsets reach the end of every topic the service
reads. The loop commits within 0.2 s of handling, so that last commit trails the last event by up to
0.2 s (and the offsets are polled every 0.1 s): a small bias against the exporter. Then the
service's own /metrics is read: the report says whether it counted every event of the run's tenant,
without which the rate would mean nothing.

Starts its own broker and Redis (local processes), or uses HELPLINE_KAFKA_BOOTSTRAP and
HELPLINE_REDIS_URL when both are set: then stop that stack's metrics service first, as the
benchmark's joins the same `metrics` group; a group that has committed keeps its place, so the
exporter also handles whatever it had not read yet (counted in its events), and both baselines read
the first records of helpline.contacts, which are the benchmark's only on a topic that was empty.
The benchmark deletes its tenant's Redis state afterwards. Prints a Markdown table and a verdict
against the target; asserts nothing. The numbers depend on the machine, the ratios much less.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.progress import Progress

from bench.bus_throughput import bare_consume, java_consume
from bench.redis_keys import unlink_matching
from bench.stack import bench_stack, kafka_client, machine_line, service_env
from devstack.local_stack import REPO_ROOT, StackConfig, ensure_kafka_jars, free_port
from helpline.bus import make_producer, send
from helpline.domain import duration, timestamp
from helpline.events import new_event, to_record
from helpline.kafka import clients
from helpline.kafka.port import KafkaError, TopicPartition
from helpline.logging import configure_logging
from helpline.records import OutgoingRecord
from helpline.topic_admin import ensure_topics
from helpline.v1 import (
    agent_events_pb2,
    common_pb2,
    contact_events_pb2,
    feedback_events_pb2,
    queue_events_pb2,
    sla_events_pb2,
    ticket_events_pb2,
)
from services.metrics.app import GROUP, TOPICS
from services.metrics.counts import KEY_PREFIX as COUNTS_PREFIX
from services.metrics.state import PREFIX, SEP

console = Console(stderr=True)

CONTACTS = "helpline.contacts"
# The exporter's cost per event at most five times the client's bare read: each event runs a Lua
# script in Redis (its delivery mark and counts, made once) and a decode and plan in Python, which
# the bare loop does not. It was 0.5 while the baseline was kafka-python's bare loop (40,035/s on
# the machine of docs/benchmarks.md, 0.56 of librdkafka's); librdkafka's bare loop is the tougher
# baseline, and the exporter's own rate (16-19k events/s there) did not move with it. Measured
# with this Redis's default `hash-max-listpack-entries` (512): the bench tenant's counts hash (480
# fields) stays a listpack, which each increment scans; a deployment with more series than that
# has a hash table, whose increments cost a third to a fifth as much (Redis's commandstats).
TARGET_RATIO = 0.2
QUEUES = 10
AGENTS = 200
THRESHOLD = timedelta(seconds=20)
READY_TIMEOUT_S = 60.0
POLL_S = 0.1
STOP_TIMEOUT_S = 30.0

_CHANNELS = (
    common_pb2.CHANNEL_VOICE,
    common_pb2.CHANNEL_CHAT,
    common_pb2.CHANNEL_EMAIL,
    common_pb2.CHANNEL_SMS,
)
_DEPARTMENTS = (common_pb2.DEPARTMENT_SERVICE, common_pb2.DEPARTMENT_SUPPORT)
_SURVEYS = (
    (common_pb2.SURVEY_KIND_CSAT, 5),
    (common_pb2.SURVEY_KIND_NPS, 10),
    (common_pb2.SURVEY_KIND_CES, 7),
)

# What the service's /metrics must show for the run's tenant: the sum of these samples equals the
# number of events of that type produced (the ticket counts come from its Redis, at scrape time).
CHECKS: tuple[tuple[str, tuple[str, ...], Mapping[str, str], str], ...] = (
    ("contacts received", ("helpline_contacts_received_total",), {}, "ContactReceived"),
    ("contacts queued", ("helpline_contacts_queued_total",), {}, "ContactQueued"),
    ("contacts answered", ("helpline_contacts_answered_total",), {}, "ContactConnected"),
    ("contacts completed", ("helpline_contacts_completed_total",), {}, "ContactCompleted"),
    ("tickets created", ("helpline_tickets_created_total",), {}, "TicketCreated"),
    ("tickets open (Redis)", ("helpline_tickets",), {"status": "open"}, "TicketStatusChanged"),
    ("SLAs applied", ("helpline_sla_applied_total",), {}, "SlaApplied"),
    (
        "surveys answered",
        ("helpline_csat_responses_total", "helpline_nps_responses_total", "helpline_ces_responses_total"),
        {},
        "SurveyAnswered",
    ),
)


class BenchError(RuntimeError):
    """The service did not start, or did not get through the records; the message says where to look."""


# -- the records ----------------------------------------------------------------------------------


def _duration(seconds: float) -> Duration:
    return duration(timedelta(seconds=seconds))


def day(tenant: str, start: datetime) -> Iterator[tuple[Message, str]]:
    """The tenant's events, each with the entity id it is keyed by, endlessly: its queues configured,
    then contact after contact. Agent changes are a second apart per contact, so each is newer than
    the agent's last and moves its state."""
    queue_ids = [f"q{k:02d}" for k in range(QUEUES)]
    for queue_id in queue_ids:
        yield (
            queue_events_pb2.QueueConfigured(
                tenant_id=tenant,
                queue_id=queue_id,
                channels=list(_CHANNELS),
                version=1,
                service_level_threshold=_duration(THRESHOLD.total_seconds()),
            ),
            queue_id,
        )
    for n in itertools.count():
        contact_id, agent_id = f"c{n:07d}", f"a{n % AGENTS:04d}"
        queue_id, channel = queue_ids[n % QUEUES], _CHANNELS[n % len(_CHANNELS)]
        department = _DEPARTMENTS[n % len(_DEPARTMENTS)]
        at = start + timedelta(seconds=n)
        yield (
            contact_events_pb2.ContactReceived(
                tenant_id=tenant,
                contact_id=contact_id,
                channel=channel,
                department=department,
                entry_point="bench",
            ),
            contact_id,
        )
        yield (
            contact_events_pb2.ContactQueued(
                tenant_id=tenant,
                contact_id=contact_id,
                channel=channel,
                department=department,
                queue_id=queue_id,
                reason=contact_events_pb2.QUEUE_ENTRY_REASON_NEW,
            ),
            contact_id,
        )
        yield (
            contact_events_pb2.ContactConnected(
                tenant_id=tenant,
                contact_id=contact_id,
                channel=channel,
                department=department,
                queue_id=queue_id,
                agent_id=agent_id,
                wait_duration=_duration(n % 40),
            ),
            contact_id,
        )
        yield (
            agent_events_pb2.AgentStateChanged(
                tenant_id=tenant,
                agent_id=agent_id,
                state=common_pb2.AGENT_STATE_BUSY,
                previous_state=common_pb2.AGENT_STATE_IDLE,
                contact_id=contact_id,
                changed_at=timestamp(at),
            ),
            agent_id,
        )
        yield (
            contact_events_pb2.ContactCompleted(
                tenant_id=tenant,
                contact_id=contact_id,
                channel=channel,
                department=department,
                queue_id=queue_id,
                agent_id=agent_id,
                talk_duration=_duration(60 + n % 300),
                hold_duration=_duration(n % 30),
                wrap_up_duration=_duration(15 + n % 45),
            ),
            contact_id,
        )
        yield (
            agent_events_pb2.AgentStateChanged(
                tenant_id=tenant,
                agent_id=agent_id,
                state=common_pb2.AGENT_STATE_IDLE,
                previous_state=common_pb2.AGENT_STATE_BUSY,
                contact_id=contact_id,
                changed_at=timestamp(at + timedelta(milliseconds=500)),
            ),
            agent_id,
        )
        if n % 2 == 0:
            kind, scale_max = _SURVEYS[(n // 2) % len(_SURVEYS)]
            yield (
                feedback_events_pb2.SurveyAnswered(
                    tenant_id=tenant,
                    survey_id=f"s{n:07d}",
                    kind=kind,
                    score=1 + n % scale_max,
                    scale_max=scale_max,
                    contact_id=contact_id,
                    agent_id=agent_id,
                    channel=channel,
                    department=department,
                ),
                contact_id,
            )
        if n % 4 == 0:
            ticket_id = f"t{n:07d}"
            yield (
                ticket_events_pb2.TicketCreated(
                    tenant_id=tenant,
                    contact_id=contact_id,
                    ticket=ticket_events_pb2.TicketSnapshot(
                        ticket_id=ticket_id,
                        version=1,
                        status=common_pb2.TICKET_STATUS_NEW,
                        priority=common_pb2.PRIORITY_NORMAL,
                        channel=channel,
                        department=department,
                        created_at=timestamp(at),
                    ),
                ),
                ticket_id,
            )
            yield (
                sla_events_pb2.SlaApplied(
                    tenant_id=tenant,
                    ticket_id=ticket_id,
                    metric=common_pb2.SLA_METRIC_FIRST_REPLY,
                    instance_id=f"{ticket_id}-fr",
                ),
                ticket_id,
            )
            yield (
                ticket_events_pb2.TicketStatusChanged(
                    tenant_id=tenant,
                    ticket_id=ticket_id,
                    version=2,
                    from_status=common_pb2.TICKET_STATUS_NEW,
                    to_status=common_pb2.TICKET_STATUS_OPEN,
                    changed_at=timestamp(at + timedelta(seconds=1)),
                ),
                ticket_id,
            )


def build_records(tenant: str, count: int) -> tuple[list[OutgoingRecord], Counter[str]]:
    """The first `count` events of the tenant's day as records for helpline.contacts, and how many
    of each type there are."""
    records: list[OutgoingRecord] = []
    kinds: Counter[str] = Counter()
    for message, subject in itertools.islice(day(tenant, datetime.now(UTC)), count):
        records.append(to_record(new_event(message, source="/bench/metrics", subject=subject), CONTACTS))
        kinds[type(message).__name__] += 1
    return records, kinds


def produce(bootstrap: str, records: list[OutgoingRecord], progress: Progress) -> None:
    producer = make_producer(bootstrap, "bench-metrics-producer")
    task = progress.add_task(f"producing {len(records):,} events onto {CONTACTS}", total=len(records))
    try:
        for done, record in enumerate(records, 1):
            send(producer, record)
            if done % 1000 == 0 or done == len(records):
                progress.update(task, completed=done)
        producer.flush()
    finally:
        producer.close()


# -- offsets --------------------------------------------------------------------------------------


class Offsets:
    """The end of every partition the service reads, and where the `metrics` group stands on them."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = clients.consumer(bootstrap, "bench-metrics-offsets", GROUP, client=kafka_client())
        self.partitions = [
            TopicPartition(topic, p) for topic in TOPICS for p in self.consumer.partitions_of(topic)
        ]

    def ends(self) -> dict[TopicPartition, int]:
        return self.consumer.end_offsets(self.partitions)

    def committed(self) -> dict[TopicPartition, int]:
        """The group's committed offsets; 0 where it committed none."""
        # A fresh broker creates its offsets topic on the first group look-up: until then, and
        # while its coordinator moves, the look-up fails with a transient error.
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                return self.consumer.committed(self.partitions)
            except KafkaError as exc:
                if exc.permanent or time.monotonic() > deadline:
                    raise
                time.sleep(POLL_S)

    def place_group(self) -> dict[TopicPartition, int]:
        """Where the group will start: its committed offset where it has one (it may be a real
        service's place), else the end, committed now, so a never-used group does not replay every
        earlier event of the topics (of tests, of other runs)."""
        committed, ends = self.committed(), self.ends()
        fresh = {tp: end for tp, end in ends.items() if not committed.get(tp) and end}
        if fresh:
            self.consumer.commit(fresh)
        return {tp: committed.get(tp) or ends[tp] for tp in self.partitions}

    def close(self) -> None:
        self.consumer.close()


# -- the service process --------------------------------------------------------------------------


class MetricsProcess:
    """`python -m services.metrics` as the benchmark's child, configured by environment like a pod."""

    def __init__(self, bootstrap: str, redis_url: str, log_path: Path, replica: str) -> None:
        self.log_path = log_path
        self.http_port = free_port()
        # The clock starts at the consumer loop's "consuming" line: JSON at INFO, as deployed. A
        # replica name of its own keeps its counts apart from a stack's metrics service.
        self.env = service_env(
            "metrics",
            bootstrap,
            redis_url,
            self.http_port,
            HELPLINE_LOG_LEVEL="INFO",
            HELPLINE_LOG_FORMAT="json",
            HELPLINE_REPLICA_NAME=replica,
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.log_offset = 0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.log_offset = log.tell()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.metrics"],
                env=self.env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._ready():
            self.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"the metrics service was not ready within {READY_TIMEOUT_S:.0f} s; see {self.log_path}"
                )
            time.sleep(POLL_S)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/readyz", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise BenchError(f"the metrics service exited with {code}; see {self.log_path}")

    def cpu_seconds(self) -> float:
        """User plus system time of the whole process (every thread) so far."""
        assert self.process is not None
        raw = Path(f"/proc/{self.process.pid}/stat").read_text()
        # The command name in parentheses may hold spaces; utime and stime are fields 14 and 15.
        fields = raw[raw.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def scrape(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=10) as response:
            return str(response.read().decode())

    def consuming_since(self) -> float:
        """When the consumer loop started (epoch seconds), from the service's log line."""
        with self.log_path.open("rb") as log:
            log.seek(self.log_offset)
            for line in log:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("event") == "consuming" and entry.get("group") == GROUP:
                    return datetime.fromisoformat(entry["timestamp"]).timestamp()
        raise BenchError(f"the metrics service never logged its consumer starting; see {self.log_path}")

    def stop(self) -> int | None:
        """SIGTERM, as an orchestrator stops it; its exit code, or None if it was not running."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


# -- measurement ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExporterRun:
    # Events the exporter handled from its first to the end of the log: the run's, plus whatever
    # the `metrics` group had not read yet on a stack that was not the benchmark's own.
    events: int
    seconds: float
    # CPU the whole service process used over its window, in cores (1.0: one core all along).
    cpu_cores: float
    # Per check of CHECKS: the events of the type produced, and what the service's series show.
    expected: dict[str, int]
    counted: dict[str, int]
    dead_lettered: int
    exit_code: int | None

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def counted_all(self) -> bool:
        return self.counted == self.expected


def tenant_sums(exposition: str, tenant: str) -> dict[str, int]:
    """Per check, the sum of its samples of the tenant in a /metrics exposition."""
    samples = [s for family in text_string_to_metric_families(exposition) for s in family.samples]
    sums: dict[str, int] = {}
    for label, names, extra, _ in CHECKS:
        sums[label] = round(
            sum(
                s.value
                for s in samples
                if s.name in names
                and s.labels.get("tenant") == tenant
                and all(s.labels.get(k) == v for k, v in extra.items())
            )
        )
    return sums


def dead_letters(exposition: str) -> int:
    return round(
        sum(
            s.value
            for family in text_string_to_metric_families(exposition)
            for s in family.samples
            if s.name == "helpline_events_handled_total" and s.labels.get("outcome") == "dlq"
        )
    )


def measure_exporter(
    offsets: Offsets,
    start: Mapping[TopicPartition, int],
    process: MetricsProcess,
    tenant: str,
    kinds: Counter[str],
    progress: Progress,
) -> ExporterRun:
    """Run the service over the records between `start` and the current end of its topics, until
    its group has committed them all; then read its series of the tenant and stop it."""
    target = offsets.ends()
    events = sum(max(0, end - start[tp]) for tp, end in target.items())
    task = progress.add_task(f"metrics service: {events:,} events", total=events)
    limit_s = 120.0 + events / 50
    process.start()
    try:
        process.wait_ready()
        cpu_from, cpu_from_at = process.cpu_seconds(), time.time()
        deadline = time.monotonic() + limit_s
        while True:
            committed = offsets.committed()
            behind = {tp: end for tp, end in target.items() if committed.get(tp, start[tp]) < end}
            done_at = time.time()
            handled = sum(min(committed.get(tp, start[tp]), end) - start[tp] for tp, end in target.items())
            progress.update(task, completed=max(0, handled))
            if not behind:
                break
            process.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"the metrics service had {events - handled:,} of {events:,} events left after "
                    f"{limit_s:.0f} s; see {process.log_path}"
                )
            time.sleep(POLL_S)
        cpu_cores = (process.cpu_seconds() - cpu_from) / max(time.time() - cpu_from_at, 1e-9)
        exposition = process.scrape()
    finally:
        code = process.stop()
    expected = {label: kinds[kind] for label, _, _, kind in CHECKS}
    return ExporterRun(
        events=events,
        seconds=done_at - process.consuming_since(),
        cpu_cores=cpu_cores,
        expected=expected,
        counted=tenant_sums(exposition, tenant),
        dead_lettered=dead_letters(exposition),
        exit_code=code,
    )


def cleanup(client: redis.Redis, tenant: str) -> None:
    """Delete the tenant's exporter state: the keys of its own (agents, tickets, answers), the
    counts of the benchmark's replica (named after the tenant), and its fields (`tenant<SEP>...`) of
    the hashes it shares with other tenants (thresholds, counts, workload buckets), whichever the
    service keeps now."""
    unlink_matching(client, f"{PREFIX}*{tenant}{SEP}*")
    client.unlink(f"{COUNTS_PREFIX}{tenant}")
    for shared in client.scan_iter(match=f"{PREFIX}*", count=1000, _type="HASH"):
        fields = [field for field, _ in client.hscan_iter(shared, match=f"{tenant}{SEP}*", count=1000)]
        if fields:
            client.hdel(shared, *fields)


@dataclass(frozen=True)
class Report:
    tenant: str
    produced: int
    exporter: ExporterRun
    bare_rate: float
    java_rate: float
    # The backend of the Kafka port the bare loop ran on: the service's.
    client: str = clients.DEFAULT


def run(bootstrap: str, redis_url: str, count: int, log_path: Path, progress: Progress) -> Report:
    """Produce `count` events of a fresh tenant onto helpline.contacts, then read them with Kafka's
    Java tool, with a bare loop through the port's raw consumer and with the metrics service."""
    cfg = StackConfig()
    ensure_kafka_jars(cfg)
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap)
    client = redis.Redis.from_url(redis_url)
    client_name = kafka_client()
    offsets = Offsets(bootstrap)
    try:
        start = offsets.place_group()
        ends_before = offsets.ends()
        records, kinds = build_records(tenant, count)
        produce(bootstrap, records, progress)
        landed = sum(end - ends_before[tp] for tp, end in offsets.ends().items() if tp.topic == CONTACTS)
        if landed < count:
            raise BenchError(f"only {landed:,} of {count:,} events landed on {CONTACTS}")
        with console.status(f"Java ConsumerPerformance: {count:,} records of {CONTACTS}..."):
            java_rate = java_consume(cfg.kafka_lib, bootstrap, CONTACTS, count)
        with console.status(f"bare {client_name} consumer loop: {count:,} records of {CONTACTS}..."):
            bare_rate = count / bare_consume(bootstrap, CONTACTS, count, client_name)
        console.print(f"bare {client_name} consumer loop: {bare_rate:,.0f} records/s")
        process = MetricsProcess(bootstrap, redis_url, log_path, replica=tenant)
        try:
            exporter = measure_exporter(offsets, start, process, tenant, kinds, progress)
        finally:
            cleanup(client, tenant)
        console.print(f"metrics service: {exporter.rate:,.0f} events/s")
    finally:
        offsets.close()
        client.close()
    return Report(tenant, count, exporter, bare_rate, java_rate, client_name)


# -- report ---------------------------------------------------------------------------------------


def markdown(report: Report) -> str:
    ex = report.exporter
    lines = [
        "| consumer | events | events/s | exporter / this |",
        "|---|---|---|---|",
        f"| metrics service (`python -m services.metrics`: decode, series, Redis, commit) | {ex.events:,} "
        f"| {ex.rate:,.0f} | 1.00 |",
    ]
    for label, rate in (
        (f"bare {report.client} consumer loop (same topic)", report.bare_rate),
        ("Java ConsumerPerformance (same topic)", report.java_rate),
    ):
        lines.append(f"| {label} | {report.produced:,} | {rate:,.0f} | {ex.rate / rate:.3f} |")
    return "\n".join(lines)


def verdicts(report: Report) -> list[str]:
    ex = report.exporter
    ratio = ex.rate / report.bare_rate
    lines = [
        f"exporter ingest {ex.rate:,.0f} events/s, {ratio:.2f} of the bare {report.client} loop "
        f"({report.bare_rate:,.0f}/s), target >= {TARGET_RATIO:g}: "
        + ("met" if ratio >= TARGET_RATIO else "MISSED")
    ]
    if ex.counted_all:
        lines.append(
            f"the exporter counted every event of the run's tenant ({len(ex.expected)} series checked, "
            f"{ex.dead_lettered} dead-lettered)"
        )
    else:
        wrong = [
            f"{k} {ex.counted.get(k, 0):,} of {v:,}" for k, v in ex.expected.items() if ex.counted.get(k) != v
        ]
        lines.append("COUNT MISMATCH, the rate does not stand: " + "; ".join(wrong))
    lines.append(
        f"the service process used {ex.cpu_cores:.2f} cores over its window (1.00: one core, all along), "
        f"and exited with {ex.exit_code}"
    )
    return lines


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--records", type=int, default=50_000, help="events produced and read by each consumer"
    )
    args = parser.parse_args()
    if args.records < 1:
        parser.error("give at least one record")
    configure_logging("bench", level="WARNING", fmt="console")
    # kafka-python, as the backend, warns whenever its IO thread waited on the interpreter lock, which
    # the benchmark's own building and producing of records holds: noise here, not a broker's trouble.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    load_before = os.getloadavg()[0]
    # Its own broker and Redis start empty: helpline.contacts holds only this run's records, which
    # both baselines read from its beginning, and the `metrics` group is a fresh one.
    with bench_stack("bench-metrics-stack") as stack, Progress(console=console) as progress:
        report = run(
            stack.bootstrap, stack.redis_url, args.records, stack.log_dir / "bench-metrics.log", progress
        )
    print(markdown(report))
    print()
    for line in verdicts(report):
        print(f"- {line}")
    print(machine_line(load_before))


if __name__ == "__main__":
    main()
