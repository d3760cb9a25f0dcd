"""Webhook deliveries a second of the notify service to a local receiver, and their latency, beside
a bare HTTP client posting the same bodies with the same headers to the same receiver in the same run.

    uv run python -m bench.webhooks [--events 5000] [--paced-seconds 10] [--workers 8] [--json PATH]

The notify service is `python -m services.notify` as the benchmark's child, configured by HELPLINE_*
like a pod (its default settings, HELPLINE_WEBHOOK_ALLOW_PRIVATE_TARGETS=true for a loopback
target). A fresh tenant gets an admin API key (made with the pepper the process is given) and
subscribes, through POST /v1/webhooks, the receiver (bench.webhook_receiver, its own process) to
`helpline.ticket.status_changed.v1` with a secret of its own, so the receiver can check every
signature. The service is then stopped, and the events produced onto helpline.tickets, keyed over
1,000 tickets so every lane of the subscription has work.

ROUNDS rounds of two phases, the bare client's and then the service's, each round with events of
its own; the rates and the ratio reported are the median over the rounds (each ratio that of its
round: the two phases of a round share the machine's moment, and a median of those ratios is
steadier than a ratio of two medians). Then one paced phase. Each phase is counted by the receiver
(the distinct `webhook-id`s it holds):
- bare client: an httpx.Client with keep-alive in each of as many threads as the service has
  delivery workers (HELPLINE_WEBHOOK_WORKERS), each signing and POSTing its share of the events'
  CloudEvent bodies, built by the service's own code, with the headers the service sends. As many
  threads as workers, not one per lane: the service has one attempt in flight per worker whatever
  its lanes, so the two send at the same concurrency and the ratio is what each delivery costs the
  service beyond its POST (its Redis scripts, its consumer). Its clock starts when the threads do.
- backlog: the service started again with the round's events waiting (and stopped after them);
  its clock starts at its consumer
  loop's start (the "consuming" log line, before the group join, which it pays) and stops at the
  receiver's last arrival. Deliveries/s = events / that. Latency here is from the consumer's start,
  as the events' own times only say how long they waited for the process. The service's /metrics,
  read every second, says when its consumer had handled them all, so the report names the stage
  that set the pace: the consumer (enqueueing) or the delivery workers.
- paced: after the last round, events produced at half the backlog's median rate (below capacity)
  for --paced-seconds, each
  stamped with its time just before it is sent; latency from that time to the receiver's arrival,
  through Kafka, the consumer, Redis and an idle worker the consumer's enqueue wakes (or its poll,
  HELPLINE_WEBHOOK_POLL_SECONDS, when the enqueue finds it busy).

Starts its own broker and Redis (local processes), or uses HELPLINE_KAFKA_BOOTSTRAP and
HELPLINE_REDIS_URL when both are set: then stop that stack's notify service first, as the
benchmark's joins the same `notify` group (a group that has committed keeps its place). The
benchmark deletes the subscription, its tenant's deliveries and its API key afterwards. Prints a
Markdown table and a verdict against the target; asserts nothing. The numbers depend on the machine,
the ratio much less.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.progress import Progress, TaskID

from bench.latency_baselines import LatencyStats, stats
from bench.redis_keys import unlink_matching
from bench.service_process import ServiceProcess, cpu_seconds_of
from bench.stack import bench_stack, machine_line, service_env, start_group_at_end
from devstack.local_stack import REPO_ROOT, free_port
from helpline.auth import ApiKeyStore
from helpline.bus import make_producer, send
from helpline.events import Envelope, new_event, to_record
from helpline.logging import configure_logging
from helpline.topic_admin import ensure_topics
from helpline.v1 import common_pb2, ticket_events_pb2
from services.notify.app import NotifySettings
from services.notify.consumer import GROUP, TOPICS
from services.notify.deliverer import USER_AGENT
from services.notify.domain import signing
from services.notify.domain.delivery import CONTENT_TYPE, cloudevent_body, delivery_id

console = Console(stderr=True)

TOPIC = "helpline.tickets"
EVENT_TYPE = "helpline.ticket.status_changed.v1"
# Keys of the events: many more than the 16 lanes of a subscription, so every lane has work.
TICKETS = 1_000
# The service's deliveries/s at least half the bare client's: what it adds to each POST (the outcome
# script that also claims the next lane, and the consumer's share of an enqueue script) must not
# cost more than the POST itself.
TARGET_RATIO = 0.5
# The paced phase's rate, as a share of the backlog's: well below capacity, so latency is the
# path's own and not a queue's.
PACED_SHARE = 0.5
SERVICE_PATH, BARE_PATH = "/hooks/notify", "/hooks/bare"
POLL_S = 0.2
# Rounds of the bare client and the service, their median reported.
ROUNDS = 3
# How often the service's /metrics is read while it delivers: rendering it costs the service CPU.
CONSUMED_POLL_S = 1.0
READY_TIMEOUT_S = 30.0


class BenchError(RuntimeError):
    """A process did not start, or deliveries did not all arrive; the message says where to look."""


# -- the events -----------------------------------------------------------------------------------


def status_changed(tenant: str, n: int) -> Envelope:
    """The tenant's n-th event: a status change of one of TICKETS tickets, each newer than the last
    of its ticket."""
    ticket_id = f"t{n % TICKETS:05d}"
    message = ticket_events_pb2.TicketStatusChanged(
        tenant_id=tenant,
        ticket_id=ticket_id,
        version=n // TICKETS + 2,
        from_status=common_pb2.TICKET_STATUS_NEW,
        to_status=common_pb2.TICKET_STATUS_OPEN,
    )
    return new_event(message, source="/bench/webhooks", subject=ticket_id)


def body_of(envelope: Envelope) -> bytes:
    """The CloudEvent the service POSTs for the event, byte for byte."""
    return cloudevent_body(
        event_id=envelope.id,
        source=envelope.source,
        event_type=envelope.type,
        time=envelope.time,
        subject=envelope.subject,
        message=envelope.message,
    )


# -- the receiver ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrived:
    webhook_id: str
    at: float
    signed: bool


class ReceiverProcess:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.base = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.base, trust_env=False, timeout=30)

    def url(self, path: str) -> str:
        return self.base + path

    def count(self, path: str) -> int:
        return int(self.http.get("/_count", params={"path": path}).json())

    def arrivals(self, path: str) -> list[Arrived]:
        answer = self.http.get("/_records", params={"path": path}).json()
        return [Arrived(webhook_id, at, signed) for webhook_id, at, signed in answer]

    def cpu_seconds(self) -> float:
        return cpu_seconds_of(self.process.pid)


@contextmanager
def receiving(secret: str, log_path: Path) -> Iterator[ReceiverProcess]:
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.webhook_receiver", "--port", str(port), "--secret", secret],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    receiver = ReceiverProcess(process, port)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                receiver.count(BARE_PATH)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"the webhook receiver did not start; see {log_path}") from None
                time.sleep(0.05)
        yield receiver
    finally:
        receiver.http.close()
        process.terminate()
        process.wait(10)


# -- measurement ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """What the receiver got of one phase's expected deliveries."""

    delivered: int
    repeats: int
    bad_signatures: int
    first_at: float
    last_at: float
    # Seconds from each delivery's reference instant (its event's time, or the phase's start) to
    # its first arrival.
    latencies_s: list[float]


def tally(arrivals: list[Arrived], expected: dict[str, float]) -> Tally:
    """The arrivals of the `expected` webhook-ids (each with the instant its latency counts from);
    others (another phase's) are left out. A repeat is a second arrival of one id (at least once)."""
    first: dict[str, float] = {}
    repeats = bad = 0
    for arrived in arrivals:
        if arrived.webhook_id not in expected:
            continue
        bad += not arrived.signed
        if arrived.webhook_id in first:
            repeats += 1
            first[arrived.webhook_id] = min(first[arrived.webhook_id], arrived.at)
        else:
            first[arrived.webhook_id] = arrived.at
    times = list(first.values())
    return Tally(
        delivered=len(first),
        repeats=repeats,
        bad_signatures=bad,
        first_at=min(times, default=0.0),
        last_at=max(times, default=0.0),
        latencies_s=[at - expected[webhook_id] for webhook_id, at in first.items()],
    )


@dataclass(frozen=True)
class Phase:
    events: int
    seconds: float
    # From the phase's start to its first arrival: for the service, mostly its group join.
    first_s: float
    latency: LatencyStats | None
    repeats: int
    bad_signatures: int
    # CPU of the receiver, and of the sender (the bench process, or the service), over the phase.
    receiver_cores: float
    sender_cores: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def sender_cpu_ms(self) -> float:
        """The sender's CPU per delivery."""
        return self.sender_cores / self.rate * 1000


def phase_of(
    got: Tally, events: int, started: float, receiver_cpu: float, sender_cpu: float, *, latency: bool = True
) -> Phase:
    if got.delivered < events:
        raise BenchError(f"the receiver holds {got.delivered:,} of {events:,} deliveries")
    seconds = got.last_at - started
    return Phase(
        events=events,
        seconds=seconds,
        first_s=got.first_at - started,
        latency=stats("deliveries", [s * 1000 for s in got.latencies_s]) if latency else None,
        repeats=got.repeats,
        bad_signatures=got.bad_signatures,
        receiver_cores=receiver_cpu / seconds,
        sender_cores=sender_cpu / seconds,
    )


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bare_posts(
    receiver: ReceiverProcess,
    secret: str,
    deliveries: list[tuple[str, bytes]],
    threads: int,
    progress: Progress,
) -> Phase:
    """POST every (webhook-id, body) to BARE_PATH from `threads` kept-alive clients, signed and with
    the headers the service sends."""
    task = progress.add_task(f"bare httpx client, {threads} threads", total=len(deliveries))
    sent = [0] * threads
    failures: list[str] = []

    def post_share(k: int) -> None:
        url = receiver.url(BARE_PATH)
        with httpx.Client(timeout=10, follow_redirects=False, trust_env=False) as client:
            for webhook_id, body in deliveries[k::threads]:
                headers = {
                    "content-type": CONTENT_TYPE,
                    "user-agent": USER_AGENT,
                    **signing.headers(secret, webhook_id, int(time.time()), body),
                }
                answer = client.post(url, content=body, headers=headers)
                if not answer.is_success:
                    failures.append(f"HTTP {answer.status_code}")
                    return
                sent[k] += 1

    workers = [threading.Thread(target=post_share, args=(k,), name=f"bare-{k}") for k in range(threads)]
    receiver_from, own_from = receiver.cpu_seconds(), own_cpu_seconds()
    started = time.time()
    for worker in workers:
        worker.start()
    while any(worker.is_alive() for worker in workers):
        progress.update(task, completed=sum(sent))
        time.sleep(POLL_S)
    progress.update(task, completed=sum(sent))
    receiver_cpu, own_cpu = receiver.cpu_seconds() - receiver_from, own_cpu_seconds() - own_from
    if failures:
        raise BenchError(f"the receiver answered the bare client {failures[0]}")
    expected = dict.fromkeys((webhook_id for webhook_id, _ in deliveries), started)
    got = tally(receiver.arrivals(BARE_PATH), expected)
    return phase_of(got, len(deliveries), started, receiver_cpu, own_cpu, latency=False)


class NotifyProcess(ServiceProcess):
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        super().__init__("notify", env, log_path)
        self.log_offset = 0

    def start(self) -> None:
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        super().start()

    def wait_consuming(self) -> float:
        """When its consumer loop started (epoch seconds), from its log line, once it is there."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            with self.log_path.open("rb") as log:
                log.seek(self.log_offset)
                for line in log:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if entry.get("event") == "consuming" and entry.get("group") == GROUP:
                        return datetime.fromisoformat(entry["timestamp"]).timestamp()
            self.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"the notify service never logged its consumer starting; see {self.log_path}"
                )
            time.sleep(0.05)

    def admin(self, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.http_port}", headers={"X-API-Key": key}, trust_env=False
        )


def subscribe(notify: NotifyProcess, key: str, url: str, secret: str) -> str:
    """Subscribe `url` to EVENT_TYPE through the service's API; the subscription's id."""
    with notify.admin(key) as api:
        answer = api.post(
            "/v1/webhooks",
            json={"url": url, "event_types": [EVENT_TYPE], "secret": secret, "description": "bench"},
        )
    if answer.status_code != 201:
        raise BenchError(f"POST /v1/webhooks answered {answer.status_code}: {answer.text}")
    return str(answer.json()["id"])


def handled(notify: NotifyProcess) -> int:
    """The events of TOPIC the service's consumer has handled, from its /metrics."""
    exposition = httpx.get(f"http://127.0.0.1:{notify.http_port}/metrics", timeout=10).text
    return round(
        sum(
            sample.value
            for family in text_string_to_metric_families(exposition)
            for sample in family.samples
            if sample.name == "helpline_events_handled_total" and sample.labels.get("topic") == TOPIC
        )
    )


def wait_delivered(
    receiver: ReceiverProcess,
    notify: NotifyProcess,
    total: int,
    events: int,
    task: TaskID,
    progress: Progress,
    *,
    handled_before: int = 0,
) -> float:
    """Wait until the receiver holds `total` of the service's deliveries, the last `events` of them
    this phase's; when (epoch seconds) the service's consumer had handled this phase's events too
    (`handled_before` and `events`: the count is the process's), read from its /metrics every
    CONSUMED_POLL_S."""
    limit_s = 60.0 + events / 20
    deadline = time.monotonic() + limit_s
    consumed_at, scraped_at = 0.0, 0.0
    while (held := receiver.count(SERVICE_PATH)) < total:
        progress.update(task, completed=held - (total - events))
        notify.check_alive()
        if not consumed_at and time.monotonic() - scraped_at >= CONSUMED_POLL_S:
            scraped_at = time.monotonic()
            consumed_at = time.time() if handled(notify) >= handled_before + events else 0.0
        if time.monotonic() > deadline:
            raise BenchError(
                f"the receiver held {held:,} of {total:,} deliveries after {limit_s:.0f} s; "
                f"see {notify.log_path}"
            )
        time.sleep(POLL_S)
    progress.update(task, completed=events)
    return consumed_at or time.time()


def paced(
    bootstrap: str, tenant: str, first: int, rate: float, seconds: float, progress: Progress
) -> dict[str, datetime]:
    """Produce events at `rate` a second for `seconds`, each stamped just before it is sent; their
    ids and times."""
    count = max(1, round(rate * seconds))
    task = progress.add_task(f"paced: {count:,} events at {rate:,.0f}/s", total=count)
    producer = make_producer(bootstrap, "bench-webhooks-paced")
    times: dict[str, datetime] = {}
    try:
        # A new producer connects, learns the topic and gets its idempotence id on its first send:
        # half a second the first events' latency would count against the service. One event of a
        # tenant with no subscription (delivered nowhere) pays it before the clock starts.
        producer.prepare(TOPIC)
        send(producer, to_record(status_changed(f"{tenant}-warm-up", 0), TOPIC))
        producer.flush()
        start = time.monotonic()
        for k in range(count):
            wait = start + k / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            envelope = status_changed(tenant, first + k)
            send(producer, to_record(envelope, TOPIC))
            times[envelope.id] = envelope.time
            if k % 100 == 0:
                progress.update(task, completed=k)
        producer.flush()
    finally:
        producer.close()
    progress.update(task, completed=count)
    return times


def produce(bootstrap: str, envelopes: list[Envelope], progress: Progress) -> None:
    producer = make_producer(bootstrap, "bench-webhooks-producer")
    task = progress.add_task(f"producing {len(envelopes):,} events onto {TOPIC}", total=len(envelopes))
    try:
        for done, envelope in enumerate(envelopes, 1):
            send(producer, to_record(envelope, TOPIC))
            if done % 1000 == 0 or done == len(envelopes):
                progress.update(task, completed=done)
        producer.flush()
    finally:
        producer.close()


@dataclass(frozen=True)
class Round:
    bare: Phase
    backlog: Phase
    # From the backlog's start until the service's consumer had handled its events (to a second).
    consumed_s: float

    @property
    def ratio(self) -> float:
        return self.backlog.rate / self.bare.rate


@dataclass(frozen=True)
class Report:
    tenant: str
    workers: int
    rounds: list[Round]
    paced: Phase
    paced_rate: float
    poll_s: float
    exit_codes: list[int | None]

    @property
    def ratio(self) -> float:
        """The median of the rounds' ratios."""
        return statistics.median(r.ratio for r in self.rounds)

    @property
    def median_round(self) -> Round:
        """The round whose ratio is the median (the lower middle one of an even count): its phases
        are the ones the report details."""
        ordered = sorted(self.rounds, key=lambda r: r.ratio)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def backlog_rate(self) -> float:
        return statistics.median(r.backlog.rate for r in self.rounds)

    @property
    def bare_rate(self) -> float:
        return statistics.median(r.bare.rate for r in self.rounds)


def run(
    bootstrap: str,
    redis_url: str,
    count: int,
    paced_s: float,
    workers: int,
    log_dir: Path,
    progress: Progress,
    rounds_wanted: int = ROUNDS,
) -> Report:
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    secret = signing.new_secret()
    ensure_topics(bootstrap)
    # The service reads only what comes after: not every earlier event of a shared broker.
    start_group_at_end(bootstrap, GROUP, list(TOPICS))
    env = service_env(
        "notify",
        bootstrap,
        redis_url,
        free_port(),
        HELPLINE_LOG_LEVEL="INFO",
        HELPLINE_LOG_FORMAT="json",
        HELPLINE_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        HELPLINE_WEBHOOK_WORKERS=str(workers),
        # Room for every event waiting: past a subscription's most, deliveries are refused, not sent.
        HELPLINE_WEBHOOK_MAX_PENDING=str(
            max(count, NotifySettings.model_fields["webhook_max_pending"].default)
        ),
    )
    client = redis.Redis.from_url(redis_url)
    keys = ApiKeyStore(client, pepper=env["HELPLINE_API_KEY_PEPPER"])
    key_id, key = keys.create(tenant, "bench-webhooks")
    notify = NotifyProcess(env, log_dir / "bench-webhooks-notify.log")
    rounds: list[Round] = []
    # Each stop's exit code: the subscribing start's, each round's but the last, and the last's.
    exit_codes: list[int | None] = []
    try:
        with receiving(secret, log_dir / "bench-webhooks-receiver.log") as receiver:
            with console.status("starting the notify service to subscribe the receiver..."):
                notify.start()
                notify.wait_ready()
                subscription_id = subscribe(notify, key, receiver.url(SERVICE_PATH), secret)
                exit_codes.append(notify.stop())
            for n in range(rounds_wanted):
                envelopes = [status_changed(tenant, n * count + k) for k in range(count)]
                ids = {delivery_id(subscription_id, e.id): e for e in envelopes}
                bare = bare_posts(
                    receiver, secret, [(i, body_of(e)) for i, e in ids.items()], workers, progress
                )
                produce(bootstrap, envelopes, progress)
                task = progress.add_task(
                    f"round {n + 1}: notify service, {count:,} events waiting", total=count
                )
                notify.start()
                started = notify.wait_consuming()
                receiver_from, notify_from = receiver.cpu_seconds(), notify.cpu_seconds()
                consumed_at = wait_delivered(receiver, notify, (n + 1) * count, count, task, progress)
                backlog = phase_of(
                    tally(receiver.arrivals(SERVICE_PATH), dict.fromkeys(ids, started)),
                    count,
                    started,
                    receiver.cpu_seconds() - receiver_from,
                    notify.cpu_seconds() - notify_from,
                )
                if n < rounds_wanted - 1:
                    # The next round's events wait for a service that is not running.
                    exit_codes.append(notify.stop())
                rounds.append(Round(bare, backlog, consumed_at - started))
                console.print(
                    f"round {n + 1}: bare httpx client {bare.rate:,.0f} posts/s, notify service "
                    f"{backlog.rate:,.0f} deliveries/s ({rounds[-1].ratio:.2f})"
                )
            rate = statistics.median(r.backlog.rate for r in rounds) * PACED_SHARE
            receiver_from, notify_from = receiver.cpu_seconds(), notify.cpu_seconds()
            first = rounds_wanted * count
            sent = paced(bootstrap, tenant, first, rate, paced_s, progress)
            expected = {delivery_id(subscription_id, e): t.timestamp() for e, t in sent.items()}
            task = progress.add_task(f"notify service: {len(sent):,} paced events", total=len(sent))
            wait_delivered(
                receiver, notify, first + len(sent), len(sent), task, progress, handled_before=count
            )
            got = tally(receiver.arrivals(SERVICE_PATH), expected)
            paced_phase = phase_of(
                got,
                len(sent),
                min(expected.values()),
                receiver.cpu_seconds() - receiver_from,
                notify.cpu_seconds() - notify_from,
            )
            with notify.admin(key) as api:
                api.delete(f"/v1/webhooks/{subscription_id}").raise_for_status()
            exit_codes.append(notify.stop())
    finally:
        # After a failure, the service is stopped too (a second stop of a stopped one is a no-op).
        notify.stop()
        keys.revoke(key_id)
        unlink_matching(client, f"notify:{{{tenant}}}*")
        client.close()
    poll_s = float(
        env.get("HELPLINE_WEBHOOK_POLL_SECONDS")
        or NotifySettings.model_fields["webhook_poll_seconds"].default
    )
    return Report(tenant, workers, rounds, paced_phase, rate, poll_s, exit_codes)


# -- report ---------------------------------------------------------------------------------------


def latency_text(ms: float) -> str:
    return f"{ms:,.0f} ms" if ms < 1000 else f"{ms / 1000:,.2f} s"


def markdown(report: Report) -> str:
    middle, paced_phase = report.median_round, report.paced
    count = middle.backlog.events
    lines = [
        "| sender | deliveries | deliveries/s | service / bare | latency p50 | latency p99 |",
        "|---|---|---|---|---|---|",
    ]
    rows = (
        (
            f"notify service, {report.workers} workers: the events waiting, from its consumer's start "
            f"(median of {len(report.rounds)} rounds; latency from the start, the median round's)",
            count,
            middle.backlog.latency,
            f"{report.backlog_rate:,.0f}",
            f"{report.ratio:.2f}",
        ),
        (
            f"notify service, {report.workers} workers: paced at {PACED_SHARE:g} of that "
            "(latency from each event's time)",
            paced_phase.events,
            paced_phase.latency,
            f"{report.paced_rate:,.0f} offered",
            "",
        ),
        (
            f"bare httpx client, {report.workers} threads with keep-alive: the same bodies and headers "
            f"(median of {len(report.rounds)} rounds)",
            count,
            None,
            f"{report.bare_rate:,.0f}",
            "1.00",
        ),
    )
    for label, events, latency, rate, ratio in rows:
        p50, p99 = (latency_text(latency.p50_ms), latency_text(latency.p99_ms)) if latency else ("", "")
        lines.append(f"| {label} | {events:,} | {rate} | {ratio} | {p50} | {p99} |")
    return "\n".join(lines)


def verdicts(report: Report) -> list[str]:
    middle, paced_phase = report.median_round, report.paced
    bare, backlog = middle.bare, middle.backlog
    phases = [*(phase for r in report.rounds for phase in (r.bare, r.backlog)), paced_phase]
    lines = [
        f"notify delivers {report.backlog_rate:,.0f}/s, {report.ratio:.2f} of the bare httpx client's "
        f"{report.bare_rate:,.0f}/s to the same receiver, target >= {TARGET_RATIO:g}: "
        + ("met" if report.ratio >= TARGET_RATIO else "MISSED"),
        "the rounds: "
        + "; ".join(
            f"{r.backlog.rate:,.0f} against {r.bare.rate:,.0f}/s ({r.ratio:.2f})" for r in report.rounds
        ),
    ]
    if paced_phase.latency is not None:
        lines.append(
            f"paced at {report.paced_rate:,.0f} events/s: p50 {latency_text(paced_phase.latency.p50_ms)}, "
            f"p99 {latency_text(paced_phase.latency.p99_ms)}, max {latency_text(paced_phase.latency.max_ms)} "
            f"from an event's time to its arrival (the consumer wakes idle workers as it enqueues; "
            f"each also polls every {report.poll_s:g} s)"
        )
    deliveries = sum(phase.events for phase in phases)
    bad = sum(phase.bad_signatures for phase in phases)
    lines.append(
        f"all {deliveries:,} signatures valid (every request checked with the subscription's secret)"
        if bad == 0
        else f"{bad:,} BAD SIGNATURES of {deliveries:,} requests"
    )
    repeats = sum(r.backlog.repeats for r in report.rounds) + paced_phase.repeats
    lines.append(
        "every delivery arrived once"
        if repeats == 0
        else f"{repeats:,} deliveries arrived again (at least once: a lane's lease ran out mid-attempt)"
    )
    lines.append(
        f"in the median round, the receiver used {bare.receiver_cores:.2f} cores while the bare client "
        f"posted and {backlog.receiver_cores:.2f} while the service delivered (1.00: one core, all "
        f"along), so it was not the limit; CPU per delivery: the service {backlog.sender_cpu_ms:.2f} ms "
        f"({backlog.sender_cores:.2f} cores), the bare client's process {bare.sender_cpu_ms:.2f} ms "
        f"({bare.sender_cores:.2f} cores)"
    )
    pace = (
        "the consumer, not the delivery workers, set the pace"
        if backlog.seconds - middle.consumed_s <= 2 * CONSUMED_POLL_S
        else "the delivery workers set the pace"
    )
    lines.append(
        f"in the median round, the service's consumer had handled the {backlog.events:,} events "
        f"{middle.consumed_s:.1f} s after its start, the last delivery arrived {backlog.seconds:.1f} s "
        f"after it: {pace}"
    )
    codes = sorted({str(code) for code in report.exit_codes})
    lines.append(
        f"the first delivery arrived {backlog.first_s:.1f} s after the service's consumer started (its "
        f"group join, counted in its rate); the service exited with {', '.join(codes)} each time "
        f"it was stopped ({len(report.exit_codes)} times)"
    )
    return lines


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000, help="events waiting for the service")
    parser.add_argument(
        "--paced-seconds", type=float, default=10.0, help="how long events are produced at a steady rate"
    )
    parser.add_argument("--workers", type=int, default=8, help="HELPLINE_WEBHOOK_WORKERS, and bare threads")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    if args.events < 1 or args.paced_seconds <= 0 or not 1 <= args.workers <= 64:
        parser.error("give at least one event, a positive --paced-seconds and 1 to 64 workers")
    configure_logging("bench", level="WARNING", fmt="console")
    load_before = os.getloadavg()[0]
    with bench_stack("bench-webhooks-stack") as stack, Progress(console=console) as progress:
        report = run(
            stack.bootstrap,
            stack.redis_url,
            args.events,
            args.paced_seconds,
            args.workers,
            stack.log_dir,
            progress,
        )
    print(markdown(report))
    print()
    for line in verdicts(report):
        print(f"- {line}")
    print(machine_line(load_before))
    if args.json:
        args.json.write_text(json.dumps({"benchmark": "webhooks", **asdict(report)}, indent=2) + "\n")


if __name__ == "__main__":
    main()
