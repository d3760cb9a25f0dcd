"""Every benchmark of the services in one run, written up as docs/benchmarks.md: each benchmark's own
Markdown (throughput, p50 and p99 latency, ratios to the baselines it measures in the same run), with
what it measures, how long it took and the machine it ran on.

    uv run python -m bench.report [--out docs/benchmarks.md] [--only NAME ...] [--merge] [--quick]

Each benchmark runs as a child process (`python -m bench.<name>`), one after another so they never
share the CPUs; its stdout is the report's section, its stderr (progress) goes to the terminal. The
file is replaced only once every benchmark has succeeded. `--quick` runs them all with small sizes,
to check the report end to end in a few minutes; its figures are not representative. `--merge`
(with `--only`) runs those benchmarks again and puts their sections into the existing report in
place of the old ones, keeping the others, with a line saying when they ran.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from devstack.local_stack import REPO_ROOT

DEFAULT_OUT = REPO_ROOT / "docs" / "benchmarks.md"
POM = REPO_ROOT / "deploy" / "local" / "pom.xml"
# After Ctrl-C (which the child gets too), how long the child may take to stop the broker and Redis
# it started before it is terminated: killing it at once would leave them running.
STOP_GRACE_S = 60.0


@dataclass(frozen=True)
class Bench:
    measures: str
    baseline: str
    # The arguments of `make bench`, and of --quick: small sizes that keep each bench's own checks
    # (router_latency's capacity, sla_timers' minimum due count) satisfied.
    args: tuple[str, ...]
    quick_args: tuple[str, ...]
    # Rough wall times on the 2-CPU development machine (the quick ones measured, the full ones
    # estimated from the sizes), only for the progress line.
    about_s: float
    quick_about_s: float


BENCHES: dict[str, Bench] = {
    "bus_throughput": Bench(
        measures="Producer and consumer throughput (records/s) of the helpline bus: CloudEvents with "
        "protobuf payloads through `helpline.bus`, on each backend of the Kafka port (`helpline.kafka`: "
        "confluent, kafka-python), the consumer also with the BusMetrics every service gives it, and "
        "the two backends side by side.",
        baseline="the same backend's bare loop through the port's raw producer and consumer, sending "
        "the same bytes (the bus's own overhead; target at least 0.8), and Kafka's Java "
        "ProducerPerformance and ConsumerPerformance (the broker's limit), on the same broker. Each "
        "backend's figures are the median of five rounds, the bare loop and the bus alternating, "
        "and each ratio the median of the rounds' ratios. Consuming meets the target on both "
        "backends. Producing sits at 0.7 to 0.9 of the bare loop from run to run: what the bus "
        "adds is the CloudEvent it builds for each record (id, time, headers and serialization, "
        "about 5 us of Python) against a bare send of 15 to 25 us; on kafka-python that Python "
        "also waits on the producer's sender thread for the interpreter lock.",
        args=(),
        quick_args=("--records", "5000", "--rounds", "1"),
        about_s=120,
        quick_about_s=15,
    ),
    "tickets_throughput": Bench(
        measures="Ticket create and status-transition throughput and p50/p99 latency through the "
        "tickets use cases on Redis (what the API does minus HTTP), at 1 and 4 clients.",
        baseline="`redis-benchmark` running EVALSHA of a script of the same write shape (GET + SET + "
        "XADD) on the same Redis, with the same count and clients.",
        args=(),
        quick_args=("--count", "300"),
        about_s=90,
        quick_about_s=10,
    ),
    "durability": Bench(
        measures="What durability costs: ticket-create throughput and p50/p99 latency through the "
        "tickets use cases with Redis's AOF fsynced before every reply (`always`), and with a replica "
        "holding each create before it is acknowledged (`WAIT 1`, HELPLINE_REDIS_WAIT_REPLICAS=1), "
        "at 1 and 4 clients, with what each setup can lose.",
        baseline="the same creates on the default setup (one Redis, AOF fsynced every second), in the "
        "same run on the same machine.",
        args=(),
        quick_args=("--count", "200"),
        about_s=120,
        quick_about_s=10,
    ),
    "router_latency": Bench(
        measures="Routing latency (p50/p99 from a contact event on Kafka to its offer event on Kafka), "
        "offers/s and router CPU per decision of the router process, at two agent counts, paced and "
        "in a burst.",
        baseline="two Kafka round trips (a contact crosses Kafka twice), from Kafka's Java "
        "EndToEndLatency and a bare produce-consume loop through the Kafka port's raw clients (the "
        "services' backend) on the same broker; CPU "
        "against a bare round trip's client CPU.",
        args=("--rate", "50"),
        quick_args=(
            "--agents",
            "150",
            "600",
            "--queues",
            "10",
            "--contacts",
            "40",
            "--rate",
            "50",
            "--burst",
            "10",
            "--baseline-count",
            "200",
        ),
        about_s=360,
        quick_about_s=45,
    ),
    "sla_timers": Bench(
        measures="Lag (p50/p99 from a timer's due instant to its alert in the outbox) of the SLA "
        "service's timer workers with many timers held, paced and in a burst, and the burst's firing "
        "rate.",
        baseline="`redis-benchmark` ZADD into the same sorted set and EVALSHA of a script of a "
        "firing's write shape (HGET + HSET + ZREM + XADD), on the same Redis, as many clients as "
        "workers.",
        args=(),
        quick_args=(
            "--timers",
            "20000",
            "--due",
            "500",
            "--window",
            "10",
            "--burst",
            "500",
            "--baseline-count",
            "5000",
        ),
        about_s=150,
        quick_about_s=25,
    ),
    "metrics_ingest": Bench(
        measures="Ingest rate (events/s) of the metrics service process over a contact centre's day of "
        "events (decode, Prometheus series, Redis state, commit), checked against its own /metrics.",
        baseline="a bare consumer loop through the Kafka port's raw consumer, on the service's backend "
        "(the client's limit), and Kafka's Java "
        "ConsumerPerformance (the broker's limit), reading the same topic on the same broker.",
        args=(),
        quick_args=("--records", "3000"),
        about_s=75,
        quick_about_s=25,
    ),
    "webhooks": Bench(
        measures="Webhook deliveries/s of the notify service process (`python -m services.notify`, "
        "its 8 delivery workers) to a local receiver, with the events waiting before it starts, and "
        "p50/p99 latency from an event's time to its arrival with events produced at half that rate; "
        "every signature checked with the subscription's secret.",
        baseline="a bare httpx client with keep-alive, as many threads as the service has workers, "
        "signing and POSTing the same CloudEvent bodies with the same headers to the same receiver "
        "(target at least 0.5), in three rounds alternating with the service's, the median of the "
        "rounds' ratios reported; the receiver's CPU shows it is not the limit. One process holds "
        "Python's interpreter lock the whole run (a core) either way, so the ratio is the CPU each "
        "delivery costs: the same httpx post, plus one Redis round trip per attempt (the script that "
        "records the outcome also claims the worker's next lane and returns its head, on a "
        "connection of the worker's own) and the consumer's share of decoding and enqueueing the "
        "event. Replicas share the lanes, so deliveries scale out with notify's replicas.",
        args=(),
        quick_args=("--events", "500", "--paced-seconds", "3"),
        about_s=100,
        quick_about_s=50,
    ),
    "soak": Bench(
        measures="Redis memory of each service, each on its own redis-server, through simulated days of "
        "the simulated contact centre at high time compression, every retention scaled by the speed: "
        "router, sla and metrics must level off (the last day's growth at most 5% of the first "
        "day's), tickets grow by what a ticket costs; bytes per contact, ticket and SLA record.",
        baseline="the first simulated day's growth of the same service in the same run (the plateau "
        "ratio), and each service's memory with the centre configured and no contact yet (the bytes "
        "per record).",
        args=(),
        quick_args=("--days", "2", "--agents", "50", "--contacts-per-day", "300", "--speed", "1440"),
        about_s=1600,
        quick_about_s=150,
    ),
}


class BenchFailedError(RuntimeError):
    """A benchmark exited with an error or printed nothing; the message names it."""


@dataclass(frozen=True)
class Captured:
    name: str
    command: str
    output: str
    seconds: float


@dataclass(frozen=True)
class Machine:
    cpu: str
    cpus: int
    memory: str
    kernel: str
    python: str
    java: str
    redis: str
    kafka: str
    load: float
    stack: str


# -- formatting -----------------------------------------------------------------------------------


def duration_text(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def estimate_text(seconds: float) -> str:
    return f"about {round(seconds / 60)} min" if seconds >= 90 else f"about {round(seconds)} s"


def exit_text(code: int) -> str:
    # Popen reports death by a signal as minus its number: "killed by SIGKILL" says why at once.
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# -- the machine ----------------------------------------------------------------------------------


def cpu_model(cpuinfo: str) -> str:
    # x86 names the model per processor; many ARM kernels only name the board ("Hardware").
    for key in ("model name", "Hardware", "Processor"):
        match = re.search(rf"^{key}\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        if match:
            return match.group(1).strip()
    return "unknown CPU"


def logical_cpus(cpuinfo: str) -> int:
    return len(re.findall(r"^processor\s*:", cpuinfo, re.MULTILINE)) or (os.cpu_count() or 0)


def memory_text(meminfo: str) -> str:
    match = re.search(r"^MemTotal:\s*(\d+) kB$", meminfo, re.MULTILINE)
    return f"{int(match.group(1)) / 1024**2:.1f} GiB" if match else "unknown"


def java_version(output: str) -> str:
    """`openjdk 17.0.15` from `java -version`'s first line, `openjdk version "17.0.15" 2025-04-15`."""
    match = re.search(r'^(\S+) version "([^"]+)"', output, re.MULTILINE)
    if match:
        return f"{match.group(1)} {match.group(2)}"
    return output.strip().splitlines()[0] if output.strip() else "not found"


def redis_version(output: str) -> str:
    """`7.0.15` from `Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 ...`."""
    match = re.search(r"\bv=(\S+)", output)
    return match.group(1) if match else "not found"


def kafka_version(pom: str) -> str:
    match = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", pom)
    return match.group(1) if match else "unknown"


def stack_text(env: Mapping[str, str]) -> str:
    """Where the benchmarks' broker and Redis were (bench.stack.bench_stack's rule). Only host and
    port of a Redis URL: it may hold a password."""
    kafka, redis_url = env.get("HELPLINE_KAFKA_BOOTSTRAP", ""), env.get("HELPLINE_REDIS_URL", "")
    if not kafka and not redis_url:
        return "each benchmark started its own Kafka broker and Redis (local processes), empty"
    parts = []
    if kafka:
        parts.append(f"Kafka at {kafka} (HELPLINE_KAFKA_BOOTSTRAP)")
    if redis_url:
        where = urlsplit(redis_url)
        place = f"{where.hostname}:{where.port or 6379}" if where.hostname else where.path
        parts.append(f"Redis at {place} (HELPLINE_REDIS_URL)")
    # A benchmark that needs both and finds one starts its own of both.
    return (
        f"{' and '.join(parts)}, for each benchmark that needs nothing more; the others started "
        "their own (local processes), empty"
    )


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _version_output(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    # `java -version` writes to stderr, `redis-server --version` to stdout.
    return done.stdout + done.stderr


def describe_machine(env: Mapping[str, str]) -> Machine:
    cpuinfo = _read(Path("/proc/cpuinfo"))
    return Machine(
        cpu=cpu_model(cpuinfo),
        cpus=logical_cpus(cpuinfo),
        memory=memory_text(_read(Path("/proc/meminfo"))),
        kernel=f"{platform.system()} {platform.release()} ({platform.machine()})",
        python=platform.python_version(),
        java=java_version(_version_output(["java", "-version"])),
        redis=redis_version(_version_output(["redis-server", "--version"])),
        kafka=kafka_version(_read(POM)),
        load=os.getloadavg()[0],
        stack=stack_text(env),
    )


# -- running the benchmarks -----------------------------------------------------------------------


def bench_args(name: str, quick: bool) -> list[str]:
    bench = BENCHES[name]
    return list(bench.quick_args if quick else bench.args)


def bench_argv(name: str, quick: bool) -> list[str]:
    return [sys.executable, "-m", f"bench.{name}", *bench_args(name, quick)]


def display_command(name: str, quick: bool) -> str:
    return shlex.join(["python", "-m", f"bench.{name}", *bench_args(name, quick)])


def _communicate(process: subprocess.Popen[str]) -> str:
    try:
        stdout, _ = process.communicate()
    except KeyboardInterrupt:
        # Ctrl-C reached the child too (same process group): let it stop the broker and Redis it
        # started. `uv run` forwards the same Ctrl-C once more, which must not cut this wait short.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
        raise
    return stdout


def run_one(name: str, argv: Sequence[str], label: str, about_s: float) -> tuple[str, float]:
    """Run one benchmark: its stdout captured, its stderr straight to the terminal, where rich draws
    its progress (a pipe would turn that off). Returns its stdout and wall time."""
    print(f"{label} {name}: running ({estimate_text(about_s)})...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    output = _communicate(process)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise BenchFailedError(
            f"{name} failed ({exit_text(process.returncode)}) after {duration_text(seconds)}; "
            "its error is above"
        )
    if not output.strip():
        raise BenchFailedError(f"{name} exited 0 after {duration_text(seconds)} but printed no results")
    print(f"{label} {name}: done in {duration_text(seconds)}", file=sys.stderr, flush=True)
    return output, seconds


Runner = Callable[[str, Sequence[str], str, float], tuple[str, float]]


def run_all(names: Sequence[str], quick: bool, runner: Runner = run_one) -> list[Captured]:
    captured = []
    for index, name in enumerate(names, 1):
        bench = BENCHES[name]
        about = bench.quick_about_s if quick else bench.about_s
        output, seconds = runner(name, bench_argv(name, quick), f"[{index}/{len(names)}]", about)
        captured.append(Captured(name, display_command(name, quick), output, seconds))
    return captured


# -- the document ---------------------------------------------------------------------------------

QUICK_WARNING = (
    "> **Quick run, not representative.** `--quick` ran every benchmark with small sizes, to check "
    "the report end to end; its figures are mostly start-up and noise. `make bench` gives the real ones."
)

INTRO = (
    "Every benchmark of the services, each beside baselines it measures on the same machine, in the "
    "same run, on the same broker and Redis: bare producer and consumer loops through the Kafka port's "
    "raw clients (helpline.kafka) on the same backend, Kafka's "
    "own Java perf tools, `redis-benchmark`. The absolute numbers depend on the machine and on what "
    "else ran on it; the ratios to the baselines much less, so compare ratios across machines, not "
    "absolute numbers. Reproduce with `make bench` (`python -m bench.report`), which rewrites this "
    "file; each section's command runs one benchmark alone."
)


def machine_section(machine: Machine) -> list[str]:
    return [
        "## Machine",
        "",
        f"- CPU: {machine.cpu}, {machine.cpus} logical CPUs",
        f"- memory: {machine.memory}",
        f"- kernel: {machine.kernel}",
        f"- Python {machine.python}, Java {machine.java}, Redis {machine.redis}, "
        f"Kafka {machine.kafka} (deploy/local/pom.xml)",
        f"- 1-minute load average at the start: {machine.load:.1f}",
        f"- broker and Redis: {machine.stack}",
    ]


def bench_section(result: Captured) -> list[str]:
    bench = BENCHES[result.name]
    return [
        f"## {result.name}",
        "",
        f"{bench.measures} Baseline: {bench.baseline}",
        "",
        f"`{result.command}`, wall time {duration_text(result.seconds)}.",
        "",
        # Verbatim: the benchmark's tables and notes are already Markdown.
        result.output.strip(),
    ]


def document(
    results: Sequence[Captured],
    machine: Machine,
    *,
    started: datetime,
    seconds: float,
    command: str,
    quick: bool,
) -> str:
    lines = ["# Benchmarks", ""]
    if quick:
        lines += [QUICK_WARNING, ""]
    lines += [
        INTRO,
        "",
        f"- ran: {started.astimezone(UTC):%Y-%m-%d %H:%M} UTC, for {duration_text(seconds)}",
        f"- command: `{command}`",
    ]
    if len(results) < len(BENCHES):
        lines.append(f"- only: {', '.join(r.name for r in results)} (of {len(BENCHES)} benchmarks)")
    lines += ["", *machine_section(machine)]
    for result in results:
        lines += ["", *bench_section(result)]
    return "\n".join(lines) + "\n"


def split_report(text: str) -> tuple[str, dict[str, str]]:
    """A report's head (title, run, machine) and each benchmark's section by name, in order."""
    head, sections = "", {}
    for part in re.split(r"^(?=## )", text, flags=re.MULTILINE):
        name = part.removeprefix("## ").split("\n", 1)[0].strip()
        if not part.startswith("## ") or name == "Machine":
            head += part
        else:
            sections[name] = part.rstrip("\n")
    return head.rstrip("\n"), sections


def merged(existing: str, results: Sequence[Captured], *, started: datetime, command: str) -> str:
    """The existing report with the sections of `results` in place of their namesakes (or added in
    the catalog's order), the other sections as they were, and a line in the head saying when and
    how these ran again; it replaces the line of an earlier merge whose sections all ran again."""
    head, sections = split_report(existing)
    for result in results:
        sections[result.name] = "\n".join(bench_section(result))
    names = [result.name for result in results]
    note = (
        f"- {', '.join(names)}: ran {started.astimezone(UTC):%Y-%m-%d %H:%M} UTC with `{command}`, {MERGED}"
    )
    lines = [kept for line in head.split("\n") if (kept := _still_shown(line, names)) is not None]
    at = lines.index("## Machine") - 1 if "## Machine" in lines else len(lines)
    lines.insert(at, note)
    order = [name for name in BENCHES if name in sections]
    order += [name for name in sections if name not in BENCHES]
    return "\n\n".join(["\n".join(lines), *(sections[name] for name in order)]) + "\n"


MERGED = "merged into this report"


def _still_shown(line: str, names: Sequence[str]) -> str | None:
    """A head line as it stands after a merge of `names`: an earlier merge's line names only its
    benchmarks that did not run again, and goes once all of them did; any other line is kept."""
    if not (line.startswith("- ") and line.endswith(MERGED) and ": ran " in line):
        return line
    earlier = [name.strip() for name in line[2 : line.index(": ran ")].split(",")]
    left = [name for name in earlier if name not in names]
    return f"- {', '.join(left)}{line[line.index(': ran ') :]}" if left else None


def write_atomically(path: Path, text: str) -> None:
    """A temporary file beside `path`, renamed over it: a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the report (default: %(default)s)")
    parser.add_argument(
        "--only", nargs="+", choices=list(BENCHES), metavar="NAME", help=f"of: {', '.join(BENCHES)}"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a check, not a measurement")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="with --only: put their sections into the existing report, keeping the others",
    )
    args = parser.parse_args(argv)
    if args.merge and (args.only is None or args.quick):
        parser.error("--merge takes --only, and not --quick: a quick section would pass for a measurement")
    return args


def selected(only: Sequence[str] | None) -> list[str]:
    # Always in the catalog's order, once each, whatever order --only gave.
    return [name for name in BENCHES if only is None or name in only]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    names = selected(args.only)
    started, clock = datetime.now(UTC), time.perf_counter()
    if args.merge and not args.out.exists():
        print(
            f"bench.report: --merge needs the report to merge into; {args.out} does not exist.",
            file=sys.stderr,
        )
        return 2
    machine = describe_machine(os.environ)
    try:
        results = run_all(names, args.quick)
    except BenchFailedError as failure:
        print(f"bench.report: {failure}. {args.out} was not written.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"bench.report: interrupted. {args.out} was not written.", file=sys.stderr)
        return 130
    seconds = time.perf_counter() - clock
    command = shlex.join(["python", "-m", "bench.report", *argv])
    if args.merge:
        text = merged(args.out.read_text(), results, started=started, command=command)
    else:
        text = document(results, machine, started=started, seconds=seconds, command=command, quick=args.quick)
    write_atomically(args.out, text)
    print(f"bench.report: wrote {args.out} in {duration_text(seconds)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
