"""Routing latency, throughput and cost per decision of the router service, from a contact event on
Kafka to its offer event on Kafka, at several agent counts over the same number of queues, beside
round-trip baselines on the same broker in the same run (bench.latency_baselines): Kafka's own
EndToEndLatency tool and a bare produce -> consume loop through the Kafka port's raw clients.

    uv run python -m bench.router_latency [--agents 1000 10000] [--queues 100] [--contacts 450] [--rate 200]

A contact crosses Kafka twice (gateway -> ingress -> router, then router -> outbox relay ->
helpline.contacts), so two baseline round trips are its floor. Each agent count gets a fresh tenant
of voice queues whose agents each serve two queues, all available; one router process serves the
whole run, and nobody answers an offer. The first WARMUP contacts of a paced run go uncounted, as
the baselines' first round trips do. Starts its own broker and Redis (local processes), or uses
HELPLINE_KAFKA_BOOTSTRAP and HELPLINE_REDIS_URL when both are set: then stop that stack's router
first, as the benchmark's joins the same `router` consumer group. Prints Markdown tables and one
verdict per target; asserts nothing. The numbers depend on the machine, the ratios much less.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
from rich.console import Console
from rich.progress import Progress

from bench.latency_baselines import (
    WARMUP,
    LatencyStats,
    bare_round_trip,
    kafka_end_to_end,
    latency_topic,
    stats,
)
from bench.redis_keys import unlink_matching
from bench.stack import bench_stack, kafka_client, machine_line, service_env, start_group_at_end
from devstack.local_stack import REPO_ROOT, free_port
from helpline.bus import make_producer, send
from helpline.clock import SystemClock
from helpline.events import new_event, signed, to_record
from helpline.ingress_secrets import IngressSecrets
from helpline.ingress_signing import IngressKey
from helpline.kafka import clients
from helpline.kafka.port import Start
from helpline.kafka.reading import partitions
from helpline.logging import configure_logging
from helpline.topic_admin import ensure_topics
from helpline.v1 import common_pb2, contact_events_pb2
from services.router.composition import Router
from services.router.consumers import GROUP
from services.router.domain.model import AgentStatus, Channel, Queue, QueueMembership, RoutingProfile
from services.router.storage.store import OUTBOX_STREAM, Keys
from services.router.storage.tenants import TENANTS
from services.router.usecases.configuration import AgentConfig

console = Console(stderr=True)

INGRESS = "helpline.contacts.ingress"
CONTACTS = "helpline.contacts"
OFFERED = b"helpline.contact.offered.v1"
P99_TARGET_MS = 20.0
COST_TARGET_RATIO = 1.5
# Nobody answers: an offer that timed out would go to another agent during a later measurement and
# add decisions to that window that its contacts did not ask for.
OFFER_TIMEOUT = timedelta(hours=1)
READY_TIMEOUT_S = 60.0
# The first contacts of a run wait for the router's group join and any backlog on the ingress topic.
WARMUP_TIMEOUT_S = 120.0
RELAY_DRAIN_TIMEOUT_S = 600.0
IDLE_SAMPLE_S = 3.0


class BenchError(RuntimeError):
    """The router did not start, or did not offer every contact; the message says where to look."""


# -- configuration ----------------------------------------------------------------------------------


@dataclass
class Tenant:
    """A configured tenant and the queues its next contacts go to (`deal`)."""

    tenant_id: str
    queue_ids: tuple[str, ...]
    agents: int
    # The secret its gateway signs contacts with, as the router's ingress requires.
    gateway: IngressKey
    deck: list[str] = field(default_factory=list)

    def deal(self, count: int) -> list[str]:
        """The queue of each of the next `count` contacts: random, from a deck that holds each queue
        `per_queue(...)` times, so every prefix keeps every contact offered at once."""
        if count > len(self.deck):
            raise ValueError(
                f"{count} more contacts for tenant {self.tenant_id}, but only {len(self.deck)} of its "
                f"{self.agents} agents over {len(self.queue_ids)} queues can still be offered at once"
            )
        dealt, self.deck = self.deck[:count], self.deck[count:]
        return dealt


def per_queue(agents: int, queues: int) -> int:
    """Contacts per queue that all find an agent at once. Agent i serves queues i % Q and (i + 1) % Q,
    so the agents of queue q (the groups q - 1 and q, 2 * floor(N / Q) of them) are only ever taken
    by contacts of queues q - 1, q and q + 1; three queues' worth of contacts must fit in them, then
    whatever order the router offers in leaves one of them free for each contact of q."""
    return (2 * (agents // queues)) // 3


def capacity(agents: int, queues: int) -> int:
    return per_queue(agents, queues) * queues


def configure(
    client: redis.Redis,
    agents: int,
    queues: int,
    *,
    progress: Progress | None = None,
    seed: int | None = None,
) -> Tenant:
    """A fresh tenant: `queues` voice queues, `agents` voice agents serving two neighbouring queues
    each, all available. Written through the engine straight to Redis; the configuration's events
    go through the outbox like any other (see RouterProcess.wait_idle)."""
    if queues < 2:
        raise ValueError("agents serve two distinct queues: give at least 2 queues")
    router = Router(client, SystemClock())
    tenant_id = f"bench-{agents}-{uuid.uuid4().hex[:8]}"
    queue_ids = tuple(f"q{k:03d}" for k in range(queues))
    progress = progress or Progress(disable=True)
    task = progress.add_task(f"configuring {agents:,} agents over {queues} queues", total=agents)
    for queue_id in queue_ids:
        router.catalog.put_queue(
            Queue(
                queue_id,
                tenant_id,
                f"Bench {queue_id}",
                frozenset({Channel.VOICE}),
                offer_timeout=OFFER_TIMEOUT,
            )
        )
    for i in range(agents):
        agent_id = f"a{i:05d}"
        memberships = (QueueMembership(queue_ids[i % queues]), QueueMembership(queue_ids[(i + 1) % queues]))
        profile = RoutingProfile(memberships, {Channel.VOICE: 1})
        router.catalog.put_agent(tenant_id, AgentConfig(agent_id, {}, profile=profile))
        router.agents.set_status(tenant_id, agent_id, AgentStatus.AVAILABLE)
        progress.update(task, completed=i + 1)
    deck = [queue_id for _ in range(per_queue(agents, queues)) for queue_id in queue_ids]
    random.Random(seed).shuffle(deck)
    return Tenant(tenant_id, queue_ids, agents, IngressSecrets(client).create(tenant_id, "bench"), deck)


def cleanup(client: redis.Redis, tenant_id: str) -> None:
    """Delete a benchmark tenant, so a router on this Redis stops snapshotting and timing it."""
    unlink_matching(client, f"{Keys(tenant_id).base}:*")
    client.srem(TENANTS, tenant_id)
    secrets = IngressSecrets(client)
    for secret in secrets.list(tenant_id):
        secrets.revoke(tenant_id, secret.key_id)


# -- the router process ---------------------------------------------------------------------------


def _start_group_at_end(bootstrap: str) -> None:
    """A `router` group that never committed would start at the ingress topic's beginning and replay
    every earlier contact (of tests, of other runs); it starts at the end instead. A group that has
    committed keeps its place: it may be a real router's."""
    start_group_at_end(bootstrap, GROUP, [INGRESS])


class RouterProcess:
    """`python -m services.router` as the bench's child, configured by environment like a pod."""

    def __init__(self, bootstrap: str, redis_url: str, log_path: Path) -> None:
        self.bootstrap = bootstrap
        self.redis = redis.Redis.from_url(redis_url)
        self.log_path = log_path
        self.http_port = free_port()
        self.env = service_env("router", bootstrap, redis_url, self.http_port)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # The catalog's topics exist before the process starts (it would create them too), so the
        # group can be placed at their end.
        ensure_topics(self.bootstrap)
        _start_group_at_end(self.bootstrap)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.router"],
                env=self.env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.ready():
            if self.process.poll() is not None:
                raise BenchError(f"the router exited with {self.process.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise BenchError(
                    f"the router was not ready within {READY_TIMEOUT_S:.0f} s; see {self.log_path}"
                )
            time.sleep(0.2)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/readyz", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError("the router is not running")
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User plus system time of the whole process (every thread) so far."""
        raw = Path(f"/proc/{self.pid}/stat").read_text()
        # The command name in parentheses may hold spaces; utime and stime are fields 14 and 15.
        fields = raw[raw.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def idle_cpu_rate(self, sample_s: float = IDLE_SAMPLE_S) -> float:
        """CPU seconds a second the router spends with no contact coming in."""
        before = self.cpu_seconds()
        time.sleep(sample_s)
        return (self.cpu_seconds() - before) / sample_s

    def wait_idle(self, timeout_s: float = RELAY_DRAIN_TIMEOUT_S) -> None:
        """Until the relay has published every event in the outbox (the relay deletes what it
        published), so a measurement does not share the process with a configuration's backlog."""
        deadline = time.monotonic() + timeout_s
        while int(self.redis.xlen(OUTBOX_STREAM)):
            if self.process is not None and self.process.poll() is not None:
                raise BenchError(f"the router exited with {self.process.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise BenchError(f"the router's outbox did not drain within {timeout_s:.0f} s")
            time.sleep(0.2)

    def stop(self) -> int | None:
        """SIGTERM, as an orchestrator stops it; its exit code, or None if it was not running."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10)
        self.redis.close()
        return code


@contextmanager
def running_router(bootstrap: str, redis_url: str, log_path: Path) -> Iterator[RouterProcess]:
    router = RouterProcess(bootstrap, redis_url, log_path)
    try:
        router.start()
        yield router
    finally:
        router.stop()


# -- measurement ------------------------------------------------------------------------------------


class OfferWatcher:
    """Reads helpline.contacts from its current end and notes when each contact's first offer
    arrives. Only offered events are decoded: the router writes several events per contact."""

    def __init__(self, bootstrap: str, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        # The broker answers a waiting fetch as soon as a record lands, as in bare_round_trip.
        self.consumer = clients.consumer(bootstrap, "bench-router-watcher", client=kafka_client())
        # The end resolved now, so nothing sent before the watcher started counts and no timed poll
        # waits on it.
        self.consumer.assign(partitions(self.consumer, [CONTACTS]), Start.END)
        self.seen: dict[str, float] = {}
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="offer-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            records = self.consumer.poll(0.1, 500)
            at = time.perf_counter()
            found: dict[str, float] = {}
            for record in records:
                if dict(record.headers or ()).get("ce_type") != OFFERED or record.value is None:
                    continue
                offered = contact_events_pb2.ContactOffered.FromString(record.value)
                if offered.tenant_id == self.tenant_id:
                    found.setdefault(offered.contact_id, at)
            if found:
                with self._changed:
                    for contact_id, moment in found.items():
                        self.seen.setdefault(contact_id, moment)
                    self._changed.notify_all()

    def wait_for(self, contact_ids: Sequence[str], timeout_s: float) -> dict[str, float]:
        """When each contact's offer was seen (perf_counter), for those seen within the timeout."""
        wanted = set(contact_ids)
        with self._changed:
            self._changed.wait_for(lambda: wanted <= self.seen.keys(), timeout=timeout_s)
            return {contact_id: self.seen[contact_id] for contact_id in wanted if contact_id in self.seen}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.consumer.close()


@dataclass(frozen=True)
class RouterRun:
    agents: int
    queues: int
    # Contacts sent a second; None for a burst (all at once).
    rate: float | None
    latency: LatencyStats
    offers_per_s: float
    cpu_ms_per_decision: float

    @property
    def load(self) -> str:
        return f"{self.rate:g}/s" if self.rate else "burst"

    @property
    def kept_up(self) -> bool:
        """Offers came as fast as contacts were sent: the latency is the router's, not a queue's."""
        return self.rate is not None and self.offers_per_s >= 0.95 * self.rate


def _contact(gateway: IngressKey, contact_id: str, queue_id: str) -> Any:
    received = contact_events_pb2.ContactReceived(
        tenant_id=gateway.tenant,
        contact_id=contact_id,
        channel=common_pb2.CHANNEL_VOICE,
        queue_id=queue_id,
        entry_point="bench",
    )
    envelope = new_event(received, source="/bench/gateway", subject=contact_id)
    return signed(to_record(envelope, INGRESS), envelope, gateway)


def measure(
    bootstrap: str,
    router: RouterProcess,
    tenant: Tenant,
    count: int,
    rate: float | None,
    *,
    warmup: int = 0,
    timeout_s: float | None = None,
) -> RouterRun:
    """Send `warmup` + `count` ContactReceived to the ingress topic, `rate` a second (None: all at
    once), and time each to its ContactOffered on helpline.contacts, both in this process; the
    first `warmup` are not counted in the latency, as the baselines leave their first round trips
    out: this run's producer and watcher are new, and their first records pay for that. Throughput
    is offers over the window from the first send to the last offer; the router's CPU is measured
    over that window."""
    router.wait_idle()
    queue_ids = tenant.deal(warmup + count)
    run_id = uuid.uuid4().hex[:6]
    contact_ids = [f"c-{run_id}-{i}" for i in range(warmup + count)]
    # Built before the window, so the sender's own encoding does not slow the pace it keeps.
    records = [_contact(tenant.gateway, c, q) for c, q in zip(contact_ids, queue_ids, strict=True)]
    # linger 0, as both baselines: a gateway's linger would be latency the router never sees.
    producer = make_producer(bootstrap, "bench-router-gateway", linger_ms=0)
    producer.prepare(INGRESS)
    watcher = OfferWatcher(bootstrap, tenant.tenant_id)
    sent: dict[str, float] = {}
    try:
        idle_rate = router.idle_cpu_rate()
        cpu_before = router.cpu_seconds()
        started = time.perf_counter()
        for i, (contact_id, record) in enumerate(zip(contact_ids, records, strict=True)):
            if rate:
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            sent[contact_id] = time.perf_counter()
            send(producer, record)
        producer.flush()
        # Generous: a saturated router still offers ten a second on a busy machine.
        limit = timeout_s if timeout_s is not None else 60.0 + len(contact_ids) / 10
        seen = watcher.wait_for(contact_ids, limit)
        cpu_after, cpu_read_at = router.cpu_seconds(), time.perf_counter()
    finally:
        watcher.close()
        producer.close()
    if len(seen) < len(contact_ids):
        raise BenchError(
            f"{len(contact_ids) - len(seen)} of {len(contact_ids)} contacts of tenant {tenant.tenant_id} "
            f"got no offer within {limit:.0f} s; see {router.log_path}"
        )
    window_s = max(seen.values()) - started
    # The router's pollers (timers, snapshots, the relay) cost CPU whether contacts come or not; at a
    # low pace that would read as a cost of each decision.
    decisions_cpu_s = max(0.0, cpu_after - cpu_before - idle_rate * (cpu_read_at - started))
    return RouterRun(
        agents=tenant.agents,
        queues=len(tenant.queue_ids),
        rate=rate,
        latency=stats(
            f"router, {tenant.agents} agents", [(seen[c] - sent[c]) * 1000 for c in contact_ids[warmup:]]
        ),
        offers_per_s=len(contact_ids) / window_s,
        cpu_ms_per_decision=decisions_cpu_s * 1000 / len(contact_ids),
    )


def warm_up(bootstrap: str, client: redis.Redis, router: RouterProcess) -> None:
    """A few contacts of a throwaway tenant, until the router has joined its group and offered
    them: the group join, the first connections and script loads are not any agent count's cost."""
    tenant = configure(client, agents=6, queues=2)
    try:
        measure(bootstrap, router, tenant, 2, rate=10, timeout_s=WARMUP_TIMEOUT_S)
    finally:
        cleanup(client, tenant.tenant_id)


@dataclass(frozen=True)
class Floors:
    java: LatencyStats
    bare: LatencyStats
    # What one bare round trip costs this process (its producer and consumer, every thread): a unit of
    # client work on this machine that a router decision's CPU can be set against.
    bare_cpu_ms: float


def baselines(bootstrap: str, count: int) -> Floors:
    java = kafka_end_to_end(bootstrap, latency_topic(bootstrap), count)
    cpu_before = time.process_time()
    bare = bare_round_trip(bootstrap, count)
    return Floors(java, bare, (time.process_time() - cpu_before) * 1000 / (count + WARMUP))


# -- report ---------------------------------------------------------------------------------------


def _ratio(value: float, floor: float) -> str:
    # EndToEndLatency rounds down to whole milliseconds: its median may read 0.
    return f"{value / floor:.2f}" if floor > 0 else "-"


def markdown(runs: Sequence[RouterRun], floors: Floors) -> str:
    """The router runs with their ratios to each baseline's two hops, then the baselines."""
    lines = [
        "| agents | queues | load | contacts | p50 ms | p99 ms | max ms | offers/s | router CPU ms/decision "
        "| p50 / 2x java | p99 / 2x java | p50 / 2x bare | p99 / 2x bare | CPU / bare round trip CPU |",
        "|" + "---|" * 14,
    ]
    for run in runs:
        lat = run.latency
        ratios = [
            _ratio(value, 2 * floor)
            for f in (floors.java, floors.bare)
            for value, floor in ((lat.p50_ms, f.p50_ms), (lat.p99_ms, f.p99_ms))
        ]
        lines.append(
            f"| {run.agents:,} | {run.queues} | {run.load} | {lat.count} "
            f"| {lat.p50_ms:.2f} | {lat.p99_ms:.2f} | {lat.max_ms:.2f} | {run.offers_per_s:,.0f} "
            f"| {run.cpu_ms_per_decision:.2f} | {' | '.join(ratios)} "
            f"| {_ratio(run.cpu_ms_per_decision, floors.bare_cpu_ms)} |"
        )
    lines += [
        "",
        "| baseline (same broker, same run) | records | p50 ms | p99 ms | max ms "
        "| two hops p50 ms | two hops p99 ms | client CPU ms/round trip |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f, cpu in ((floors.java, "-"), (floors.bare, f"{floors.bare_cpu_ms:.2f}")):
        lines.append(
            f"| {f.label} | {f.count} | {f.p50_ms:.2f} | {f.p99_ms:.2f} | {f.max_ms:.2f} "
            f"| {2 * f.p50_ms:.2f} | {2 * f.p99_ms:.2f} | {cpu} |"
        )
    return "\n".join(lines)


def verdicts(runs: Sequence[RouterRun]) -> list[str]:
    """One line per target, on the paced runs (a burst measures queueing, not a decision's latency)."""
    paced = sorted((r for r in runs if r.rate is not None), key=lambda r: r.agents)
    if not paced:
        return ["no paced run: no verdict"]
    top, bottom = paced[-1], paced[0]
    p99 = top.latency.p99_ms
    pace = (
        "the router kept up"
        if top.kept_up
        else f"the router offered {top.offers_per_s:,.0f}/s of the {top.load} sent: mostly queueing"
    )
    lines = [
        f"p99 at {top.agents:,} agents ({top.load}): {p99:.2f} ms, target < {P99_TARGET_MS:g} ms: "
        + ("met" if p99 < P99_TARGET_MS else "MISSED")
        + f" ({pace})"
    ]
    if top.agents == bottom.agents:
        lines.append("cost per decision: needs two agent counts")
    else:
        ratio = top.cpu_ms_per_decision / bottom.cpu_ms_per_decision
        lines.append(
            f"cost per decision {top.agents:,} vs {bottom.agents:,} agents: {ratio:.2f}x "
            f"({top.cpu_ms_per_decision:.2f} vs {bottom.cpu_ms_per_decision:.2f} router CPU ms), "
            f"target <= {COST_TARGET_RATIO:g}x: " + ("met" if ratio <= COST_TARGET_RATIO else "MISSED")
        )
    return lines


# -- main -----------------------------------------------------------------------------------------


def run(
    bootstrap: str, redis_url: str, args: argparse.Namespace, log_path: Path
) -> tuple[list[RouterRun], Floors]:
    client = redis.Redis.from_url(redis_url)
    tenants: list[str] = []
    runs: list[RouterRun] = []
    try:
        with running_router(bootstrap, redis_url, log_path) as router:
            with console.status("warming the router up..."):
                warm_up(bootstrap, client, router)
            for agents in args.agents:
                with Progress(console=console) as progress:
                    tenant = configure(client, agents, args.queues, progress=progress)
                tenants.append(tenant.tenant_id)
                with console.status(
                    f"{agents:,} agents: waiting for the relay, then {args.contacts} contacts"
                ):
                    runs.append(measure(bootstrap, router, tenant, args.contacts, args.rate, warmup=WARMUP))
                    if args.burst:
                        runs.append(measure(bootstrap, router, tenant, args.burst, None))
                for done in runs[-2 if args.burst else -1 :]:
                    console.print(
                        f"{done.agents:,} agents, {done.load}: p50 {done.latency.p50_ms:.2f} ms, "
                        f"p99 {done.latency.p99_ms:.2f} ms, {done.cpu_ms_per_decision:.2f} CPU ms/decision"
                    )
            with console.status(f"baselines: {args.baseline_count} round trips each..."):
                floors = baselines(bootstrap, args.baseline_count)
    finally:
        for tenant_id in tenants:
            cleanup(client, tenant_id)
        client.close()
    return runs, floors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--agents", type=int, nargs="+", default=[1000, 10_000], help="agent counts to measure"
    )
    parser.add_argument("--queues", type=int, default=100)
    parser.add_argument(
        "--contacts", type=int, default=450, help=f"paced contacts per agent count, after {WARMUP} uncounted"
    )
    parser.add_argument("--rate", type=float, default=200.0, help="paced contacts a second")
    parser.add_argument("--burst", type=int, help="contacts sent at once after the paced ones (0: none)")
    parser.add_argument("--baseline-count", type=int, default=1000, help="round trips per baseline")
    args = parser.parse_args()
    if args.burst is None:
        args.burst = args.queues
    if args.queues < 2 or args.contacts < 1 or args.rate <= 0:
        parser.error("give at least 2 queues, 1 contact and a positive rate")
    fits = capacity(min(args.agents), args.queues)
    if WARMUP + args.contacts + args.burst > fits:
        parser.error(
            f"{min(args.agents)} agents over {args.queues} queues can all be offered {fits} contacts at "
            f"once; {WARMUP} uncounted, --contacts and --burst make {WARMUP + args.contacts + args.burst}"
        )
    configure_logging("bench", level="WARNING", fmt="console")
    load_before = os.getloadavg()[0]
    with bench_stack("bench-router-stack") as stack:
        runs, floors = run(stack.bootstrap, stack.redis_url, args, stack.log_dir / "bench-router.log")
    print(markdown(runs, floors))
    print()
    for line in verdicts(runs):
        print(f"- {line}")
    print(machine_line(load_before))


if __name__ == "__main__":
    main()
