"""Breach-detection lag of the SLA service's durable timers with a million of them held, beside
`redis-benchmark` on the same Redis in the same run: ZADD into the same sorted set, and EVALSHA of a
script of a fired timer's write shape.

    uv run python -m bench.sla_timers [--timers 1000000] [--due 20000] [--window 30] [--workers 1 2]

The sorted set `sla:timers` is first loaded with `--timers` timers of a fresh tenant: members of the
real shape (a queued contact's warning and breach), due hours ahead, so they never fire but are
what every claim ranges over. Then, for each worker count, two runs on top of them, each on contacts
queued through `QueueWatches.contact_queued` as the service's consumer does: `--due` timers coming
due spread over `--window` seconds of real time, then a burst of `--burst` timers due at one
instant. TimerWorker processes with the service's handlers fire them, as that many replicas would.
A timer's lag runs from its due instant to its alert's entry in the outbox `sla:outbox`, whose id
is Redis' clock in milliseconds.

Starts its own Redis (a local process), or uses HELPLINE_REDIS_URL if set: then stop the SLA
service on that Redis first, as its timer worker would fire the benchmark's timers and its relay
would take their alerts. No relay runs here, so publishing to Kafka is not in the lag. The
benchmark deletes its keys, timers and outbox entries afterwards. Prints Markdown tables and one
verdict per paced run; asserts nothing. The numbers depend on the machine, the ratios much less.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any

import redis
from rich.console import Console
from rich.progress import Progress

from bench.latency_baselines import LatencyStats, stats
from bench.redis_benchmark import redis_benchmark
from bench.redis_keys import unlink_matching
from bench.stack import bench_stack, machine_line
from helpline.clock import SystemClock
from helpline.events import from_record
from helpline.logging import configure_logging
from helpline.outbox import decode_headers
from helpline.v1 import sla_events_pb2
from services.sla.config import SlaConfig
from services.sla.domain.queue_watch import QueueTarget, Watch, WatchRecord
from services.sla.store import OUTBOX_STREAM, SEP, TIMERS, Keys, SlaStore, Subject, TimerKey, epoch_ms
from services.sla.ticket_slas import TicketSlas
from services.sla.timers import TimerWorker
from services.sla.watches import BREACH, RECORDS, WARNING, QueueWatches

console = Console(stderr=True)

LAG_TARGET_MS = 1000.0
CHANNEL = "voice"
# "Answered within 20 s": a watch warns at 15 s and breaches at 20 s, so a window longer than the
# 5 s between them sees both timers of a contact come due.
QUEUE_THRESHOLD = timedelta(seconds=20)
# A burst's contacts all warn at one instant; their breaches come a quarter of this later, after
# the run, and stay among the timers held.
BURST_THRESHOLD = timedelta(hours=1)
# The timers held come due between these, long after the benchmark is over.
HELD_FROM = timedelta(hours=1)
HELD_SPAN = timedelta(hours=8)
LOAD_BATCH = 20_000
# contact_queued is three round trips: a slow machine still queues this many contacts a second, so
# a run's first timer is scheduled this far ahead of its queueing.
QUEUEING_FLOOR_PER_S = 1000.0
LEAD = timedelta(seconds=1)
# A timer not fired this long after its instant (plus a hundredth of a second per timer) has not
# been lost by the benchmark's patience.
GRACE = timedelta(seconds=10)
POLL_S = 0.2
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
SWEEP_COUNT = 10_000
QUIET_TIMEOUT_S = 120.0
FORKING = ("aof_rewrite_in_progress", "aof_rewrite_scheduled", "rdb_bgsave_in_progress")
# What a worker does per timer besides its claim: the commit's revision read, record write, timer
# removal and event append, without Python around them.
FIRE_SHAPE_SCRIPT = """
redis.call('HGET', KEYS[1], 'r')
redis.call('HSET', KEYS[1], 'r', 1, 'd', ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return redis.call('XADD', KEYS[3], '*', 'v', ARGV[1])
"""

# KEYS: the timers. ARGV: the first and last timer number, the first contact's enqueue instant
# (epoch ms), ms between contacts, then per timer of a contact its member template ('#' stands for
# the contact's number) and its due offset from the enqueue instant (ms). Members are built here
# rather than sent: a million of them through redis-py costs several times the ZADDs.
_LOAD = """
local first, last = tonumber(ARGV[1]), tonumber(ARGV[2])
local since, step = tonumber(ARGV[3]), tonumber(ARGV[4])
local per_contact = (#ARGV - 4) / 2
local args = {}
for n = first, last do
  local contact = math.floor(n / per_contact)
  local at = 5 + 2 * (n % per_contact)
  args[#args + 1] = math.floor(since + contact * step) + tonumber(ARGV[at + 1])
  args[#args + 1] = (string.gsub(ARGV[at], '#', tostring(contact)))
  -- unpack() takes a few thousand values at most
  if #args >= 4000 then
    redis.call('ZADD', KEYS[1], unpack(args))
    args = {}
  end
end
if #args > 0 then redis.call('ZADD', KEYS[1], unpack(args)) end
return last - first + 1
"""

# KEYS: the timers. ARGV: a ZSCAN cursor, a MATCH pattern, a COUNT. Removes one page's matches and
# returns the next cursor, so a shared set is swept without shipping a million members around.
_SWEEP = """
local page = redis.call('ZSCAN', KEYS[1], ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local found, members = page[2], {}
for i = 1, #found, 2 do
  members[#members + 1] = found[i]
  if #members == 4000 then
    redis.call('ZREM', KEYS[1], unpack(members))
    members = {}
  end
end
if #members > 0 then redis.call('ZREM', KEYS[1], unpack(members)) end
return page[1]
"""


class BenchError(RuntimeError):
    """A worker did not start, contacts were queued too slowly, or timers did not fire."""


# -- the timers held --------------------------------------------------------------------------------


def held_templates(tenant: str, since: datetime) -> list[tuple[str, int]]:
    """Each timer of a held contact: its member template ('#' for the contact's number), from the real
    Watch and TimerKey, and its due offset in ms from the contact's enqueue instant."""
    watch = Watch("held-#", "q-held", CHANNEL, since, QUEUE_THRESHOLD)
    return [
        (
            TimerKey(tenant, Subject.CONTACT, watch.contact_id, watch.instance_id, trigger).member,
            _ms(due - since),
        )
        for trigger, due in ((WARNING, watch.warn_at), (BREACH, watch.deadline))
    ]


def load_held(client: redis.Redis, tenant: str, count: int, progress: Progress) -> float:
    """Add `count` timers of the tenant's held contacts, due between HELD_FROM and HELD_FROM +
    HELD_SPAN from now; returns timers loaded a second."""
    script = client.register_script(_LOAD)
    since = SystemClock().now() + HELD_FROM
    templates = held_templates(tenant, since)
    step_ms = _ms(HELD_SPAN) / max(1, count // len(templates))
    flat = [part for template in templates for part in template]
    task = progress.add_task(f"loading {count:,} timers due hours ahead", total=count)
    started = time.perf_counter()
    for first in range(0, count, LOAD_BATCH):
        last = min(count, first + LOAD_BATCH) - 1
        script(keys=[TIMERS], args=[first, last, epoch_ms(since), step_ms, *flat])
        progress.update(task, completed=last + 1)
    return count / max(time.perf_counter() - started, 1e-9)


# -- what comes due -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """`timers` coming due spread over `window` (zero: all at once), on contacts queued on a queue of
    `threshold`; a contact brings both its warning and its breach when both fall in the window."""

    timers: int
    window: timedelta
    threshold: timedelta = QUEUE_THRESHOLD

    @property
    def paced(self) -> bool:
        return self.window > timedelta(0)

    @property
    def rate(self) -> float | None:
        return self.timers / self.window.total_seconds() if self.paced else None

    @property
    def label(self) -> str:
        return f"paced {self.rate:,.0f}/s" if self.rate else "burst"

    @property
    def per_contact(self) -> int:
        _, gap = _offsets(self.threshold)
        return 2 if gap <= self.window else 1

    @property
    def contacts(self) -> int:
        return max(1, self.timers // self.per_contact)


@dataclass(frozen=True)
class Schedule:
    """The contacts of one run, each with its enqueue instant, and the timers of theirs that come due
    in the run with their due instants."""

    target: QueueTarget
    since: dict[str, datetime]
    due: dict[tuple[str, str], datetime]


def plan(load: Load, name: str, start: datetime) -> Schedule:
    """Contacts whose first timer comes due at `start` and whose timers come due evenly over the
    window after it; enqueue instants are whole milliseconds, as the timers' scores are."""
    warn_offset, gap = _offsets(load.threshold)
    spread = load.window - gap if load.per_contact == 2 else load.window
    steps = max(1, load.contacts - 1)
    first_since = start - warn_offset
    since = {f"{name}-{i}": _whole_ms(first_since + spread * i / steps) for i in range(load.contacts)}
    end = start + load.window
    due: dict[tuple[str, str], datetime] = {}
    for contact_id, at in since.items():
        watch = Watch(contact_id, name, CHANNEL, at, load.threshold)
        for trigger, instant in ((WARNING, watch.warn_at), (BREACH, watch.deadline)):
            if instant <= end:
                due[(contact_id, trigger)] = instant
    return Schedule(QueueTarget(name, load.threshold, 1), since, due)


def queue_contacts(watches: QueueWatches, tenant: str, schedule: Schedule, progress: Progress) -> None:
    watches.configure_queue(tenant, schedule.target)
    task = progress.add_task(f"queueing {len(schedule.since):,} contacts", total=len(schedule.since))
    for done, (contact_id, since) in enumerate(schedule.since.items(), 1):
        watches.contact_queued(tenant, contact_id, schedule.target.queue_id, CHANNEL, since, since)
        if done % 100 == 0 or done == len(schedule.since):
            progress.update(task, completed=done)


# -- the workers ------------------------------------------------------------------------------------


def _worker_process(redis_url: str, ready: ProcessEvent, stop: ProcessEvent) -> None:
    """One replica's timer worker, with the handlers the service gives it, until `stop` is set."""
    configure_logging("bench-sla-timers", level="WARNING", fmt="console")
    client = redis.Redis.from_url(redis_url)
    store = SlaStore(client)
    worker = TimerWorker(
        store,
        SystemClock(),
        {Subject.CONTACT: QueueWatches(store).fire, Subject.TICKET: TicketSlas(store, SlaConfig(store)).fire},
    )

    def stop_when_told() -> None:
        stop.wait()
        worker.stop()

    threading.Thread(target=stop_when_told, daemon=True).start()
    client.ping()
    ready.set()
    worker.run()
    client.close()


@contextmanager
def timer_workers(redis_url: str, count: int) -> Iterator[None]:
    """`count` worker processes, up before the block starts and stopped when it ends. Processes, not
    threads: replicas share no interpreter lock. Spawned, not forked: a fork would copy locks this
    process' own threads (rich's refresh, redis-py's pool) might be holding."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    readies = [context.Event() for _ in range(count)]
    processes = [
        context.Process(target=_worker_process, args=(redis_url, ready, stop), name=f"sla-timers-{k}")
        for k, ready in enumerate(readies)
    ]
    for process in processes:
        process.start()
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        for process, ready in zip(processes, readies, strict=True):
            while not ready.wait(POLL_S):
                if not process.is_alive() or time.monotonic() > deadline:
                    raise BenchError(f"timer worker {process.name} did not start (exit {process.exitcode})")
        yield
    finally:
        stop.set()
        for process in processes:
            process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join()


# -- the outbox -----------------------------------------------------------------------------------


def last_outbox_id(client: redis.Redis) -> str | None:
    if not client.exists(OUTBOX_STREAM):
        return None
    last: Any = client.xrevrange(OUTBOX_STREAM, count=1)
    return str(last[0][0].decode()) if last else "0-0"


def _alert(fields: dict[bytes, bytes]) -> tuple[str, str, str] | None:
    """(tenant, contact id, trigger) of a queue alert's outbox entry; None for any other event."""
    message = from_record(decode_headers(fields[b"h"]), fields[b"v"]).message
    if isinstance(message, sla_events_pb2.SlaQueueWarning):
        return message.tenant_id, message.queued_contact.contact_id, WARNING
    if isinstance(message, sla_events_pb2.SlaQueueBreached):
        return message.tenant_id, message.queued_contact.contact_id, BREACH
    return None


def _entries_after(client: redis.Redis, after: str | None) -> Iterator[tuple[str, dict[bytes, bytes]]]:
    lowest = f"({after or '0-0'}"
    while True:
        entries: Any = client.xrange(OUTBOX_STREAM, min=lowest, max="+", count=1000)
        if not entries:
            return
        for entry_id, fields in entries:
            yield entry_id.decode(), fields
        lowest = f"({entries[-1][0].decode()}"


@dataclass
class OutboxReader:
    """The tenant's queue alerts appended to the outbox after `after`, read as they come: when each
    (contact id, trigger) landed, by Redis' clock in epoch ms, once per alert."""

    client: redis.Redis
    tenant: str
    after: str | None
    landed: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def poll(self) -> None:
        for entry_id, fields in _entries_after(self.client, self.after):
            self.after = entry_id
            alert = _alert(fields)
            if alert is not None and alert[0] == self.tenant:
                self.landed.setdefault(alert[1:], []).append(int(entry_id.split("-")[0]))


# -- Redis' clock and its forks --------------------------------------------------------------------


def redis_clock_offset_ms(client: redis.Redis) -> float:
    """Redis' clock minus this one, so entry ids compare with due instants on a Redis elsewhere."""
    before = time.time()
    seconds, micros = client.time()
    after = time.time()
    return seconds * 1000 + micros / 1000 - (before + after) * 500


def wait_for_quiet(client: redis.Redis) -> None:
    """Until Redis is neither rewriting its AOF nor saving a snapshot (or QUIET_TIMEOUT_S has passed):
    either forks a copy of a million timers onto the CPUs the measurement shares, and the
    measurement would count that as Redis' slowness."""
    deadline = time.monotonic() + QUIET_TIMEOUT_S
    while time.monotonic() < deadline:
        info: Any = client.info("persistence")
        if not any(int(info.get(flag, 0)) for flag in FORKING):
            return
        time.sleep(POLL_S)


def forks(client: redis.Redis) -> int:
    """AOF rewrites and snapshots Redis has made since it started."""
    info: Any = client.info("persistence")
    return int(info.get("aof_rewrites", 0)) + int(info.get("rdb_saves", 0))


# -- one run --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimerRun:
    load: str
    workers: int
    # ZCARD of the timers set when the run's timers were all scheduled.
    held: int
    due: int
    # Timers whose alert landed more than once.
    repeated: int
    lag: LatencyStats
    fired_per_s: float
    # Timers coming due a second; None for a burst.
    rate: float | None

    @property
    def kept_up(self) -> bool:
        """Alerts came as fast as timers came due: the lag is the workers', not a queue's."""
        return self.rate is not None and self.fired_per_s >= 0.95 * self.rate


def _await_alerts(reader: OutboxReader, schedule: Schedule, progress: Progress, label: str) -> None:
    """Until every timer of the schedule has an alert, or its last one is GRACE (and a hundredth of a
    second per timer) overdue."""
    due = schedule.due
    deadline = max(due.values()) + GRACE + timedelta(seconds=len(due) / 100)
    task = progress.add_task(label, total=len(due))
    clock = SystemClock()
    while True:
        reader.poll()
        fired = sum(1 for key in due if key in reader.landed)
        progress.update(task, completed=fired)
        if fired == len(due) or clock.now() > deadline:
            return
        time.sleep(POLL_S)


def _summary(load: Load, workers: int, held: int, schedule: Schedule, reader: OutboxReader) -> TimerRun:
    offset = redis_clock_offset_ms(reader.client)
    due_ms = {key: instant.timestamp() * 1000 for key, instant in schedule.due.items()}
    first_landed = {key: reader.landed[key][0] - offset for key in due_ms}
    window_ms = max(first_landed.values()) - min(due_ms.values())
    return TimerRun(
        load=load.label,
        workers=workers,
        held=held,
        due=len(due_ms),
        repeated=sum(1 for key in due_ms if len(reader.landed[key]) > 1),
        lag=stats(load.label, [first_landed[key] - due_ms[key] for key in due_ms]),
        fired_per_s=len(due_ms) * 1000 / max(window_ms, 1.0),
        rate=load.rate,
    )


def measure(
    client: redis.Redis, redis_url: str, tenant: str, load: Load, workers: int, progress: Progress
) -> TimerRun:
    """Queue the load's contacts while `workers` timer workers run, wait for their timers' alerts in
    the outbox, and time each from its due instant."""
    store = SlaStore(client)
    watches = QueueWatches(store)
    name = f"{'paced' if load.paced else 'burst'}-{workers}w-{uuid.uuid4().hex[:6]}"
    reader = OutboxReader(client, tenant, last_outbox_id(client))
    clock = SystemClock()
    with timer_workers(redis_url, workers):
        wait_for_quiet(client)
        start = _whole_ms(clock.now() + LEAD + timedelta(seconds=load.contacts / QUEUEING_FLOOR_PER_S))
        schedule = plan(load, name, start)
        queue_contacts(watches, tenant, schedule, progress)
        held = store.timers()
        if clock.now() >= start:
            raise BenchError(
                f"queueing {load.contacts:,} contacts took past their first timer's instant: this machine "
                f"queues fewer than {QUEUEING_FLOOR_PER_S:,.0f} contacts a second"
            )
        label = f"{load.label}, {_workers(workers)}: {len(schedule.due):,} timers"
        _await_alerts(reader, schedule, progress, label)
    # The workers are stopped: an alert landing twice has landed by now.
    reader.poll()
    missing = [key for key in schedule.due if key not in reader.landed]
    if missing:
        raise BenchError(f"{len(missing):,} of {len(schedule.due):,} timers of queue {name} did not fire")
    return _summary(load, workers, held, schedule, reader)


# -- baselines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    clients: int
    zadd_per_s: float
    evalsha_per_s: float


def ops_per_s(binary: str, redis_url: str, count: int, clients: int, command: Sequence[str]) -> float:
    # __rand_int__ picks among a billion: a run's members are almost all new ones.
    return redis_benchmark(binary, redis_url, count, clients, command, 1_000_000_000).requests_per_s


def baseline(binary: str, redis_url: str, tenant: str, count: int, clients: int) -> Baseline:
    """ZADD into the timers set the runs used (scores in the 23rd century, so no worker would ever
    claim them, members of the tenant so the cleanup finds them), then EVALSHA of FIRE_SHAPE_SCRIPT
    on the tenant's keys."""
    member = TimerKey(tenant, Subject.CONTACT, "z-__rand_int__", "z-__rand_int__:q:0", BREACH).member
    base = Keys(tenant).base
    now = SystemClock().now()
    # A watch record's JSON, as the store holds it.
    record = RECORDS.dumps(WatchRecord("c", Watch("c", "q", CHANNEL, now, QUEUE_THRESHOLD), now))
    client = redis.Redis.from_url(redis_url)
    try:
        sha = str(client.script_load(FIRE_SHAPE_SCRIPT))
        wait_for_quiet(client)
        zadd = ops_per_s(binary, redis_url, count, clients, ["ZADD", TIMERS, "9__rand_int__", member])
        wait_for_quiet(client)
        evalsha = ops_per_s(
            binary,
            redis_url,
            count,
            clients,
            [
                "EVALSHA",
                sha,
                "3",
                f"{base}:bench:__rand_int__",
                TIMERS,
                f"{base}:bench:outbox",
                record,
                member,
            ],
        )
    finally:
        client.close()
    return Baseline(clients, zadd, evalsha)


# -- cleanup --------------------------------------------------------------------------------------


def cleanup(client: redis.Redis, tenant: str, outbox_after: str | None) -> None:
    """Delete the tenant's timers from the shared set, its keys, and its alerts from the outbox (which
    a shared Redis may interleave with other writers'); `outbox_after` is the outbox's last entry
    before the benchmark, None if there was no outbox yet."""
    sweep = client.register_script(_SWEEP)
    cursor: Any = 0
    while True:
        cursor = sweep(keys=[TIMERS], args=[cursor, f"{tenant}{SEP}*", SWEEP_COUNT])
        if int(cursor) == 0:
            break
    unlink_matching(client, f"{Keys(tenant).base}:*")
    entries = _entries_after(client, outbox_after)
    mine = [entry_id for entry_id, fields in entries if _tenant_of(fields) == tenant]
    for at in range(0, len(mine), 1000):
        client.xdel(OUTBOX_STREAM, *mine[at : at + 1000])
    created_outbox = outbox_after is None and client.exists(OUTBOX_STREAM)
    # An outbox the benchmark created goes once empty, unless a relay has started reading it meanwhile.
    if created_outbox and not client.xlen(OUTBOX_STREAM) and not client.xinfo_groups(OUTBOX_STREAM):
        client.delete(OUTBOX_STREAM)


def _tenant_of(fields: dict[bytes, bytes]) -> str | None:
    alert = _alert(fields)
    return None if alert is None else alert[0]


# -- the whole run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    loaded: int
    load_per_s: float
    runs: list[TimerRun]
    baselines: dict[int, Baseline]
    # Redis' AOF rewrites and snapshots from the load to the last baseline: one may have overlapped
    # a measurement, which waits only for those running when it starts.
    forks: int


def run(redis_url: str, args: argparse.Namespace, binary: str, progress: Progress) -> Report:
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    outbox_after = last_outbox_id(client)
    loads = [Load(args.due, timedelta(seconds=args.window))]
    if args.burst:
        loads.append(Load(args.burst, timedelta(0), BURST_THRESHOLD))
    forks_before = forks(client)
    try:
        load_per_s = load_held(client, tenant, args.timers, progress)
        runs = [
            measure(client, redis_url, tenant, load, workers, progress)
            for workers in args.workers
            for load in loads
        ]
        baselines: dict[int, Baseline] = {}
        for workers in args.workers:
            task = progress.add_task(f"redis-benchmark ZADD and EVALSHA, clients: {workers}", total=None)
            baselines[workers] = baseline(binary, redis_url, tenant, args.baseline_count, workers)
            progress.update(task, total=1, completed=1)
        forked = forks(client) - forks_before
    finally:
        task = progress.add_task("deleting the benchmark's timers, keys and alerts", total=None)
        cleanup(client, tenant, outbox_after)
        progress.update(task, total=1, completed=1)
        client.close()
    return Report(args.timers, load_per_s, runs, baselines, forked)


# -- report ---------------------------------------------------------------------------------------


def _ratio(value: float, floor: float | None) -> str:
    return "-" if floor is None else f"{value / floor:.3f}"


def markdown(report: Report) -> str:
    """The runs, with a burst's fired/s as a ratio to the baselines of as many connections (a paced
    run fires as fast as timers come due, which says nothing of what the workers could do), then the
    baselines."""
    lines = [
        "| load | workers | timers held | timers due | fired twice | lag p50 ms | lag p99 ms | lag max ms "
        "| fired/s | fired / ZADD | fired / EVALSHA |",
        "|" + "---|" * 11,
    ]
    for r in report.runs:
        base = None if r.rate is not None else report.baselines.get(r.workers)
        lines.append(
            f"| {r.load} | {r.workers} | {r.held:,} | {r.due:,} | {r.repeated} | {r.lag.p50_ms:.0f} "
            f"| {r.lag.p99_ms:.0f} | {r.lag.max_ms:.0f} | {r.fired_per_s:,.0f} "
            f"| {_ratio(r.fired_per_s, base.zadd_per_s if base else None)} "
            f"| {_ratio(r.fired_per_s, base.evalsha_per_s if base else None)} |"
        )
    lines += [
        "",
        "| baseline (same Redis, same run) | clients | ops/s |",
        "|---|---|---|",
    ]
    for b in report.baselines.values():
        lines.append(f"| redis-benchmark ZADD sla:timers | {b.clients} | {b.zadd_per_s:,.0f} |")
        lines.append(
            f"| redis-benchmark EVALSHA (HGET + HSET + ZREM + XADD) | {b.clients} | {b.evalsha_per_s:,.0f} |"
        )
    return "\n".join(lines)


def verdicts(report: Report) -> list[str]:
    """The load rate, then one verdict per paced run (a burst measures queueing, not detection)."""
    lines = [f"loaded {report.loaded:,} timers at {report.load_per_s:,.0f} timers/s"]
    paced = [r for r in report.runs if r.rate is not None]
    if not paced:
        return [*lines, "no paced run: no verdict"]
    for r in paced:
        p99 = r.lag.p99_ms
        pace = "the workers kept up"
        if not r.kept_up:
            pace = (
                f"the workers fired {r.fired_per_s:,.0f}/s of the {r.rate:,.0f}/s coming due: mostly queueing"
            )
        lines.append(
            f"p99 lag with {r.held:,} timers held ({r.load}, {_workers(r.workers)}): {p99:.0f} ms, "
            f"target < {LAG_TARGET_MS:,.0f} ms: "
            + ("met" if p99 < LAG_TARGET_MS else "MISSED")
            + f" ({pace})"
        )
    return lines


# -- helpers --------------------------------------------------------------------------------------


def _workers(count: int) -> str:
    return f"{count} worker" + ("s" if count > 1 else "")


def _ms(delta: timedelta) -> int:
    return round(delta.total_seconds() * 1000)


def _whole_ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


def _offsets(threshold: timedelta) -> tuple[timedelta, timedelta]:
    """From a contact's enqueue instant to its warning, and from its warning to its breach, as the
    domain's Watch sets them."""
    watch = Watch("c", "q", CHANNEL, datetime.fromtimestamp(0, UTC), threshold)
    return watch.warn_at - watch.since, watch.deadline - watch.warn_at


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=1_000_000, help="timers held, due hours ahead")
    parser.add_argument("--due", type=int, default=20_000, help="timers coming due over the window")
    parser.add_argument("--window", type=float, default=30.0, help="seconds the due timers are spread over")
    parser.add_argument(
        "--burst", type=int, help="timers coming due at one instant (default: --due; 0: none)"
    )
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1], help="worker process counts to measure"
    )
    parser.add_argument(
        "--baseline-count", type=int, default=100_000, help="requests per redis-benchmark run"
    )
    args = parser.parse_args()
    if args.burst is None:
        args.burst = args.due
    if args.timers < 0 or args.due < 2 or args.window <= 0 or min(args.workers) < 1 or args.burst < 0:
        parser.error("give at least 2 due timers, a positive window and at least 1 worker")
    configure_logging("bench", level="WARNING", fmt="console")
    binary = shutil.which("redis-benchmark")
    if binary is None:
        raise SystemExit("`redis-benchmark` is not installed; run `make deps` (it ships with redis-server).")
    load_before = os.getloadavg()[0]
    with bench_stack("bench-sla", kafka=False) as stack, Progress(console=console) as progress:
        report = run(stack.redis_url, args, binary, progress)
    print(markdown(report))
    print()
    for line in verdicts(report):
        print(f"- {line}")
    print(
        machine_line(
            load_before, f"; Redis forked {report.forks} times meanwhile (AOF rewrites and snapshots)"
        )
    )


if __name__ == "__main__":
    main()
