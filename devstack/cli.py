"""The development commands of `helpline`: `up`, `down` and `simulate` against the local stack.

helpline.cli adds them through `register` when this package is importable (a checkout); the image
has no devstack, so its `helpline` has none of them. This module never imports helpline.cli: it
receives the app, so `python -m helpline.cli up` does not import that module twice.
"""

from __future__ import annotations

import signal
from functools import partial
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import redis
import typer
from rich.console import Console
from rich.table import Table

from devstack.local_stack import SENTINEL_MASTER_NAME, LocalStack, StackConfig, StackError
from devstack.prometheus_config import write_prometheus_config
from helpline.auth import ApiKeyStore
from helpline.ingress_secrets import IngressSecrets
from helpline.logging import configure_logging
from helpline.redis_client import connect
from helpline.settings import load_settings
from helpline.topic_admin import ensure_topics
from helpline.topics import CATALOG
from simulator.cli import SIMULATOR, simulate_command
from simulator.cli import run as run_simulation

if TYPE_CHECKING:
    from simulator.keys import RunKeys
    from simulator.runner import Connections

console = Console(stderr=True)
# soft_wrap: one line per row, whatever the terminal width, so output pipes cleanly.
out = Console(soft_wrap=True)

# Where the services register themselves (pyproject.toml), as `helpline run` finds them.
SERVICE_GROUP = "helpline.services"

# Fixed local ports, so `make up` always prints the same endpoints. Each service has its own Redis
# database: services never share state, and one Redis serves them all on a laptop.
SERVICE_PORTS = {
    "router": {"http": 8081, "grpc": 50051, "redis_db": 1},
    "tickets": {"http": 8082, "grpc": 50052, "redis_db": 2},
    "sla": {"http": 8083, "grpc": 50053, "redis_db": 3},
    "metrics": {"http": 8084, "grpc": 0, "redis_db": 4},
    "notify": {"http": 8085, "grpc": 0, "redis_db": 5},
}


def register(app: typer.Typer) -> None:
    """Add `up`, `down` and `simulate` (its endpoints defaulting to the local stack's) to `app`."""
    app.command()(up)
    app.command()(down)
    app.command("simulate")(simulate_command(lambda: local_endpoints(StackConfig.from_env())))


def _services() -> set[str]:
    return {ep.name for ep in entry_points(group=SERVICE_GROUP)}


def _port(cfg: StackConfig, service: str, kind: str) -> int:
    port = SERVICE_PORTS[service][kind]
    return port + cfg.port_offset if port else 0


def _prometheus_config(cfg: StackConfig, services: list[str]) -> Path:
    targets = {s: [f"127.0.0.1:{_port(cfg, s, 'http')}"] for s in services}
    return write_prometheus_config(cfg.var_dir / "prometheus.yml", targets)


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


def local_endpoints(cfg: StackConfig) -> dict[str, str]:
    """Where the local stack's services answer the simulator."""
    return {
        "router_http": f"http://127.0.0.1:{_port(cfg, 'router', 'http')}",
        "router_grpc": f"127.0.0.1:{_port(cfg, 'router', 'grpc')}",
        "sla_http": f"http://127.0.0.1:{_port(cfg, 'sla', 'http')}",
        "tickets_grpc": f"127.0.0.1:{_port(cfg, 'tickets', 'grpc')}",
        "tickets_http": f"http://127.0.0.1:{_port(cfg, 'tickets', 'http')}",
        "notify_http": f"http://127.0.0.1:{_port(cfg, 'notify', 'http')}",
    }


def _simulate_until_stopped(
    cfg: StackConfig, stack: LocalStack, *, prometheus: bool, live: bool, redis_sentinel: bool
) -> None:
    from simulator.keys import run_keys
    from simulator.runner import Connections
    from simulator.scenario import Scenario as Default

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
            **local_endpoints(cfg),
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
        run_simulation(scenario, connections, partial(run_keys, keys), forever=True, live=live)
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
    if name == "notify":
        # The simulator's webhook receiver listens on loopback, which notify refuses by default (SSRF).
        env["HELPLINE_WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "true"
    return env


def _sentinel_settings(cfg: StackConfig) -> dict[str, str]:
    """How a client finds the Sentinel stack's primary."""
    return {"redis_sentinels": cfg.redis_sentinels, "redis_master_name": SENTINEL_MASTER_NAME}


def down() -> None:
    """Stop everything `helpline up` started (data stays in var/ for the next start)."""
    configure_logging("helpline-cli", level="INFO", fmt="console")
    LocalStack(StackConfig.from_env()).down()
    out.print("stopped")
