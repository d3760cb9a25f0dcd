"""Ticket create and transition throughput and latency, as ratios to a baseline on the same Redis in
the same run: `redis-benchmark` running EVALSHA of a script of the same write shape (read the
current value, write it, append an event to a stream), one round trip per operation.

    uv run python -m bench.tickets_throughput [--count 20000] [--clients 1 4] [--json PATH]

Tickets go through `Tickets.create` / `Tickets.change` with the domain commands: what the API does
minus HTTP. Starts its own Redis (a local process), or uses HELPLINE_REDIS_URL if set; on a shared
Redis, stop the tickets relay first or it publishes the benchmark's events. The benchmark deletes
its keys and outbox entries afterwards. Prints a Markdown table; the numbers depend on the machine,
the ratios much less.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import redis
from rich.console import Console
from rich.progress import Progress

from bench.redis_benchmark import redis_benchmark
from bench.redis_keys import unlink_matching
from bench.stack import bench_stack
from helpline.clock import SystemClock
from helpline.domain import new_id
from helpline.logging import configure_logging
from services.tickets.domain import commands
from services.tickets.domain.model import Actor, AuthorType, Channel, Status
from services.tickets.store import OUTBOX_STREAM, TENANTS, TicketStore
from services.tickets.usecases import Tickets

console = Console(stderr=True)

X = TypeVar("X")
R = TypeVar("R")

CLOSE_AFTER = timedelta(days=4)
AGENT = Actor(AuthorType.AGENT, "agent-bench")
CREATE = "create"
OPEN = "transition new -> open"
SOLVE = "transition open -> solved"

# The baseline: the version read, the write and the event append of the tickets script, with none
# of its index upkeep, and no Python around it.
BASELINE_SCRIPT = """
redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
return redis.call('XADD', KEYS[2], '*', 'v', ARGV[1])
"""


@dataclass(frozen=True)
class Measured:
    ops: int
    ops_per_s: float
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Run:
    clients: int
    phases: dict[str, Measured]
    baseline: Measured | None


def _draft(tenant: str, i: int) -> commands.NewTicket:
    return commands.NewTicket(
        tenant_id=tenant,
        subject=f"Order {i} arrived damaged",
        description="The parcel was crushed and the screen is cracked; I would like a replacement.",
        requester_id=f"customer-{i % 1000}",
        channel=Channel.EMAIL,
        group_id="support-l1",
        tags=("damaged", "shipping"),
    )


def create_ticket(tickets: Tickets, tenant: str, i: int, created: list[str]) -> str:
    draft = _draft(tenant, i)
    customer = Actor(AuthorType.CUSTOMER, draft.requester_id)
    result = tickets.create(
        lambda ticket_id, now: commands.create(draft, customer, now, ticket_id=ticket_id, comment_id=new_id())
    )
    # Kept as it goes, so a run that fails half-way still finds its outbox entries to delete.
    created.append(result.ticket.ticket_id)
    return result.ticket.ticket_id


def _transition(tickets: Tickets, tenant: str, to: Status) -> Callable[[str], None]:
    def change(ticket_id: str) -> None:
        tickets.change(tenant, ticket_id, lambda current, now: commands.transition(current, to, AGENT, now))

    return change


def drive(
    label: str, batches: Sequence[Sequence[X]], op: Callable[[X], R], progress: Progress
) -> tuple[Measured, list[list[R]]]:
    """Run `op` on every item, one thread (and so one Redis connection) per batch, timing each call."""
    done = [0] * len(batches)
    latencies_ns: list[list[int]] = [[] for _ in batches]
    results: list[list[R]] = [[] for _ in batches]
    finished = [0.0] * len(batches)
    # The clock starts once every thread is up, so thread start-up is not counted as work.
    start = threading.Barrier(len(batches) + 1)

    def worker(k: int) -> None:
        start.wait()
        for item in batches[k]:
            began = time.perf_counter_ns()
            results[k].append(op(item))
            latencies_ns[k].append(time.perf_counter_ns() - began)
            done[k] += 1
        finished[k] = time.perf_counter()

    total = sum(len(b) for b in batches)
    task = progress.add_task(f"{label}, clients: {len(batches)}", total=total)
    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        futures = [pool.submit(worker, k) for k in range(len(batches))]
        start.wait()
        started = time.perf_counter()
        while wait(futures, timeout=0.2).not_done:
            progress.update(task, completed=sum(done))
        for future in futures:
            future.result()
    progress.update(task, completed=total)
    seconds = max(finished) - started
    cuts = statistics.quantiles([ns / 1e6 for lat in latencies_ns for ns in lat], n=100, method="inclusive")
    return Measured(total, total / seconds, cuts[49], cuts[98]), results


def evalsha_baseline(
    binary: str, redis_url: str, count: int, clients: int, tenant: str, value: str
) -> Measured:
    """EVALSHA of BASELINE_SCRIPT with redis-benchmark, `count` calls over `clients` connections,
    writing `value` (a ticket's stored JSON) to random keys of the tenant."""
    client = redis.Redis.from_url(redis_url)
    try:
        sha = str(client.script_load(BASELINE_SCRIPT))
    finally:
        client.close()
    command = [
        "EVALSHA",
        sha,
        "2",
        f"tk:{{{tenant}}}:bench:__rand_int__",
        f"tk:{{{tenant}}}:bench:events",
        value,
    ]
    run = redis_benchmark(binary, redis_url, count, clients, command, count)
    return Measured(count, run.requests_per_s, run.p50_ms, run.p99_ms)


def cleanup(client: redis.Redis, tenant: str, ticket_ids: Sequence[str], outbox_after: str | None) -> None:
    """Delete the tenant's keys, its entry in the tenant set and its outbox entries (which a shared
    Redis may interleave with other writers', so they are picked by ticket id); `outbox_after` is
    the outbox's last entry before the run, None if there was no outbox yet."""
    unlink_matching(client, f"tk:{{{tenant}}}:*")
    client.srem(TENANTS, tenant)
    ours = {ticket_id.encode() for ticket_id in ticket_ids}
    lowest = f"({outbox_after or '0-0'}"
    while True:
        entries: Any = client.xrange(OUTBOX_STREAM, min=lowest, max="+", count=1000)
        if not entries:
            break
        mine = [entry_id for entry_id, fields in entries if fields.get(b"k") in ours]
        if mine:
            client.xdel(OUTBOX_STREAM, *mine)
        lowest = f"({entries[-1][0].decode()}"
    created_outbox = outbox_after is None and client.exists(OUTBOX_STREAM)
    # An outbox the run created goes once empty, unless a relay has started reading it meanwhile.
    if created_outbox and not client.xlen(OUTBOX_STREAM) and not client.xinfo_groups(OUTBOX_STREAM):
        client.delete(OUTBOX_STREAM)


def _last_outbox_id(client: redis.Redis) -> str | None:
    if not client.exists(OUTBOX_STREAM):
        return None
    last: Any = client.xrevrange(OUTBOX_STREAM, count=1)
    return str(last[0][0].decode()) if last else "0-0"


def measure(
    redis_url: str,
    count: int,
    clients: int,
    *,
    benchmark_binary: str | None,
    progress: Progress,
) -> Run:
    """Create `count` tickets on a fresh tenant, open them, solve them, then run the baseline with
    the same count and client count (skipped when `benchmark_binary` is None); cleans up after."""
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    tickets = Tickets(
        TicketStore(client, int(CLOSE_AFTER.total_seconds() * 1000)), SystemClock(), CLOSE_AFTER
    )
    outbox_after = _last_outbox_id(client)
    ticket_ids: list[str] = []
    try:
        indexes = [list(range(k, count, clients)) for k in range(clients)]
        created, ids_by_client = drive(
            CREATE, indexes, lambda i: create_ticket(tickets, tenant, i, ticket_ids), progress
        )
        opened, _ = drive(OPEN, ids_by_client, _transition(tickets, tenant, Status.OPEN), progress)
        solved, _ = drive(SOLVE, ids_by_client, _transition(tickets, tenant, Status.SOLVED), progress)
        baseline = None
        if benchmark_binary is not None:
            sample = tickets.get(tenant, ticket_ids[0])
            task = progress.add_task(f"redis-benchmark EVALSHA, clients: {clients}", total=None)
            baseline = evalsha_baseline(
                benchmark_binary,
                redis_url,
                count,
                clients,
                tenant,
                json.dumps(sample.to_json(), separators=(",", ":")),
            )
            progress.update(task, total=1, completed=1)
        return Run(clients, {CREATE: created, OPEN: opened, SOLVE: solved}, baseline)
    finally:
        cleanup(client, tenant, ticket_ids, outbox_after)
        client.close()


def rows(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """One row per operation and client count, the baseline and ratio beside it."""
    out: list[dict[str, Any]] = []
    for run in runs:
        for operation, ours in run.phases.items():
            base = run.baseline
            out.append(
                {
                    "operation": operation,
                    "clients": run.clients,
                    **asdict(ours),
                    "baseline": "redis-benchmark EVALSHA (GET + SET + XADD)",
                    "baseline_ops_per_s": base.ops_per_s if base else None,
                    "baseline_p50_ms": base.p50_ms if base else None,
                    "baseline_p99_ms": base.p99_ms if base else None,
                    "ratio": ours.ops_per_s / base.ops_per_s if base else None,
                }
            )
    return out


def _markdown(table: Sequence[dict[str, Any]]) -> str:
    def number(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines = [
        "| operation | clients | ops/s | p50 ms | p99 ms "
        "| EVALSHA ops/s | EVALSHA p50 ms | EVALSHA p99 ms | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['operation']} | {r['clients']} | {r['ops_per_s']:,.0f} | {r['p50_ms']:.3f} "
        f"| {r['p99_ms']:.3f} | {number(r['baseline_ops_per_s'], ',.0f')} "
        f"| {number(r['baseline_p50_ms'], '.3f')} | {number(r['baseline_p99_ms'], '.3f')} "
        f"| {number(r['ratio'], '.2f')} |"
        for r in table
    ]
    return "\n".join(lines)


def parse_count_and_clients(description: str, count: int, count_help: str) -> argparse.Namespace:
    """--count, --clients and --json, the options of the benchmarks that drive ticket use cases."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--count", type=int, default=count, help=count_help)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4], help="client counts to measure")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    if args.count < 2 or min(args.clients) < 1:
        parser.error("--count needs at least 2 tickets and --clients at least 1 client")
    configure_logging("bench", level="WARNING", fmt="console")
    return args


def main() -> None:
    args = parse_count_and_clients(__doc__.splitlines()[0], 20_000, "tickets per client count")
    binary = shutil.which("redis-benchmark")
    if binary is None:
        raise SystemExit("`redis-benchmark` is not installed; run `make deps` (it ships with redis-server).")
    with bench_stack("bench-tickets", kafka=False) as stack:
        client = redis.Redis.from_url(stack.redis_url)
        version = str(client.info("server")["redis_version"])
        client.close()
        with Progress(console=console) as progress:
            runs = [
                measure(stack.redis_url, args.count, clients, benchmark_binary=binary, progress=progress)
                for clients in args.clients
            ]
    table = rows(runs)
    print(_markdown(table))
    if args.json:
        report = {"benchmark": "tickets_throughput", "count": args.count, "redis_version": version}
        args.json.write_text(json.dumps({**report, "rows": table}, indent=2) + "\n")


if __name__ == "__main__":
    main()
