"""The benchmark report's pure parts: reading the machine, the quick sizes, assembling the document,
and refusing to replace a report when a benchmark fails. No benchmark runs here: the runner is a
stand-in, or a one-line Python child."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench import report
from bench.latency_baselines import WARMUP
from bench.report import (
    BENCHES,
    BenchFailedError,
    Captured,
    Machine,
    bench_argv,
    cpu_model,
    document,
    duration_text,
    estimate_text,
    exit_text,
    java_version,
    kafka_version,
    logical_cpus,
    memory_text,
    merged,
    redis_version,
    run_all,
    run_one,
    selected,
    stack_text,
    write_atomically,
)
from bench.router_latency import capacity

CPUINFO = """processor	: 0
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Processor
cpu cores	: 2

processor	: 1
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Processor
cpu cores	: 2
"""
ARM_CPUINFO = "processor\t: 0\nBogoMIPS\t: 108.00\n\nprocessor\t: 1\n\nHardware\t: BCM2835\n"
MEMINFO = "MemTotal:       24684084 kB\nMemFree:        24483172 kB\n"
JAVA = (
    'openjdk version "17.0.15" 2025-04-15\n'
    "OpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)\n"
    "OpenJDK 64-Bit Server VM (build 17.0.15+6-Debian-1deb12u1, mixed mode, sharing)\n"
)
REDIS = "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0\n"
POM = "<properties>\n    <kafka.version>4.3.1</kafka.version>\n    <log4j.version>2.24.3</log4j.version>"
TABLE = (
    "| path | helpline records/s | baseline | ratio |\n|---|---|---|---|\n| produce | 9,000 | x | 0.50 |\n"
)
NOTES = "| a | b |\n|---|---|\n| 1 | 2 |\n\n- p99 at 600 agents: met\n- machine: 2 CPUs\n"
MACHINE = Machine(
    cpu="Intel(R) Xeon(R) Processor",
    cpus=2,
    memory="23.5 GiB",
    kernel="Linux 6.1.0 (x86_64)",
    python="3.11.7",
    java="openjdk 17.0.15",
    redis="7.0.15",
    kafka="4.3.1",
    load=0.25,
    stack="each benchmark started its own Kafka broker and Redis (local processes), empty",
)
STARTED = datetime(2025, 12, 1, 9, 30, 12, tzinfo=UTC)


def _quick_value(name: str, option: str) -> list[int]:
    """The numbers following `option` in a benchmark's quick arguments."""
    args = list(BENCHES[name].quick_args)
    values = []
    for arg in args[args.index(option) + 1 :]:
        if arg.startswith("--"):
            break
        values.append(int(arg))
    return values


# -- the machine --------------------------------------------------------------------------------


def test_the_cpu_model_and_count_come_from_cpuinfo() -> None:
    assert cpu_model(CPUINFO) == "Intel(R) Xeon(R) Processor"
    assert logical_cpus(CPUINFO) == 2


def test_an_arm_cpuinfo_names_its_board_and_an_empty_one_says_unknown() -> None:
    assert cpu_model(ARM_CPUINFO) == "BCM2835"
    assert logical_cpus(ARM_CPUINFO) == 2
    assert cpu_model("") == "unknown CPU"


def test_memory_is_meminfo_total_in_gib() -> None:
    assert memory_text(MEMINFO) == "23.5 GiB"
    assert memory_text("") == "unknown"


def test_tool_versions_are_read_from_their_own_output() -> None:
    assert java_version(JAVA) == "openjdk 17.0.15"
    assert java_version('java version "1.8.0_402"\nJava(TM) SE Runtime Environment') == "java 1.8.0_402"
    assert java_version("") == "not found"
    assert redis_version(REDIS) == "7.0.15"
    assert redis_version("") == "not found"
    assert kafka_version(POM) == "4.3.1"
    assert kafka_version("<project/>") == "unknown"


def test_the_project_pom_names_a_kafka_version() -> None:
    assert kafka_version(report.POM.read_text()) != "unknown"


def test_the_stack_line_says_whose_broker_and_never_a_redis_password() -> None:
    assert "own Kafka broker and Redis" in stack_text({})
    shared = stack_text(
        {"HELPLINE_KAFKA_BOOTSTRAP": "127.0.0.1:9092", "HELPLINE_REDIS_URL": "redis://:s3cret@10.0.0.5/2"}
    )
    assert "Kafka at 127.0.0.1:9092" in shared
    assert "Redis at 10.0.0.5:6379" in shared
    assert "s3cret" not in shared
    assert "the others started their own" in stack_text({"HELPLINE_KAFKA_BOOTSTRAP": "127.0.0.1:9092"})


# -- arguments and the progress line --------------------------------------------------------------


def test_each_benchmark_runs_as_its_module_with_the_make_bench_arguments() -> None:
    assert bench_argv("router_latency", quick=False) == [
        sys.executable,
        "-m",
        "bench.router_latency",
        "--rate",
        "50",
    ]
    assert bench_argv("bus_throughput", quick=False) == [sys.executable, "-m", "bench.bus_throughput"]


def test_every_benchmark_has_quick_sizes() -> None:
    for name, bench in BENCHES.items():
        assert bench.quick_args, name
        assert bench_argv(name, quick=True)[3:] == list(bench.quick_args)
        assert bench.quick_about_s < bench.about_s
    assert sum(bench.quick_about_s for bench in BENCHES.values()) <= 330


def test_quick_router_sizes_pass_the_benchmark_capacity_check() -> None:
    # router_latency refuses more contacts than its smallest agent count can be offered at once.
    agents = _quick_value("router_latency", "--agents")
    queues, contacts, burst = (
        _quick_value("router_latency", option)[0] for option in ("--queues", "--contacts", "--burst")
    )
    assert len(agents) == 2, "two agent counts, or there is no cost-per-decision verdict"
    assert WARMUP + contacts + burst <= capacity(min(agents), queues)


def test_quick_sla_sizes_pass_the_benchmark_checks() -> None:
    assert _quick_value("sla_timers", "--due")[0] >= 2
    # Longer than the 5 s between a contact's warning and breach, so both come due while paced.
    assert _quick_value("sla_timers", "--window")[0] > 5


def test_only_keeps_the_catalog_order_once_each() -> None:
    assert selected(None) == list(BENCHES)
    assert selected(["sla_timers", "bus_throughput", "sla_timers"]) == ["bus_throughput", "sla_timers"]


def test_durations_read_as_a_person_would_say_them() -> None:
    assert duration_text(4.4) == "4s"
    assert duration_text(348.2) == "5m 48s"
    assert duration_text(3725) == "1h 02m"
    assert estimate_text(360) == "about 6 min"
    assert estimate_text(40) == "about 40 s"
    assert exit_text(2) == "exit code 2"
    assert exit_text(-9) == "killed by SIGKILL"


# -- the document -------------------------------------------------------------------------------


def _results() -> list[Captured]:
    return [
        Captured("bus_throughput", "python -m bench.bus_throughput", TABLE, 72.4),
        Captured("router_latency", "python -m bench.router_latency --rate 50", NOTES, 348.0),
    ]


def test_the_document_holds_each_output_verbatim_with_its_explanation_and_time() -> None:
    text = document(
        _results(), MACHINE, started=STARTED, seconds=431, command="python -m bench.report", quick=False
    )
    assert text.startswith("# Benchmarks\n")
    assert "Quick run" not in text
    assert "- ran: 2025-12-01 09:30 UTC, for 7m 11s" in text
    assert "- command: `python -m bench.report`" in text
    assert "`make bench`" in text
    assert "ratios" in text
    for result in _results():
        section = text[text.index(f"## {result.name}") :]
        assert BENCHES[result.name].measures in section
        assert BENCHES[result.name].baseline in section
        assert f"`{result.command}`, wall time" in section
        assert result.output.strip() in section
    assert "wall time 5m 48s" in text
    assert text.index("## bus_throughput") < text.index("## router_latency")
    assert text.endswith("- machine: 2 CPUs\n")


def test_the_document_describes_the_machine() -> None:
    text = document(_results(), MACHINE, started=STARTED, seconds=1, command="c", quick=False)
    machine = text[text.index("## Machine") : text.index("## bus_throughput")]
    for fact in ("Intel(R) Xeon(R) Processor, 2 logical CPUs", "23.5 GiB", "Linux 6.1.0", "3.11.7"):
        assert fact in machine
    assert "Java openjdk 17.0.15, Redis 7.0.15, Kafka 4.3.1" in machine
    assert "load average at the start: 0.2" in machine
    assert "own Kafka broker and Redis" in machine


def test_a_quick_or_partial_report_says_so_at_the_top() -> None:
    text = document(_results(), MACHINE, started=STARTED, seconds=1, command="c --quick", quick=True)
    assert text.splitlines()[2].startswith("> **Quick run, not representative.**")
    assert f"- only: bus_throughput, router_latency (of {len(BENCHES)} benchmarks)" in text


def test_a_merge_puts_the_sections_run_again_in_place_and_keeps_the_others() -> None:
    full = document(
        _results(), MACHINE, started=STARTED, seconds=431, command="python -m bench.report", quick=False
    )
    again = [
        Captured("router_latency", "python -m bench.router_latency --rate 50", "| new | 2 |\n", 300.0),
        Captured("metrics_ingest", "python -m bench.metrics_ingest", "| ingest | 3 |\n", 15.0),
    ]
    later = datetime(2025, 12, 6, 17, 5, tzinfo=UTC)
    text = merged(full, again, started=later, command="python -m bench.report --only x --merge")
    assert text.startswith(full[: full.index("\n\n## Machine")])
    note = (
        "- router_latency, metrics_ingest: ran 2025-12-06 17:05 UTC with "
        "`python -m bench.report --only x --merge`, merged into this report"
    )
    assert f"{note}\n\n## Machine" in text
    assert TABLE.strip() in text
    assert NOTES.strip() not in text
    assert "| new | 2 |" in text
    order = [text.index(f"## {name}") for name in ("bus_throughput", "router_latency", "metrics_ingest")]
    assert order == sorted(order)
    assert text.endswith("| ingest | 3 |\n")
    # Merged again, the sections and the line are replaced, not repeated.
    twice = merged(text, again, started=later, command="python -m bench.report --only x --merge")
    assert twice == text
    # A merge of more benchmarks replaces the line of one whose benchmarks all ran again.
    wider = merged(text, [*again, _results()[0]], started=later, command="python -m bench.report --merge")
    assert note not in wider
    assert "- router_latency, metrics_ingest, bus_throughput: ran 2025-12-06 17:05 UTC" in wider
    # Not the other way round: the earlier line still names the section not run again, and only it.
    narrower = merged(text, again[:1], started=later, command="python -m bench.report --merge")
    assert note not in narrower
    assert (
        "- metrics_ingest: ran 2025-12-06 17:05 UTC with `python -m bench.report --only x --merge`, "
        "merged into this report\n- router_latency: ran 2025-12-06 17:05 UTC with "
        "`python -m bench.report --merge`, merged into this report\n\n## Machine"
    ) in narrower


def test_a_merge_needs_only_and_a_report_to_merge_into(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "benchmarks.md"
    for argv in (["--merge"], ["--merge", "--only", "soak", "--quick"]):
        with pytest.raises(SystemExit):
            report.main(["--out", str(out), *argv])
    assert report.main(["--out", str(out), "--only", "soak", "--merge"]) == 2
    assert f"{out} does not exist" in capsys.readouterr().err
    assert not out.exists()


# -- running and writing --------------------------------------------------------------------------


def test_benchmarks_run_in_order_with_numbered_labels() -> None:
    calls: list[tuple[str, str, float]] = []

    def fake(name: str, argv: Sequence[str], label: str, about_s: float) -> tuple[str, float]:
        calls.append((name, label, about_s))
        assert argv == bench_argv(name, quick=True)
        return f"| {name} |\n", 1.5

    captured = run_all(["tickets_throughput", "sla_timers"], quick=True, runner=fake)
    assert calls == [
        ("tickets_throughput", "[1/2]", BENCHES["tickets_throughput"].quick_about_s),
        ("sla_timers", "[2/2]", BENCHES["sla_timers"].quick_about_s),
    ]
    assert captured[1] == Captured(
        "sla_timers",
        "python -m bench.sla_timers " + " ".join(BENCHES["sla_timers"].quick_args),
        "| sla_timers |\n",
        1.5,
    )


def test_a_child_stdout_is_captured_and_its_stderr_left_alone(capfd: pytest.CaptureFixture[str]) -> None:
    code = "import sys; print('| a |'); print('progress', file=sys.stderr)"
    output, seconds = run_one("demo", [sys.executable, "-c", code], "[1/1]", 5)
    assert output == "| a |\n"
    assert seconds > 0
    err = capfd.readouterr().err
    assert "[1/1] demo: running (about 5 s)..." in err
    assert "progress" in err
    assert re.search(r"^\[1/1\] demo: done in \d+s$", err, re.MULTILINE)


def test_a_failing_child_is_named_with_its_exit_code() -> None:
    with pytest.raises(
        BenchFailedError, match=r"^demo failed \(exit code 3\) after \d+s; its error is above$"
    ):
        run_one("demo", [sys.executable, "-c", "raise SystemExit(3)"], "[1/1]", 5)


def test_a_child_that_prints_nothing_fails() -> None:
    with pytest.raises(BenchFailedError, match=r"^demo exited 0 after \d+s but printed no results$"):
        run_one("demo", [sys.executable, "-c", "pass"], "[1/1]", 5)


def test_a_failed_benchmark_leaves_the_old_report_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "benchmarks.md"
    out.write_text("the old report\n")
    monkeypatch.setattr(report, "describe_machine", lambda env: MACHINE)
    monkeypatch.setattr(
        report, "bench_argv", lambda name, quick: [sys.executable, "-c", "raise SystemExit(2)"]
    )
    assert report.main(["--out", str(out), "--only", "tickets_throughput", "--quick"]) == 1
    assert out.read_text() == "the old report\n"
    assert list(tmp_path.iterdir()) == [out]
    err = capsys.readouterr().err
    assert "tickets_throughput failed (exit code 2) after " in err
    assert f"its error is above. {out} was not written." in err


def test_a_successful_run_replaces_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "docs" / "benchmarks.md"
    monkeypatch.setattr(report, "describe_machine", lambda env: MACHINE)
    monkeypatch.setattr(
        report, "bench_argv", lambda name, quick: [sys.executable, "-c", f"print('| {name} | 1 |')"]
    )
    assert report.main(["--out", str(out), "--only", "bus_throughput", "metrics_ingest"]) == 0
    text = out.read_text()
    assert "| bus_throughput | 1 |" in text
    assert "| metrics_ingest | 1 |" in text
    assert f"- command: `python -m bench.report --out {out} --only bus_throughput metrics_ingest`" in text
    assert list(out.parent.iterdir()) == [out]


def test_a_merge_rewrites_only_the_sections_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "benchmarks.md"
    out.write_text(document(_results(), MACHINE, started=STARTED, seconds=1, command="c", quick=False))
    monkeypatch.setattr(report, "describe_machine", lambda env: MACHINE)
    monkeypatch.setattr(
        report, "bench_argv", lambda name, quick: [sys.executable, "-c", f"print('| {name} | again |')"]
    )
    assert report.main(["--out", str(out), "--only", "router_latency", "--merge"]) == 0
    text = out.read_text()
    assert "| router_latency | again |" in text
    assert TABLE.strip() in text
    assert "- router_latency: ran " in text


def test_writing_replaces_the_file_whole(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    out.write_text("old")
    write_atomically(out, "new\n")
    assert out.read_text() == "new\n"
    assert list(tmp_path.iterdir()) == [out]
