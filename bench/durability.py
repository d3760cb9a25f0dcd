"""What durability costs: ticket creates (the tickets use case, what the API does minus HTTP) on
three Redis setups, as ratios to the default in the same run.

- `everysec` (the default): one Redis, AOF fsynced once a second.
- `always`: one Redis, AOF fsynced before every reply.
- `WAIT 1`: a primary (AOF everysec) and one replica, each create followed by the replica barrier
  (helpline.durability, HELPLINE_REDIS_WAIT_REPLICAS=1), as the API does before it answers.

    uv run python -m bench.durability [--count 10000] [--clients 1 4] [--json PATH]

Each setup is its own redis-server processes on free ports, started empty under var/bench-durability
and removed afterwards. Prints a Markdown table; the numbers depend on the machine's disk and CPUs,
the ratios less.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis
from rich.console import Console
from rich.progress import Progress

from bench.tickets_throughput import (
    CLOSE_AFTER,
    CREATE,
    Measured,
    create_ticket,
    drive,
    parse_count_and_clients,
)
from devstack.local_stack import LocalStack, StackConfig, free_port
from helpline.clock import SystemClock
from helpline.durability import ReplicaBarrier
from services.tickets.store import TicketStore
from services.tickets.usecases import Tickets

console = Console(stderr=True)


@dataclass(frozen=True)
class Setup:
    name: str
    appendfsync: str
    replicas: int
    loses: str


SETUPS = (
    Setup("everysec", "everysec", 0, "up to about 1 s of acknowledged writes when Redis crashes"),
    Setup("always", "always", 0, "none when Redis crashes; all since the last backup if its disk is lost"),
    Setup("WAIT 1", "everysec", 1, "none when the primary dies, as long as the replica lives"),
)


@dataclass(frozen=True)
class Row:
    setup: str
    clients: int
    measured: Measured
    ratio: float
    loses: str


@contextmanager
def running(setup: Setup, var_dir: Path) -> Iterator[str]:
    """The setup's Redis processes, started empty; yields the primary's URL."""
    cfg = StackConfig(
        var_dir=var_dir / uuid.uuid4().hex[:8], redis_port=free_port(), redis_appendfsync=setup.appendfsync
    )
    stack = LocalStack(cfg)
    try:
        stack.start(stack.redis())
        for n in range(setup.replicas):
            stack.start(stack.redis(f"replica-{n}", free_port(), replica_of=cfg.redis_port))
        _wait_for_replicas(cfg.redis_url, setup.replicas)
        yield cfg.redis_url
    finally:
        stack.down()
        shutil.rmtree(cfg.var_dir, ignore_errors=True)


def _wait_for_replicas(url: str, replicas: int, timeout_s: float = 30) -> None:
    """Until the primary streams to `replicas` replicas: a replica answers PING before its first sync."""
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout_s
    try:
        while _online(client.info("replication")) < replicas:
            if time.monotonic() > deadline:
                raise SystemExit(f"the replicas did not sync with the primary within {timeout_s:.0f} s")
            time.sleep(0.1)
    finally:
        client.close()


def _online(replication: dict[str, Any]) -> int:
    """Replicas past their first sync (a replica still loading acknowledges nothing)."""
    return sum(
        1
        for key, value in replication.items()
        if key.startswith("slave") and isinstance(value, dict) and value.get("state") == "online"
    )


def measure(setup: Setup, redis_url: str, count: int, clients: int, progress: Progress) -> Measured:
    client = redis.Redis.from_url(redis_url)
    barrier = ReplicaBarrier(client, setup.replicas, timeout_ms=1000)
    store = TicketStore(client, int(CLOSE_AFTER.total_seconds() * 1000))
    tickets = Tickets(store, SystemClock(), CLOSE_AFTER)
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    created: list[str] = []

    def create_durably(i: int) -> str:
        ticket_id = create_ticket(tickets, tenant, i, created)
        barrier()
        return ticket_id

    indexes = [list(range(k, count, clients)) for k in range(clients)]
    try:
        measured, _ = drive(f"{CREATE} ({setup.name})", indexes, create_durably, progress)
    finally:
        client.close()
    return measured


def run(count: int, client_counts: list[int], var_dir: Path, progress: Progress) -> list[Row]:
    results: dict[tuple[str, int], Measured] = {}
    for setup in SETUPS:
        with running(setup, var_dir) as url:
            # A first pass, not counted, loads the scripts and grows the AOF and the replication
            # backlog, so the setup measured first pays no start-up the others do not.
            measure(setup, url, max(2, count // 10), 1, progress)
            for clients in client_counts:
                results[setup.name, clients] = measure(setup, url, count, clients, progress)
    baseline = SETUPS[0].name
    rows = []
    for clients in client_counts:
        for setup in SETUPS:
            measured = results[setup.name, clients]
            ratio = measured.ops_per_s / results[baseline, clients].ops_per_s
            rows.append(Row(setup.name, clients, measured, ratio, setup.loses))
    return rows


def markdown(rows: list[Row]) -> str:
    lines = [
        "| setup | clients | creates/s | p50 ms | p99 ms | ratio to everysec | acknowledged writes lost |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.setup} | {r.clients} | {r.measured.ops_per_s:,.0f} | {r.measured.p50_ms:.3f} "
        f"| {r.measured.p99_ms:.3f} | {r.ratio:.2f} | {r.loses} |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    args = parse_count_and_clients(
        __doc__.splitlines()[0], 10_000, "tickets created per setup and client count"
    )
    var_dir = StackConfig().var_dir / "bench-durability"
    with Progress(console=console) as progress:
        rows = run(args.count, args.clients, var_dir, progress)
    print(markdown(rows))
    if args.json:
        table: list[dict[str, Any]] = [asdict(r) for r in rows]
        args.json.write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
