"""Soak: the simulated contact centre at high time compression through simulated days, with Redis
memory per service sampled as it goes. Router, sla and metrics must level off (every record they
keep expires); tickets, the system of record, grow by what each ticket costs.

    uv run python -m bench.soak [--days 7] [--agents 200] [--contacts-per-day 1200] [--speed 400]

What runs: Kafka (HELPLINE_KAFKA_BOOTSTRAP when set, else the benchmark's own broker), one
redis-server per service plus one for the API keys (always the benchmark's own, started empty), the
four services as processes configured by environment like pods, and the simulator
(simulator) playing a centre through the platform's public interfaces, as the end-to-end
test does.

Design, and why:

- One redis-server per service, not one Redis with a database each. A server's `used_memory` is
  then exactly its service's (keys, their expiry, the outbox stream, the scripts and clients of that
  service alone), what an operator sizes `maxmemory` on, and INFO costs microseconds, so it can be
  sampled often while the centre runs. Summing `MEMORY USAGE` over a SCAN would leave out what no
  key holds and stall the services on every sample. The SCAN census runs once a simulated day
  anyway, to count the records the bytes per record are divided by and to say which kinds of key
  grow.
- Time. The platform keeps the wall clock and the simulator compresses time by `speed`, so a time
  the platform keeps must be divided by the speed for a simulated week to behave like a real one
  (a contact retention of one simulated day is 86400 / speed real seconds). Every retention, the
  auto-close delay, the idempotency and FCR windows and the signature pruning are scaled so
  (SETTINGS). Retentions of a day or less keep their defaults in simulated time. Those longer than
  a run could show levelling off (last agent 30 days, closed tickets' SLA 7, metrics' closed
  tickets 30, removed agents 7, FCR marks 8 with the FCR window 7, auto-close 4) are shortened to
  LONG_S (2 simulated days; the FCR window and auto-close to 1), so that every kind of record has
  expired at least once well before the last day: the soak shows that each expires and that memory
  then stays flat; a deployment's plateau is its traffic x its retentions x the bytes per record
  reported here. Polling intervals, snapshot intervals and leases are left as they are: they pace
  the platform's work, not what it keeps. The staffing window cannot go under a minute of real time
  (whole minutes), so it is set to that minute, 60 x speed simulated seconds; its buckets are
  bounded by it either way.
- The simulated centre (`centre`): voice (with callbacks and hand-offs to a support queue), chat,
  SMS, social, email and web forms as tickets (some pending until the customer writes back, some
  on hold for a third party, some closed at once, the rest closed by the auto-close), a bot that
  keeps most of its conversations, surveys; agents in shifts (early and late voice, digital,
  support, and a round-the-clock group), every day the same, as the arrival curve (CURVE, a
  round-the-clock day) is. The load is what the 2-CPU development machine sustains at the speed
  with Kafka, five Redis servers, four services and the simulator on it (and whatever else runs
  there), not what 200 agents could take: the router must keep up with the busiest hour, or
  callers hang up before it has queued them and the centre measured is no longer the one
  planned. The bytes per record do not depend on the load, and the plateau criterion is a
  ratio. Answer targets and offer timeouts are at least SHORTEST_REAL_S on the wall clock.
- Sampling: every `--samples-per-day`th of a simulated day, after letting the outbox relays publish
  what they hold (at most DRAIN_S), INFO memory of every server; at each day's start, also the
  census, and every service's consumer lag (how far the platform is behind). Day 0 is the centre
  configured, before its first contact; the run starts at midnight, so each day's sample falls in
  the quiet night hours.
- Plateau: the last day's growth at most 5% of the first day's (bench.soak_report).

Prints Markdown (bench.report takes it into docs/benchmarks.md); progress goes to stderr. Asserts
nothing: the plateau verdicts are reported, never a test threshold.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import redis
from rich.console import Console

from bench.consumer_lag import ConsumerLag
from bench.redis_census import census, used_memory
from bench.service_process import ServiceProcess
from bench.soak_backoffice import BackOffice
from bench.soak_report import (
    DAY_S,
    SERVICES,
    CentreDay,
    Sample,
    SettingUsed,
    SoakRun,
    clock_text,
    markdown,
    size,
)
from bench.stack import bench_stack, machine_line, service_env, start_group_at_end
from devstack.local_stack import LocalStack, StackConfig, free_port
from helpline.auth import ApiKeyStore
from helpline.ingress_secrets import IngressSecrets
from helpline.logging import configure_logging
from helpline.topic_admin import ensure_topics
from services.metrics import app as metrics_app
from services.router import consumers as router_consumers
from services.router.storage.store import OUTBOX_STREAM as ROUTER_OUTBOX
from services.sla import consumers as sla_consumers
from services.sla.store import OUTBOX_STREAM as SLA_OUTBOX
from services.tickets import consumers as tickets_consumers
from services.tickets.store import OUTBOX_STREAM as TICKETS_OUTBOX
from simulator.keys import run_keys
from simulator.runner import Connections, Simulation
from simulator.scenario import (
    AgentGroup,
    ChannelLoad,
    Duration,
    QueueSpec,
    Scenario,
    SelfService,
    Surveys,
    Tickets,
)

console = Console(stderr=True)

HOUR_S = 3600.0
LONG_S = 2 * DAY_S
TENANT = "soak"
OUTBOXES = {"router": ROUTER_OUTBOX, "tickets": TICKETS_OUTBOX, "sla": SLA_OUTBOX}
GROUPS = {
    "router": (router_consumers.GROUP, router_consumers.TOPICS),
    "tickets": (tickets_consumers.GROUP, tickets_consumers.TOPICS),
    "sla": (sla_consumers.GROUP, sla_consumers.TOPICS),
    "metrics": (metrics_app.GROUP, metrics_app.TOPICS),
}
# How long a sample waits for the relays to publish their outboxes, in real seconds.
DRAIN_S = 2.0
# The shortest time a queue enforces (an offer's timeout, an answer target), in real seconds: it
# must outlast the platform's own latency (the Kafka hop, a gRPC round trip), which compression
# does not shrink, or every contact would breach its target and every offer expire.
SHORTEST_REAL_S = 0.3
STAFFING_WINDOW_S = 60
Unit = Literal["seconds", "whole seconds", "days"]


@dataclass(frozen=True)
class Scaled:
    """A setting that keeps a time: the default stands for `default_s` simulated seconds, the soak
    gives it `soak_s`, set on the wall clock as `soak_s / speed`."""

    service: str
    variable: str
    default_s: float
    soak_s: float
    unit: Unit = "seconds"

    def value(self, speed: float) -> str:
        real_s = self.soak_s / speed
        if self.unit == "whole seconds":
            return str(max(1, round(real_s)))
        if self.unit == "days":
            return f"{real_s / DAY_S:.10g}"
        return f"{real_s:.10g}"


SETTINGS = (
    Scaled("router", "CONTACT_RETENTION_SECONDS", DAY_S, DAY_S, "whole seconds"),
    Scaled("router", "DESK_RETENTION_SECONDS", HOUR_S, HOUR_S, "whole seconds"),
    Scaled("router", "LAST_AGENT_RETENTION_SECONDS", 30 * DAY_S, LONG_S, "whole seconds"),
    Scaled("router", "SIGNATURE_PRUNE_INTERVAL_SECONDS", HOUR_S, HOUR_S),
    Scaled("tickets", "CLOSE_AFTER_DAYS", 4 * DAY_S, DAY_S, "days"),
    Scaled("tickets", "IDEMPOTENCY_KEY_RETENTION_SECONDS", DAY_S, DAY_S, "whole seconds"),
    Scaled("sla", "CLOSED_TICKET_SLA_RETENTION_SECONDS", 7 * DAY_S, LONG_S),
    Scaled("sla", "QUEUE_WATCH_RETENTION_SECONDS", DAY_S, DAY_S),
    Scaled("metrics", "ANSWER_MARKER_RETENTION_SECONDS", DAY_S, DAY_S),
    Scaled("metrics", "CLOSED_TICKET_MARKER_RETENTION_SECONDS", 30 * DAY_S, LONG_S),
    Scaled("metrics", "FCR_REOPEN_WINDOW_SECONDS", 7 * DAY_S, DAY_S),
    Scaled("metrics", "FCR_MARKER_RETENTION_SECONDS", 8 * DAY_S, LONG_S),
    Scaled("metrics", "REMOVED_AGENT_MARKER_RETENTION_SECONDS", 7 * DAY_S, LONG_S),
    Scaled("metrics", "DELIVERY_MARKER_RETENTION_SECONDS", HOUR_S, HOUR_S),
)


def duration_text(seconds: float) -> str:
    if seconds >= DAY_S and seconds % DAY_S == 0:
        days = round(seconds / DAY_S)
        return f"{days} day{'s' if days > 1 else ''}"
    if seconds >= HOUR_S:
        return f"{seconds / HOUR_S:.3g} h"
    return f"{seconds:g} s"


def settings_env(service: str, speed: float) -> dict[str, str]:
    env = {f"HELPLINE_{s.variable}": s.value(speed) for s in SETTINGS if s.service == service}
    if service == "metrics":
        env["HELPLINE_STAFFING_WINDOW_SECONDS"] = str(STAFFING_WINDOW_S)
    return env


def settings_used(speed: float) -> list[SettingUsed]:
    used = [
        SettingUsed(
            s.service,
            f"HELPLINE_{s.variable}",
            duration_text(s.default_s),
            duration_text(s.soak_s),
            s.value(speed),
        )
        for s in SETTINGS
    ]
    used.append(
        SettingUsed(
            "metrics",
            "HELPLINE_STAFFING_WINDOW_SECONDS",
            "1800 s of real time",
            f"{duration_text(STAFFING_WINDOW_S * speed)} (its least, a real minute)",
            str(STAFFING_WINDOW_S),
        )
    )
    return used


# -- the centre -----------------------------------------------------------------------------------

# Shares of the day's contacts by channel; the bot's conversations are contacts too.
CHANNEL_SHARES = {"voice": 0.35, "chat": 0.15, "sms": 0.05, "social": 0.05, "email": 0.15, "web_form": 0.05}
BOT_SHARE = 0.20
# Shares of the agents by group; the round-the-clock group takes the rest.
GROUP_SHARES = {"voice-early": 0.2, "voice-late": 0.2, "digital": 0.2, "support": 0.25}
# A centre open round the clock: quieter nights, a flat day. Its busiest hour is 1.5 times the mean
# (the office day's is 2.6): the platform must keep up with that hour on the development machine,
# and a flatter day carries more contacts for the same peak.
CURVE = (0.4,) * 6 + (0.8, 1.2) + (1.5,) * 10 + (1.2, 1.0, 0.8, 0.6, 0.5, 0.4)


def centre(*, agents: int, contacts_per_day: float, days: int, speed: float, seed: int = 1) -> Scenario:
    """A service and support centre around the clock, from midnight, `days` days long."""
    per_hour = contacts_per_day / 24
    counts = {name: max(1, round(share * agents)) for name, share in GROUP_SHARES.items()}
    counts["allday"] = max(1, agents - sum(counts.values()))
    shortest_s = round(SHORTEST_REAL_S * speed)

    def queue(threshold_s: int, **more: object) -> QueueSpec:
        return QueueSpec.model_validate(
            {
                "service_level_threshold_s": max(threshold_s, shortest_s),
                "offer_timeout_s": max(20, shortest_s),
            }
            | more
        )

    chat_like = {"chat": 3, "sms": 3, "social": 3}

    def load(channel: str, queue: str, handle_s: float, **more: object) -> ChannelLoad:
        return ChannelLoad.model_validate(
            {"per_hour": CHANNEL_SHARES[channel] * per_hour, "queue": queue, "handle": {"mean_s": handle_s}}
            | more
        )

    def group(name: str, queues: tuple[str, ...], capacity: dict[str, int], start: float, end: float,
              **more: object) -> AgentGroup:  # fmt: skip
        return AgentGroup.model_validate(
            {"name": name, "count": counts[name], "queues": queues, "capacity": capacity,
             "shift_start_h": start, "shift_end_h": end, "break_every_h": 2.5} | more
        )  # fmt: skip

    every_queue = ("service-voice", "service-chat", "support-email", "support-voice")
    return Scenario(
        seed=seed,
        tenant=TENANT,
        start_h=0,
        hours=days * 24,
        speed=speed,
        drain_h=0.25,
        curve=CURVE,
        channels={
            "voice": load(
                "voice", "service-voice", 300, patience_mean_s=180, hold_rate=0.15, transfer_rate=0.05,
                transfer_to="support-voice", callback_acceptance=0.3,
            ),
            "chat": load("chat", "service-chat", 480, patience_mean_s=240),
            "sms": load("sms", "service-chat", 600),
            "social": load("social", "service-chat", 600),
            "email": load("email", "support-email", 420),
            "web_form": load("web_form", "support-email", 420),
        },
        queues={
            "service-voice": queue(20, callback_threshold_s=120),
            "service-chat": queue(20),
            "support-email": queue(4 * 3600, department="support", service_level_target=0.9),
            "support-voice": queue(60, department="support", required_skills={"technical": 3}),
        },
        self_service=SelfService(per_hour=BOT_SHARE * per_hour, contained=0.6, escalate_to="service-chat"),
        tickets=Tickets(
            pending_rate=0.2, on_hold_rate=0.1, close_rate=0.3, customer_reply=Duration(mean_s=1800),
            third_party=Duration(mean_s=3600),
        ),
        agents=(
            group("voice-early", ("service-voice",), {"voice": 1}, 6, 15),
            group("voice-late", ("service-voice",), {"voice": 1}, 13, 22),
            group("digital", ("service-chat",), chat_like, 8, 20),
            group("support", ("support-email", "support-voice"), {"email": 2, "voice": 1}, 8, 18,
                  skills={"technical": 4}),
            group("allday", every_queue, {"voice": 1, "email": 2, **chat_like}, 0, 24,
                  skills={"technical": 3}),
        ),
        surveys=Surveys(response_rate=0.3),
    )  # fmt: skip


# -- the stack ------------------------------------------------------------------------------------


@contextmanager
def redis_servers(names: tuple[str, ...], base: Path) -> Iterator[dict[str, str]]:
    """One empty redis-server (AOF on, as deployed) per name, on a free port; each one's URL."""
    stacks: dict[str, LocalStack] = {}
    try:
        for name in names:
            stack = LocalStack(StackConfig(var_dir=base / name, redis_port=free_port()))
            shutil.rmtree(stack.cfg.var_dir / "redis-data", ignore_errors=True)
            stack.start(stack.redis())
            stacks[name] = stack
        yield {name: stack.cfg.redis_url for name, stack in stacks.items()}
    finally:
        for stack in stacks.values():
            stack.stop("redis")
            shutil.rmtree(stack.cfg.var_dir / "redis-data", ignore_errors=True)


def place_groups(bootstrap: str) -> None:
    """A service's group that never committed would start at its topics' beginning and replay every
    earlier event of the broker (of tests, of other runs) into the empty Redis; it starts at the
    end instead. A group that has committed keeps its place."""
    ensure_topics(bootstrap)
    for group, topics in GROUPS.values():
        start_group_at_end(bootstrap, group, list(topics))


@contextmanager
def running_services(
    bootstrap: str, urls: Mapping[str, str], speed: float, agents: int, log_dir: Path
) -> Iterator[dict[str, ServiceProcess]]:
    pepper = uuid.uuid4().hex
    services: dict[str, ServiceProcess] = {}
    for name in SERVICES:
        extra = {
            "HELPLINE_AUTH_REDIS_URL": urls["auth"],
            "HELPLINE_API_KEY_PEPPER": pepper,
            "HELPLINE_LOG_LEVEL": "WARNING",
            **settings_env(name, speed),
        }
        if name == "router":
            # Every agent's desktop holds a gRPC worker with its offer stream, within the cap.
            workers = max(256, agents + 64)
            extra["HELPLINE_GRPC_MAX_WORKERS"] = str(workers)
            extra["HELPLINE_MAX_OFFER_STREAMS"] = str(workers - 8)
        env = service_env(name, bootstrap, urls[name], free_port(), **extra)
        services[name] = ServiceProcess(name, env, log_dir / f"soak-{name}.log")
    try:
        for service in services.values():
            service.start()
        for service in services.values():
            service.wait_ready()
        yield services
    finally:
        for service in services.values():
            service.stop()


# -- sampling -------------------------------------------------------------------------------------


class Sampler:
    def __init__(
        self, urls: Mapping[str, str], services: Mapping[str, ServiceProcess], lag: ConsumerLag, per_day: int
    ) -> None:
        self.clients = {name: redis.Redis.from_url(urls[name]) for name in SERVICES}
        self.services = services
        self.lag = lag
        self.per_day = per_day
        self.samples: list[Sample] = []

    def drain(self) -> None:
        """Until the relays have published their outboxes (they delete what they published)."""
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline and any(self._outbox().values()):
            time.sleep(0.05)

    def _outbox(self) -> dict[str, int]:
        return {name: int(self.clients[name].xlen(stream)) for name, stream in OUTBOXES.items()}

    def take(self, at_s: float, *, with_census: bool) -> Sample:
        for service in self.services.values():
            service.check_alive()
        self.drain()
        sample = Sample(
            at_s,
            {name: used_memory(client) for name, client in self.clients.items()},
            self._outbox(),
            self.lag.behind(),
            {name: census(client) for name, client in self.clients.items()} if with_census else None,
        )
        self.samples.append(sample)
        return sample

    async def follow(self, sim: Simulation, days: int) -> None:
        """A sample every 1/per_day of a simulated day until the last day's end."""
        step_s = DAY_S / self.per_day
        for k in range(1, days * self.per_day + 1):
            at_s = k * step_s
            # The run replaces its clock as it starts: read it afresh.
            while (wait_s := sim.clock.real(at_s) - sim.clock.now()) > 0:
                await asyncio.sleep(wait_s)
            sample = await asyncio.to_thread(self.take, at_s, with_census=k % self.per_day == 0)
            used = ", ".join(f"{name} {size(sample.used[name])}" for name in SERVICES)
            console.print(
                f"{clock_text(at_s)}: {used}; {sim.floor.arrived:,} contacts arrived, "
                f"{len(sim.problems)} refusals"
            )

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.lag.close()


class Cpu:
    """The CPU each service process and the simulator (this process) use from now on."""

    def __init__(self, services: Mapping[str, ServiceProcess]) -> None:
        self.services = services
        self.started = time.monotonic()
        self.before = {name: service.cpu_seconds() for name, service in services.items()}
        self.before["simulator"] = time.process_time()

    def cores(self) -> dict[str, float]:
        wall_s = time.monotonic() - self.started
        now = {name: service.cpu_seconds() for name, service in self.services.items()}
        now["simulator"] = time.process_time()
        return {name: (now[name] - self.before[name]) / wall_s for name in now}


def centre_days(sim: Simulation, days: int) -> list[CentreDay]:
    """Each simulated day's contacts from the plan (arrivals) and the ledger (what became of them),
    by the day they arrived or queued; the ledger's times are the run's real seconds."""
    arrived = [0] * days
    for planned in sim.plan:
        arrived[min(days - 1, int(planned.at_s // DAY_S))] += 1
    queued, answered, abandoned = [0] * days, [0] * days, [0] * days
    waits: list[list[float]] = [[] for _ in range(days)]
    for truth in sim.floor.ledger.contacts.values():
        if truth.queued_at is None:
            continue
        day = min(days - 1, int(sim.scenario.speed * truth.queued_at // DAY_S))
        queued[day] += 1
        if truth.answered_at is not None:
            answered[day] += 1
            waits[day].append(sim.scenario.speed * (truth.answered_at - truth.queued_at))
        elif truth.abandoned_at is not None:
            abandoned[day] += 1
    means = [statistics.fmean(day) if day else None for day in waits]
    return [CentreDay(arrived[d], queued[d], answered[d], abandoned[d], means[d]) for d in range(days)]


async def play(sim: Simulation, sampler: Sampler, office: BackOffice, days: int) -> None:
    """The centre's run, its back office and the sampling side by side; one failing stops all."""
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(sim.run())
        tasks.create_task(office.run(days * DAY_S))
        tasks.create_task(sampler.follow(sim, days))


# -- main -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    days: int
    agents: int
    contacts_per_day: float
    speed: float
    samples_per_day: int
    seed: int


def soak(options: Options, bootstrap: str, var_dir: Path, log_dir: Path) -> tuple[SoakRun, list[str]]:
    scenario = centre(
        agents=options.agents,
        contacts_per_day=options.contacts_per_day,
        days=options.days,
        speed=options.speed,
        seed=options.seed,
    )
    with ExitStack() as stack:
        urls = stack.enter_context(redis_servers(("auth", *SERVICES), var_dir))
        place_groups(bootstrap)
        with console.status("starting the four services..."):
            services = stack.enter_context(
                running_services(bootstrap, urls, options.speed, options.agents, log_dir)
            )
        pepper = services["router"].env["HELPLINE_API_KEY_PEPPER"]
        api_keys = ApiKeyStore(redis.Redis.from_url(urls["auth"]), pepper=pepper)
        keys = stack.enter_context(run_keys(api_keys, scenario))
        signer = IngressSecrets(redis.Redis.from_url(urls["auth"])).create(TENANT, "simulator")
        router, tickets, sla = services["router"], services["tickets"], services["sla"]
        sim = Simulation(
            scenario,
            Connections(
                kafka_bootstrap=bootstrap,
                router_http=f"http://127.0.0.1:{router.http_port}",
                router_grpc=f"127.0.0.1:{router.grpc_port}",
                keys=keys,
                ingress_key=signer,
                sla_http=f"http://127.0.0.1:{sla.http_port}",
                tickets_grpc=f"127.0.0.1:{tickets.grpc_port}",
            ),
        )
        sampler = Sampler(urls, services, ConsumerLag(bootstrap, GROUPS), options.samples_per_day)
        stack.callback(sampler.close)
        try:
            sim.configure()
            sampler.take(0.0, with_census=True)
            console.print(f"configured {options.agents} agents; {len(sim.plan):,} contacts planned")
            office = BackOffice(sim, f"127.0.0.1:{tickets.grpc_port}")
            cpu = Cpu(services)
            asyncio.run(play(sim, sampler, office, options.days))
            cores = cpu.cores()
        finally:
            sim.close()
        codes = {name: service.stop() for name, service in services.items()}
    notes = [
        f"the back office solved {office.solved:,} tickets the platform had opened for the centre's "
        f"contacts and nobody worked ({len(office.refused)} solves refused, found again the next round)",
        "CPU over the run, in cores (1.00: one core all along): "
        + ", ".join(f"{name} {used:.2f}" for name, used in cores.items())
        + "; Kafka and the Redis servers besides",
        "every service stopped cleanly (exit code 0)"
        if all(code == 0 for code in codes.values())
        else "exit codes: " + ", ".join(f"{name} {code}" for name, code in codes.items()),
    ]
    run = SoakRun(
        days=options.days,
        agents=options.agents,
        speed=options.speed,
        contacts_per_day=options.contacts_per_day,
        samples=sampler.samples,
        settings=settings_used(options.speed),
        arrived=sim.floor.arrived,
        centre=centre_days(sim, options.days),
        refusals=sim.problems,
    )
    return run, notes


def parse_args() -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7, help="simulated days (default %(default)s)")
    parser.add_argument("--agents", type=int, default=200, help="agents of the centre (default %(default)s)")
    parser.add_argument(
        "--contacts-per-day", type=float, default=1200, help="contacts a simulated day (default %(default)s)"
    )
    parser.add_argument(
        "--speed", type=float, default=400, help="simulated seconds a real second (default %(default)s)"
    )
    parser.add_argument(
        "--samples-per-day", type=int, default=4, help="memory samples a simulated day (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.days < 2:
        parser.error("give at least two days: the plateau compares the last day with the first")
    if args.agents < 5 or args.speed <= 0 or args.contacts_per_day <= 0 or args.samples_per_day < 1:
        parser.error("give at least 5 agents, and a positive speed, load and sampling")
    return Options(args.days, args.agents, args.contacts_per_day, args.speed, args.samples_per_day, args.seed)


def main() -> None:
    options = parse_args()
    configure_logging("bench", level="WARNING", fmt="console")
    # kafka-python, as the backend, warns while a fresh broker moves its group coordinator: noise.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with bench_stack("bench-soak", redis=False) as stack:
        redis_dir = StackConfig().var_dir / "bench-soak" / "redis"
        run, notes = soak(options, stack.bootstrap, redis_dir, stack.log_dir)
    notes.append(f"wall time {(time.perf_counter() - started) / 60:.1f} min")
    notes.append(machine_line(load_before).removeprefix("- "))
    print(markdown(run, notes))


if __name__ == "__main__":
    main()
