"""The `helpline` command: run the local stack, run a service, manage topics and API keys, publish
and tail events."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from functools import partial
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import redis
import typer
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table

from helpline.auth import ApiKeyStore, InvalidTenantError, acting_as, operator
from helpline.ingress_secrets import IngressSecrets, TooManySecretsError
from helpline.ingress_signing import IngressKey
from helpline.local_stack import SENTINEL_MASTER_NAME, LocalStack, StackConfig, StackError
from helpline.logging import configure_logging
from helpline.prometheus_config import write_prometheus_config
from helpline.quotas import QuotaReachedError
from helpline.redis_client import connect
from helpline.roles import Role
from helpline.settings import load_settings
from helpline.topic_admin import ensure_topics
from helpline.topics import CATALOG

if TYPE_CHECKING:
    from helpline.simulation.keys import RunKeys
    from helpline.simulation.runner import Connections
    from helpline.simulation.scenario import Scenario

app = typer.Typer(help="Helpline: an event-driven contact-center platform.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys: each maps to one tenant; stored hashed.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
outbox_app = typer.Typer(
    help="A service's outbox: the events Kafka refused for good, kept in <stream>:dead.", no_args_is_help=True
)
app.add_typer(outbox_app, name="outbox")
ingress_app = typer.Typer(
    help="Ingress secrets: what gateways and survey tools sign a tenant's events with (two at most).",
    no_args_is_help=True,
)
app.add_typer(ingress_app, name="ingress-secret")
console = Console(stderr=True)
# soft_wrap: one event or result per line, whatever the terminal width, so output pipes cleanly.
out = Console(soft_wrap=True)

SERVICE_GROUP = "helpline.services"
# The name of the ingress secret the simulator signs with, kept from one run to the next.
SIMULATOR = "simulator"


@app.callback()
def _setup() -> None:
    # Logs go to stderr, so stdout carries only what a command prints (a key, a table, events).
    configure_logging("helpline-cli", level="WARNING", fmt="console")


def _services() -> dict[str, str]:
    """Services register themselves as entry points, so this library never imports them."""
    return {ep.name: ep.value for ep in entry_points(group=SERVICE_GROUP)}


# Fixed local ports, so `make up` always prints the same endpoints. Each service has its own Redis
# database: services never share state, and one Redis serves them all on a laptop.
SERVICE_PORTS = {
    "router": {"http": 8081, "grpc": 50051, "redis_db": 1},
    "tickets": {"http": 8082, "grpc": 50052, "redis_db": 2},
    "sla": {"http": 8083, "grpc": 50053, "redis_db": 3},
    "metrics": {"http": 8084, "grpc": 0, "redis_db": 4},
}


def _port(cfg: StackConfig, service: str, kind: str) -> int:
    port = SERVICE_PORTS[service][kind]
    return port + cfg.port_offset if port else 0


def _prometheus_config(cfg: StackConfig, services: list[str]) -> Path:
    targets = {s: [f"127.0.0.1:{_port(cfg, s, 'http')}"] for s in services}
    return write_prometheus_config(cfg.var_dir / "prometheus.yml", targets)


@app.command()
def up(
    services: Annotated[bool, typer.Option(help="Start the services too, not only Kafka and Redis.")] = True,
    prometheus: Annotated[bool, typer.Option(help="Start Prometheus scraping the services.")] = True,
    redis_sentinel: Annotated[
        bool,
        typer.Option(
            help="Run Redis as a primary with two replicas behind three Sentinels; the services find "
            "the primary through them and wait for a replica before they acknowledge a write."
        ),
    ] = False,
    simulate: Annotated[
        bool,
        typer.Option(
            help="Then run the simulated contact centre against it until Ctrl-C, which stops everything."
        ),
    ] = False,
    live: Annotated[
        bool, typer.Option(help="With --simulate: a live view; --no-live prints a progress line.")
    ] = True,
    kafka_brokers: Annotated[
        int,
        typer.Option(
            min=1,
            max=5,
            help="Kafka brokers: 1, or a cluster whose topics have three replicas, two in sync (3).",
        ),
    ] = 1,
) -> None:
    """Start Kafka, Redis, Prometheus and every service in the background; print the endpoints.
    With --simulate (what `make up` runs), stay in the foreground running the simulator."""
    configure_logging("helpline-cli", level="INFO", fmt="console")
    cfg = StackConfig.from_env()
    cfg.kafka_brokers = kafka_brokers
    stack = LocalStack(cfg)
    names = [s for s in SERVICE_PORTS if s in _services()] if services else []
    try:
        with console.status("starting Redis and Kafka (the first start resolves the Kafka jars)..."):
            stack.up(redis_sentinel=redis_sentinel)
        with console.status("creating topics..."):
            created = ensure_topics(
                cfg.kafka_bootstrap,
                CATALOG,
                replication_factor=cfg.kafka_replication_factor,
                min_insync_replicas=cfg.kafka_min_insync_replicas,
            )
        console.print(f"topics: {len(created)} created, {len(CATALOG) * 2 - len(created)} already there")
        if prometheus:
            cfg.prometheus_config = _prometheus_config(cfg, names)
            with console.status("starting Prometheus..."):
                stack.start(stack.prometheus())
        for name in names:
            with console.status(f"starting {name}..."):
                env = _service_env(cfg, name, redis_sentinel=redis_sentinel)
                stack.start(stack.service(name, env, _port(cfg, name, "http")))
    except StackError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    table = Table(title="Helpline is up", show_lines=False)
    table.add_column("component", no_wrap=True)
    table.add_column("endpoint")
    table.add_column("log", no_wrap=True)
    kafka_logs = "\n".join(_shown(cfg.log_dir / node.name / "server.log") for node in cfg.kafka_nodes)
    table.add_row("kafka", cfg.kafka_bootstrap.replace(",", "\n"), kafka_logs)
    if redis_sentinel:
        _add_sentinel_rows(table, cfg, stack.sentinel_primary())
    else:
        table.add_row("redis", cfg.redis_url, _shown(cfg.log_dir / "redis.log"))
    if prometheus:
        table.add_row("prometheus", cfg.prometheus_url, _shown(cfg.log_dir / "prometheus.log"))
    for name in names:
        endpoint = f"http://127.0.0.1:{_port(cfg, name, 'http')} (/healthz /readyz /metrics)"
        if _port(cfg, name, "grpc"):
            endpoint += f"\ngrpc 127.0.0.1:{_port(cfg, name, 'grpc')}"
        table.add_row(name, endpoint, _shown(cfg.log_dir / f"{name}.log"))
    out.print(table)
    if not simulate:
        out.print("Stop everything with [bold]make down[/bold] (or `helpline down`).")
        return
    _simulate_until_stopped(cfg, stack, prometheus=prometheus, live=live, redis_sentinel=redis_sentinel)


def _add_sentinel_rows(table: Table, cfg: StackConfig, primary: int) -> None:
    """A row for each Redis server, saying which is the primary, then one for the Sentinels."""
    for name, port in cfg.redis_servers.items():
        role = "primary" if port == primary else f"replica of {primary}"
        table.add_row(name, f"redis://127.0.0.1:{port} ({role})", _shown(cfg.log_dir / f"{name}.log"))
    endpoint = f"{cfg.redis_sentinels} (master name {SENTINEL_MASTER_NAME})"
    table.add_row("sentinels", endpoint, _shown(cfg.log_dir / "sentinel-*.log"))


def _local_endpoints(cfg: StackConfig) -> dict[str, str]:
    """Where the local stack's services answer the simulator."""
    return {
        "router_http": f"http://127.0.0.1:{_port(cfg, 'router', 'http')}",
        "router_grpc": f"127.0.0.1:{_port(cfg, 'router', 'grpc')}",
        "sla_http": f"http://127.0.0.1:{_port(cfg, 'sla', 'http')}",
        "tickets_grpc": f"127.0.0.1:{_port(cfg, 'tickets', 'grpc')}",
    }


def _simulate_until_stopped(
    cfg: StackConfig, stack: LocalStack, *, prometheus: bool, live: bool, redis_sentinel: bool
) -> None:
    from helpline.simulation.keys import run_keys
    from helpline.simulation.runner import Connections
    from helpline.simulation.scenario import Scenario as Default

    scenario = Default.default()
    settings = load_settings()
    # The keys go where the services read them: through the Sentinels, to whichever is the primary.
    store = (
        connect(cfg.redis_url, load_settings(**_sentinel_settings(cfg)))
        if redis_sentinel
        else redis.Redis.from_url(cfg.redis_url)
    )
    keys = ApiKeyStore(store, pepper=settings.api_key_pepper)
    signer = IngressSecrets(store).named(scenario.tenant, SIMULATOR)

    def connections(given: RunKeys) -> Connections:
        return Connections(
            kafka_bootstrap=cfg.kafka_bootstrap,
            keys=given,
            ingress_key=signer,
            kafka_options=settings.kafka_options(),
            **_local_endpoints(cfg),
        )

    out.print(
        f"Simulating a contact centre as tenant [bold]{scenario.tenant}[/bold]; Ctrl-C stops everything."
    )
    if prometheus:
        out.print(
            f"KPIs: {cfg.prometheus_url}/graph?g0.expr="
            f"tenant_queue_channel%3Ahelpline_service_level%3Aratio_rate5m%7Btenant%3D%22{scenario.tenant}%22%7D"
            " (service level by queue and channel; docs/metrics.md lists every KPI). Under docker compose,"
            " Grafana shows them at http://127.0.0.1:3000."
        )
    try:
        _simulate(scenario, connections, partial(run_keys, keys), forever=True, live=live)
    except KeyboardInterrupt:
        console.print("stopping: the customers hung up and the agents logged off; stopping the stack...")
    finally:
        # One Ctrl-C can arrive twice (from the terminal and forwarded by `uv run`): the second must
        # not cut the stack's stop short and leave a broker running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.down()
        out.print("stopped")


def _shown(path: Path) -> str:
    """A path relative to where the user stands, when it is below it: short enough for a table."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _service_env(cfg: StackConfig, name: str, *, redis_sentinel: bool = False) -> dict[str, str]:
    env = {
        "HELPLINE_SERVICE_NAME": name,
        "HELPLINE_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap,
        "HELPLINE_REDIS_URL": f"redis://127.0.0.1:{cfg.redis_port}/{SERVICE_PORTS[name]['redis_db']}",
        "HELPLINE_AUTH_REDIS_URL": f"redis://127.0.0.1:{cfg.redis_port}/0",
        "HELPLINE_HTTP_PORT": str(_port(cfg, name, "http")),
        "HELPLINE_GRPC_PORT": str(_port(cfg, name, "grpc")),
        # A development machine: the keys `helpline apikey create` makes here need no pepper.
        "HELPLINE_ENV": "dev",
    }
    if redis_sentinel:
        # The URLs keep their databases; the Sentinels name the host, for the API keys too.
        env |= {f"HELPLINE_{key.upper()}": value for key, value in _sentinel_settings(cfg).items()}
        # With two replicas, one may be away (or resyncing after a failover) while every write
        # still finds one to wait for.
        env["HELPLINE_REDIS_WAIT_REPLICAS"] = "1"
    if name == "metrics":
        # Its KPI counts live in Redis under the host's name, which a restart keeps; a stop waits
        # for the next scrape (every 5 s) to take the process's own counters.
        env["HELPLINE_FINAL_SCRAPE_WAIT_SECONDS"] = "10"
    return env


def _sentinel_settings(cfg: StackConfig) -> dict[str, str]:
    """How a client finds the Sentinel stack's primary."""
    return {"redis_sentinels": cfg.redis_sentinels, "redis_master_name": SENTINEL_MASTER_NAME}


@app.command()
def down() -> None:
    """Stop everything `helpline up` started (data stays in var/ for the next start)."""
    configure_logging("helpline-cli", level="INFO", fmt="console")
    LocalStack(StackConfig.from_env()).down()
    out.print("stopped")


@app.command()
def run(service: Annotated[str, typer.Argument(help="router, tickets, sla or metrics")]) -> None:
    """Run one service in the foreground, configured by HELPLINE_* variables (see the README)."""
    known = _services()
    if service not in known:
        console.print(f"[red]unknown service {service!r}; known: {', '.join(sorted(known))}[/red]")
        raise typer.Exit(2)
    (entry,) = [ep for ep in entry_points(group=SERVICE_GROUP) if ep.name == service]
    main = entry.load()
    raise typer.Exit(main())


@app.command()
def topics(
    create: Annotated[bool, typer.Option(help="Create the missing topics (and their DLQs).")] = False,
) -> None:
    """List the topic catalog and what the broker has of it."""
    from helpline.kafka import clients

    settings = load_settings()
    if create:
        created = ensure_topics(
            settings.kafka_bootstrap,
            CATALOG,
            **settings.topic_layout(),
            kafka_options=settings.kafka_options(),
        )
        console.print(f"created {len(created)} topics")
    admin = clients.admin(settings.kafka_bootstrap, "helpline-cli", **settings.kafka_options())
    try:
        on_broker = admin.topics()
    finally:
        admin.close()
    table = Table(title=f"topics on {settings.kafka_bootstrap}")
    table.add_column("topic", no_wrap=True)
    for column in ("key", "partitions", "retention", "carries", "on broker"):
        table.add_column(column)
    for spec in CATALOG:
        for name, carries in ((spec.name, ", ".join(spec.domains)), (spec.dlq, "dead letters")):
            present = on_broker.get(name)
            table.add_row(
                name,
                spec.key,
                str(spec.partitions),
                f"{spec.retention_ms // 86_400_000} d",
                carries,
                f"yes ({present} partitions)" if present is not None else "[red]missing[/red]",
            )
    out.print(table)


@app.command()
def publish(
    event_type: Annotated[str, typer.Argument(help="e.g. helpline.contact.received.v1")],
    json_data: Annotated[str, typer.Option("--json", help="The message in proto3 JSON form.")],
    topic: Annotated[str | None, typer.Option(help="Default: the topic that carries this domain.")] = None,
    subject: Annotated[str | None, typer.Option(help="Entity id; default: the topic's key field.")] = None,
    source: Annotated[str, typer.Option(help="CloudEvents source.")] = "/helpline/cli",
    structured: Annotated[
        bool, typer.Option(help="Send a structured JSON CloudEvent (as gateways may).")
    ] = False,
    ingress_key: Annotated[
        str | None,
        typer.Option(
            envvar="HELPLINE_INGRESS_KEY",
            help="KEY_ID:SECRET of the tenant's ingress secret (`helpline ingress-secret create`), "
            "which signs events to a topic other systems write (the contact ingress, feedback).",
        ),
    ] = None,
) -> None:
    """Publish one event, encoded as a CloudEvent with its protobuf message."""
    from google.protobuf import json_format

    from helpline.bus import make_producer
    from helpline.bus import publish as publish_record
    from helpline.events import Envelope, EventError, registry, signed, to_record, to_structured_json
    from helpline.records import OutgoingRecord
    from helpline.topics import spec as topic_spec
    from helpline.topics import topic_for_domain

    try:
        cls = registry().message_class(event_type)
    except EventError as exc:
        console.print(f"[red]{exc}[/red]; known types:\n  " + "\n  ".join(registry().types()))
        raise typer.Exit(2) from exc
    try:
        message = json_format.Parse(json_data, cls())
    except json_format.ParseError as exc:
        console.print(f"[red]--json does not fit {cls.DESCRIPTOR.full_name}: {exc}[/red]")
        raise typer.Exit(2) from exc
    target = topic_spec(topic) if topic else topic_for_domain(event_type.split(".")[1])
    if subject is None:
        subject = _entity_id(message, target.key)
    envelope = Envelope(type=event_type, source=source, message=message, subject=subject)
    if structured:
        key = subject.encode() if subject else None
        record = OutgoingRecord(
            target.name,
            to_structured_json(envelope),
            key,
            [("content-type", b"application/cloudevents+json")],
        )
    else:
        record = to_record(envelope, target.name)
    if target.validated:
        if not ingress_key:
            console.print(
                f"[red]{target.name} takes only signed events: give --ingress-key KEY_ID:SECRET[/red]"
            )
            raise typer.Exit(2)
        record = signed(record, envelope, _ingress_key(envelope.tenant_id, ingress_key))
    settings = load_settings()
    producer = make_producer(settings.kafka_bootstrap, "helpline-cli", **settings.kafka_options())
    try:
        meta = publish_record(producer, record)
    finally:
        producer.close()
    out.print(f"published {envelope.id} to {meta.topic}[{meta.partition}] at offset {meta.offset}")


def _ingress_key(tenant: str, given: str) -> IngressKey:
    key_id, colon, secret = given.partition(":")
    if not (key_id and colon and secret):
        raise typer.BadParameter(
            "give the ingress key as KEY_ID:SECRET, as `helpline ingress-secret create` prints it"
        )
    return IngressKey(tenant, key_id, secret)


def _entity_id(message: Message, field: str) -> str | None:
    """The topic's key field (e.g. ticket_id), on the message or on one of its direct sub-messages."""
    if field in message.DESCRIPTOR.fields_by_name:
        return str(getattr(message, field)) or None
    for descriptor in message.DESCRIPTOR.fields:
        nested = descriptor.message_type
        if nested is not None and field in nested.fields_by_name and not descriptor.is_repeated:
            found = str(getattr(getattr(message, descriptor.name), field))
            if found:
                return found
    return None


@app.command()
def tail(
    topic: Annotated[str, typer.Argument(help="A catalog topic or its .dlq")],
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest record, not the newest.")] = False,
    limit: Annotated[int, typer.Option("--max", help="Stop after this many records (0: no limit).")] = 0,
    idle: Annotated[
        float, typer.Option(help="Stop after this many seconds without a record (0: never).")
    ] = 0,
) -> None:
    """Print a topic's events decoded, one per line, until Ctrl-C (or --max / --idle)."""
    import json

    from helpline.events import EventError, from_record, to_display
    from helpline.kafka import clients
    from helpline.kafka.port import Start, TopicPartition

    settings = load_settings()
    consumer = clients.consumer(settings.kafka_bootstrap, "helpline-tail", **settings.kafka_options())
    partitions = consumer.partitions_of(topic)
    if not partitions:
        console.print(f"[red]topic {topic!r} does not exist on {settings.kafka_bootstrap}[/red]")
        raise typer.Exit(2)
    consumer.assign(
        [TopicPartition(topic, p) for p in partitions], Start.BEGINNING if from_beginning else Start.END
    )
    shown = 0
    last = time.monotonic()
    try:
        while not limit or shown < limit:
            records = consumer.poll(0.5, 500)
            if not records and idle and time.monotonic() - last > idle:
                break
            for record in records:
                last = time.monotonic()
                where = f"[dim]{record.topic}[{record.partition}]@{record.offset}[/dim]"
                headers = dict(record.headers or [])
                try:
                    view = to_display(from_record(record.headers, record.value, record.key))
                    line = (
                        f"{where} [bold]{view['type']}[/bold] {view['subject'] or ''} "
                        f"{json.dumps(view['data'], sort_keys=True)}"
                    )
                except EventError as exc:
                    line = f"{where} [yellow]undecodable ({exc})[/yellow] {(record.value or b'')[:200]!r}"
                if "dlq_error" in headers:
                    error = headers["dlq_error"].decode(errors="replace")
                    line += f"\n    [red]dead-lettered: {error}[/red]"
                out.print(line, highlight=False)
                shown += 1
                if limit and shown >= limit:
                    break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


@app.command()
def simulate(
    scenario_file: Annotated[
        Path | None,
        typer.Option(
            "--scenario", help="A scenario as JSON (docs/simulation.md); default: a mid-sized centre."
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the run's draws.")] = None,
    hours: Annotated[float | None, typer.Option(help="Simulated hours of arrivals.")] = None,
    speed: Annotated[float | None, typer.Option(help="Simulated seconds a real second.")] = None,
    tenant: Annotated[str | None, typer.Option(help="The tenant the simulated centre is.")] = None,
    forever: Annotated[
        bool, typer.Option(help="Run one simulated period after another until Ctrl-C.")
    ] = False,
    live: Annotated[bool, typer.Option(help="A live view; --no-live prints a progress line instead.")] = True,
    router_http: Annotated[
        str | None, typer.Option(help="The router's REST base URL; default: the local stack's.")
    ] = None,
    router_grpc: Annotated[
        str | None, typer.Option(help="The router's gRPC address; default: the local stack's.")
    ] = None,
    sla_http: Annotated[
        str | None, typer.Option(help="The SLA service's REST base URL; default: the local stack's.")
    ] = None,
    tickets_grpc: Annotated[
        str | None, typer.Option(help="The tickets service's gRPC address; default: the local stack's.")
    ] = None,
    heartbeat: Annotated[
        Path | None,
        typer.Option(help="A file touched every half second while runs go on, for a container healthcheck."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="HELPLINE_SIMULATOR_API_KEY",
            help="An admin's API key of the tenant, for every call of the run; default: keys made for "
            "each run, of the narrowest role each caller needs, revoked when it ends.",
        ),
    ] = None,
    ingress_key: Annotated[
        str | None,
        typer.Option(
            envvar="HELPLINE_SIMULATOR_INGRESS_KEY",
            help="KEY_ID:SECRET of the tenant's ingress secret the gateways sign with; default: the "
            f"tenant's secret named {SIMULATOR!r}, created when it has none.",
        ),
    ] = None,
) -> None:
    """Run a simulated contact centre against the running stack: customers through the Kafka ingress,
    agents on gRPC desktops, surveys on the feedback topic; the KPIs it implies are shown as it runs."""
    from helpline.simulation.keys import RunKeys, run_keys
    from helpline.simulation.runner import Connections

    scenario = _scenario(scenario_file, seed=seed, hours=hours, speed=speed, tenant=tenant)
    cfg = StackConfig.from_env()
    settings = load_settings()
    given = {
        "router_http": router_http,
        "router_grpc": router_grpc,
        "sla_http": sla_http,
        "tickets_grpc": tickets_grpc,
    }
    endpoints = _local_endpoints(cfg) | {name: url for name, url in given.items() if url}
    try:
        signer = (
            _ingress_key(scenario.tenant, ingress_key)
            if ingress_key
            else _ingress_secrets().named(scenario.tenant, SIMULATOR)
        )
    except (redis.RedisError, TooManySecretsError) as exc:
        console.print(
            f"[red]cannot find the simulator's ingress secret: {exc}[/red]; give one with --ingress-key"
        )
        raise typer.Exit(1) from exc

    def connections(keys: RunKeys) -> Connections:
        return Connections(
            kafka_bootstrap=settings.kafka_bootstrap,
            keys=keys,
            ingress_key=signer,
            kafka_options=settings.kafka_options(),
            **endpoints,
        )

    def shared(_run: Scenario) -> AbstractContextManager[RunKeys]:
        return nullcontext(RunKeys.shared(api_key or ""))

    try:
        _simulate(
            scenario,
            connections,
            shared if api_key else partial(run_keys, _api_keys()),
            forever=forever,
            live=live,
            heartbeat=heartbeat,
        )
    except KeyboardInterrupt:
        console.print("stopped: the waiting customers hung up and the agents logged off")


def _simulate(
    scenario: Scenario,
    connections: Callable[[RunKeys], Connections],
    keys: Callable[[Scenario], AbstractContextManager[RunKeys]],
    *,
    forever: bool,
    live: bool,
    heartbeat: Path | None = None,
) -> None:
    """One run, or one after another (each a new simulated day, seeded in turn) until Ctrl-C, each
    with the keys `keys` gives it."""
    import grpc
    import httpx

    from helpline.simulation.live import play, summary
    from helpline.simulation.runner import Simulation, SimulationError
    from helpline.simulation.setup import SetupError

    runs = 0
    try:
        while True:
            run = scenario.model_copy(update={"seed": scenario.seed + runs})
            # The run's keys are made and revoked by the operator who started it (helpline.audit).
            with acting_as(operator()), keys(run) as run_keys:
                sim = Simulation(run, connections(run_keys), heartbeat=heartbeat)
                try:
                    play(sim, out, live=live)
                finally:
                    sim.close()
            out.print(summary(sim))
            runs += 1
            if not forever:
                break
    except (SetupError, SimulationError, OSError, httpx.HTTPError, grpc.aio.AioRpcError) as exc:
        console.print(f"[red]the simulation stopped: {exc}[/red]")
        raise typer.Exit(1) from exc
    except (redis.RedisError, QuotaReachedError) as exc:
        console.print(f"[red]cannot make the run's API keys: {exc}[/red]; give an admin's with --api-key")
        raise typer.Exit(1) from exc


def _scenario(path: Path | None, **overrides: object) -> Scenario:
    from pydantic import ValidationError

    from helpline.simulation.scenario import Scenario as Loaded

    try:
        base = Loaded.model_validate_json(path.read_text()) if path else Loaded.default()
        given = {name: value for name, value in overrides.items() if value is not None}
        return Loaded.model_validate(base.model_dump() | given)
    except (OSError, ValidationError) as exc:
        console.print(f"[red]scenario {path or 'default'}: {exc}[/red]")
        raise typer.Exit(2) from exc


def _api_keys() -> ApiKeyStore:
    settings = load_settings()
    client = connect(settings.auth_redis_url, settings)
    return ApiKeyStore(client, pepper=settings.api_key_pepper, max_per_tenant=settings.tenant_max_api_keys)


def _ingress_secrets() -> IngressSecrets:
    settings = load_settings()
    return IngressSecrets(connect(settings.auth_redis_url, settings))


_SPAN = re.compile(r"^([1-9][0-9]{0,5})([mhdw])$")
_SPAN_UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


def _span(text: str) -> timedelta:
    match = _SPAN.fullmatch(text.strip())
    if match is None:
        raise typer.BadParameter(f"{text!r}: give a whole number and m, h, d or w, e.g. 30d")
    return int(match.group(1)) * _SPAN_UNITS[match.group(2)]


@apikey_app.command("create")
def apikey_create(
    tenant: Annotated[str, typer.Argument(help="The tenant the key acts for.")],
    role: Annotated[
        Role,
        typer.Option(
            help="What the key may do: admin (configuration, keys, everything), supervisor, agent "
            "(one agent's desk: give --agent), gateway (the channels) or reader (read-only)."
        ),
    ],
    agent: Annotated[str | None, typer.Option(help="The agent an agent's key acts for.")] = None,
    expires: Annotated[
        str | None, typer.Option(help="The key stops working this long from now, e.g. 90m, 12h, 30d, 8w.")
    ] = None,
    name: Annotated[str, typer.Option(help="What the key is for, e.g. the integration's name.")] = "default",
) -> None:
    """Create an API key; it is printed once and stored only as a hash. The audit trail records
    its creation as the operator's (`cli:<user>@<host>`)."""
    expires_at = datetime.now(UTC) + _span(expires) if expires else None
    store = _api_keys()
    try:
        with acting_as(operator()):
            key_id, key = store.create(tenant, name, role=role, agent_id=agent, expires_at=expires_at)
    except (ValueError, QuotaReachedError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    until = f", expiring {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
    console.print(
        f"key id {key_id} ({role}) for tenant {tenant}{until}; keep the key, it is not shown again:"
    )
    out.print(key)


@apikey_app.command("list")
def apikey_list(tenant: Annotated[str, typer.Argument()]) -> None:
    """List a tenant's keys (never the keys themselves)."""
    store = _api_keys()
    table = Table(title=f"API keys of {tenant}")
    for column in ("key id", "name", "role", "agent", "expires"):
        table.add_column(column)
    for principal in store.list(tenant):
        expires = f"{principal.expires_at:%Y-%m-%d %H:%M}" if principal.expires_at else ""
        table.add_row(principal.key_id, principal.name, principal.role, principal.agent_id or "", expires)
    out.print(table)


@apikey_app.command("revoke")
def apikey_revoke(key_id: Annotated[str, typer.Argument()]) -> None:
    """Revoke a key at once; the audit trail records it as the operator's (`cli:<user>@<host>`)."""
    store = _api_keys()
    with acting_as(operator()):
        revoked = store.revoke(key_id)
    if not revoked:
        console.print(f"[red]no key {key_id}[/red]")
        raise typer.Exit(1)
    out.print(f"revoked {key_id}")


@ingress_app.command("create")
def ingress_secret_create(
    tenant: Annotated[str, typer.Argument(help="The tenant whose events the secret signs.")],
    name: Annotated[str, typer.Option(help="What the secret is for, e.g. the gateway's name.")] = "default",
) -> None:
    """Create an ingress secret; printed once as KEY_ID:SECRET (docs/router.md, "Tenant-bound ingress")."""
    try:
        key = _ingress_secrets().create(tenant, name)
    except (InvalidTenantError, TooManySecretsError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(
        f"ingress secret {key.key_id} for tenant {tenant}; the gateway sends the key id (before the "
        "colon) and signs with the secret (after it). Keep it, it is not shown again:"
    )
    out.print(f"{key.key_id}:{key.secret}")


@ingress_app.command("list")
def ingress_secret_list(tenant: Annotated[str, typer.Argument()]) -> None:
    """List a tenant's ingress secrets (never the secrets themselves)."""
    table = Table(title=f"ingress secrets of {tenant}")
    for column in ("key id", "name", "created"):
        table.add_column(column)
    for info in _ingress_secrets().list(tenant):
        table.add_row(info.key_id, info.name, f"{info.created_at:%Y-%m-%d %H:%M}")
    out.print(table)


@ingress_app.command("revoke")
def ingress_secret_revoke(
    tenant: Annotated[str, typer.Argument()], key_id: Annotated[str, typer.Argument()]
) -> None:
    """Revoke an ingress secret: the consumers refuse what it signs within seconds."""
    if not _ingress_secrets().revoke(tenant, key_id):
        console.print(f"[red]tenant {tenant} has no ingress secret {key_id}[/red]")
        raise typer.Exit(1)
    out.print(f"revoked {key_id}")


RedisUrl = Annotated[
    str | None,
    typer.Option(
        help="The service's Redis (e.g. redis://127.0.0.1:6379/1 for the router); HELPLINE_REDIS_URL."
    ),
]
Stream = Annotated[
    str,
    typer.Argument(help="router:outbox, tickets:outbox or sla:outbox; auth:outbox in the auth Redis"),
]


def _service_redis(url: str | None) -> redis.Redis:
    settings = load_settings()
    return connect(url or settings.redis_url, settings)


@outbox_app.command("dead")
def outbox_dead(stream: Stream, redis_url: RedisUrl = None, count: int = 100) -> None:
    """List the events Kafka refused for good, oldest first, with the error."""
    from helpline.outbox import dead_letters

    table = Table(title=f"dead letters of {stream}")
    for column in ("entry", "topic", "bytes", "failed at", "error"):
        table.add_column(column)
    for dead in dead_letters(_service_redis(redis_url), stream, count):
        table.add_row(dead.entry_id, dead.topic, f"{dead.size:,}", dead.failed_at, dead.error)
    out.print(table)


@outbox_app.command("requeue")
def outbox_requeue(
    stream: Stream,
    entry: Annotated[list[str] | None, typer.Option(help="Only this dead entry (repeat for more).")] = None,
    redis_url: RedisUrl = None,
) -> None:
    """Put dead letters back in the outbox for the relay to publish again, once what refused them
    is mended (a topic's max.message.bytes raised, say)."""
    from helpline.outbox import requeue_dead_letters

    moved = requeue_dead_letters(_service_redis(redis_url), stream, entry or ())
    out.print(f"requeued {moved} entries onto {stream}")


if __name__ == "__main__":
    app()
