"""What every benchmark runs on: the broker and Redis named by HELPLINE_KAFKA_BOOTSTRAP and
HELPLINE_REDIS_URL when they are set, else its own local processes on free ports, started empty in
var/<name> and emptied again afterwards (the benchmark deletes what it wrote; its leftovers are not
worth replaying on the next start). Logs stay in var/<name>/log for a post-mortem.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from devstack.local_stack import LocalStack, StackConfig, free_port
from helpline.kafka import clients
from helpline.kafka.port import TopicPartition

console = Console(stderr=True)

_DATA_DIRS = ("kafka-data", "redis-data")


@dataclass(frozen=True)
class BenchStack:
    bootstrap: str
    redis_url: str
    kafka_lib: Path
    log_dir: Path


@contextmanager
def bench_stack(name: str, *, kafka: bool = True, redis: bool = True) -> Iterator[BenchStack]:
    """The environment's broker and Redis when it names those the benchmark needs, else its own; an
    endpoint the benchmark does not need is ''."""
    cfg = StackConfig(
        var_dir=StackConfig().var_dir / name,
        kafka_port=free_port(),
        controller_port=free_port(),
        sasl_port=free_port(),
        redis_port=free_port(),
    )
    bootstrap = os.environ.get("HELPLINE_KAFKA_BOOTSTRAP", "") if kafka else ""
    redis_url = os.environ.get("HELPLINE_REDIS_URL", "") if redis else ""
    if (bootstrap or not kafka) and (redis_url or not redis):
        yield BenchStack(bootstrap, redis_url, cfg.kafka_lib, cfg.log_dir)
        return
    stack = LocalStack(cfg)
    _empty(cfg)
    with console.status("starting the benchmark's own broker and Redis..."):
        if kafka:
            stack.up()
        else:
            stack.start(stack.redis())
    try:
        yield BenchStack(
            cfg.kafka_bootstrap if kafka else "", cfg.redis_url if redis else "", cfg.kafka_lib, cfg.log_dir
        )
    finally:
        stack.down()
        _empty(cfg)


def service_env(name: str, bootstrap: str, redis_url: str, http_port: int, **extra: str) -> dict[str, str]:
    """The environment of a service the benchmark runs as its child, configured like a pod."""
    return os.environ | {
        "HELPLINE_SERVICE_NAME": name,
        "HELPLINE_REDIS_URL": redis_url,
        "HELPLINE_AUTH_REDIS_URL": redis_url,
        "HELPLINE_KAFKA_BOOTSTRAP": bootstrap,
        "HELPLINE_HTTP_HOST": "127.0.0.1",
        "HELPLINE_HTTP_PORT": str(http_port),
        "HELPLINE_GRPC_PORT": str(free_port()),
        "HELPLINE_API_KEY_PEPPER": uuid.uuid4().hex,
        # The benchmarks measure the services, each through one key: not a key's rate limit.
        "HELPLINE_API_KEY_RATE_PER_SECOND": "1000000",
        "HELPLINE_API_KEY_RATE_BURST": "1000000",
        **extra,
    }


def kafka_client() -> str:
    """The backend of the Kafka port (helpline.kafka) the services run on, as HELPLINE_KAFKA_CLIENT
    says (they inherit it): the benchmarks' baselines use the same one."""
    return os.environ.get("HELPLINE_KAFKA_CLIENT") or clients.DEFAULT


def start_group_at_end(bootstrap: str, group: str, topics: list[str]) -> None:
    """A group that never committed would start at its topics' beginning and replay every earlier
    event of the broker (of tests, of other runs); its partitions that have no committed offset (or
    0, which the port cannot tell apart) are committed at their end instead. A group that has
    committed further keeps its place: it may be a real service's."""
    probe = clients.consumer(bootstrap, "bench-group-placer", group, client=kafka_client())
    try:
        partitions = [TopicPartition(topic, p) for topic in topics for p in probe.partitions_of(topic)]
        fresh = [tp for tp, offset in probe.committed(partitions).items() if offset == 0]
        # An empty partition's end is its beginning: nothing to skip there.
        ends = {tp: end for tp, end in probe.end_offsets(fresh).items() if end} if fresh else {}
        if ends:
            probe.commit(ends)
    finally:
        probe.close()


def machine_line(load_before: float, extra: str = "") -> str:
    """Broker, Redis, the services and the benchmark share the machine's CPUs; anything else running
    skews the timings (the ratios less), and this says how busy it was."""
    return (
        f"- machine: {os.cpu_count()} CPUs, 1-minute load average {load_before:.1f} at the start "
        f"and {os.getloadavg()[0]:.1f} at the end{extra}"
    )


def _empty(cfg: StackConfig) -> None:
    for data in _DATA_DIRS:
        shutil.rmtree(cfg.var_dir / data, ignore_errors=True)
