"""`redis-benchmark` as a baseline: one command run many times over a number of connections, one
round trip each, on the Redis a benchmark measures against."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class BenchmarkRun:
    requests_per_s: float
    p50_ms: float
    p99_ms: float


def redis_benchmark(
    binary: str, redis_url: str, count: int, clients: int, command: Sequence[str], random_range: int
) -> BenchmarkRun:
    """`command` run `count` times over `clients` connections; `__rand_int__` in it is a random
    number below `random_range`."""
    done = subprocess.run(
        [
            binary,
            "-u",
            redis_url,
            "-n",
            str(count),
            "-c",
            str(clients),
            "-P",
            "1",
            "-r",
            str(random_range),
            "--csv",
            *command,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    # A header line, then: "test","rps","avg","min","p50","p95","p99","max" (latencies in ms). The test
    # name is the command line, its quotes and commas unescaped, so split from the right.
    line = done.stdout.strip().splitlines()[-1]
    rps, _avg, _min, p50, _p95, p99, _max = (float(f.strip('"')) for f in line.rsplit(",", 7)[1:])
    return BenchmarkRun(rps, p50, p99)
