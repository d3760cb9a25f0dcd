"""The simulator's command: `simulate`, run a simulated contact centre against a running platform.

Two front ends share it. In a checkout, `helpline simulate` (registered by devstack.cli) defaults
the endpoints to the local stack's; in the simulator's own image (deploy/simulation/Dockerfile),
`python -m simulator simulate` is given them. The simulator is a client of the platform: it reaches
the services only through their APIs and topics, and imports the helpline library, never services.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import redis
import typer
from rich.console import Console

from helpline.auth import ApiKeyStore, acting_as, operator
from helpline.ingress_secrets import IngressSecrets, TooManySecretsError
from helpline.ingress_signing import IngressKey
from helpline.logging import configure_logging
from helpline.quotas import QuotaReachedError
from helpline.redis_client import connect
from helpline.settings import load_settings

if TYPE_CHECKING:
    from simulator.keys import RunKeys
    from simulator.runner import Connections
    from simulator.scenario import Scenario

console = Console(stderr=True)
# soft_wrap: one line per result, whatever the terminal width, so output pipes cleanly.
out = Console(soft_wrap=True)

# The name of the ingress secret the simulator signs with, kept from one run to the next.
SIMULATOR = "simulator"
# The endpoints a run needs, as `Connections` takes them.
ENDPOINTS = ("router_http", "router_grpc", "sla_http", "tickets_grpc", "tickets_http", "notify_http")

app = typer.Typer(
    help="The simulated contact centre, a client of a running Helpline platform.", no_args_is_help=True
)


@app.callback()
def _setup() -> None:
    # Logs go to stderr, so stdout carries only what the command prints.
    configure_logging("helpline-simulator", level="WARNING", fmt="console")


def simulate_command(
    default_endpoints: Callable[[], Mapping[str, str]] | None = None,
) -> Callable[..., None]:
    """The `simulate` command; `default_endpoints` gives the endpoints not named on the command line
    (the local stack's, under `helpline simulate`); without it, every endpoint must be given."""

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
        live: Annotated[
            bool, typer.Option(help="A live view; --no-live prints a progress line instead.")
        ] = True,
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
            str | None,
            typer.Option(help="The tickets service's gRPC address; default: the local stack's."),
        ] = None,
        tickets_http: Annotated[
            str | None,
            typer.Option(help="The tickets service's REST base URL; default: the local stack's."),
        ] = None,
        notify_http: Annotated[
            str | None,
            typer.Option(help="The notify service's REST base URL; default: the local stack's."),
        ] = None,
        receiver_listen: Annotated[
            str,
            typer.Option(
                help="HOST:PORT the survey tool's webhook receiver listens on; port 0 picks a free one."
            ),
        ] = "127.0.0.1:0",
        receiver_url: Annotated[
            str | None,
            typer.Option(
                help="The URL the notify service calls the receiver at; default: the listen address's "
                "(give one when it listens on all addresses)."
            ),
        ] = None,
        heartbeat: Annotated[
            Path | None,
            typer.Option(
                help="A file touched every half second while runs go on, for a container healthcheck."
            ),
        ] = None,
        api_key: Annotated[
            str | None,
            typer.Option(
                envvar="HELPLINE_SIMULATOR_API_KEY",
                help="An admin's API key of the tenant, for every call of the run; default: keys made "
                "for each run, of the narrowest role each caller needs, revoked when it ends.",
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
        agents on gRPC desktops, the survey requests it is sent by webhook answered on the feedback
        topic; the KPIs it implies are shown as it runs."""
        from simulator.keys import RunKeys, run_keys
        from simulator.runner import Connections

        scenario = load_scenario(scenario_file, seed=seed, hours=hours, speed=speed, tenant=tenant)
        settings = load_settings()
        given = {
            "router_http": router_http,
            "router_grpc": router_grpc,
            "sla_http": sla_http,
            "tickets_grpc": tickets_grpc,
            "tickets_http": tickets_http,
            "notify_http": notify_http,
        }
        defaults = dict(default_endpoints()) if default_endpoints else {}
        endpoints = defaults | {name: url for name, url in given.items() if url}
        missing = [f"--{name.replace('_', '-')}" for name in ENDPOINTS if name not in endpoints]
        if missing:
            console.print(f"[red]give the platform's endpoints: {', '.join(missing)}[/red]")
            raise typer.Exit(2)
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
                receiver_listen=receiver_listen,
                receiver_url=receiver_url or "",
                **endpoints,
            )

        def shared(_run: Scenario) -> AbstractContextManager[RunKeys]:
            return nullcontext(RunKeys.shared(api_key or ""))

        try:
            run(
                scenario,
                connections,
                shared if api_key else partial(run_keys, _api_keys()),
                forever=forever,
                live=live,
                heartbeat=heartbeat,
            )
        except KeyboardInterrupt:
            console.print("stopped: the waiting customers hung up and the agents logged off")

    return simulate


app.command("simulate")(simulate_command())


def run(
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

    from simulator.live import play, summary
    from simulator.runner import Simulation, SimulationError
    from simulator.setup import SetupError

    runs = 0
    try:
        while True:
            scenario_run = scenario.model_copy(update={"seed": scenario.seed + runs})
            # The run's keys are made and revoked by the operator who started it (helpline.audit).
            with acting_as(operator()), keys(scenario_run) as run_keys:
                sim = Simulation(scenario_run, connections(run_keys), heartbeat=heartbeat)
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


def load_scenario(path: Path | None, **overrides: object) -> Scenario:
    """The scenario of a JSON file (or the default one) with the options given on the command line."""
    from pydantic import ValidationError

    from simulator.scenario import Scenario as Loaded

    try:
        base = Loaded.model_validate_json(path.read_text()) if path else Loaded.default()
        given = {name: value for name, value in overrides.items() if value is not None}
        return Loaded.model_validate(base.model_dump() | given)
    except (OSError, ValidationError) as exc:
        console.print(f"[red]scenario {path or 'default'}: {exc}[/red]")
        raise typer.Exit(2) from exc


def _ingress_key(tenant: str, given: str) -> IngressKey:
    try:
        return IngressKey.parse(tenant, given)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _api_keys() -> ApiKeyStore:
    settings = load_settings()
    client = connect(settings.auth_redis_url, settings)
    return ApiKeyStore(client, pepper=settings.api_key_pepper, max_per_tenant=settings.tenant_max_api_keys)


def _ingress_secrets() -> IngressSecrets:
    settings = load_settings()
    return IngressSecrets(connect(settings.auth_redis_url, settings))
