"""The `helpline` command: run a service, manage topics, API keys and ingress secrets, publish and
tail events. In a checkout it also runs the local stack and the simulator (devstack.cli)."""

from __future__ import annotations

import importlib
import re
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from typing import Annotated

import redis
import typer
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table

from helpline.auth import ApiKeyStore, InvalidTenantError, acting_as, operator
from helpline.ingress_secrets import IngressSecrets, TooManySecretsError
from helpline.ingress_signing import IngressKey
from helpline.logging import configure_logging
from helpline.quotas import QuotaReachedError
from helpline.redis_client import connect
from helpline.roles import Role
from helpline.settings import load_settings
from helpline.topic_admin import ensure_topics
from helpline.topics import CATALOG

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
# The development commands (`up`, `down`, `simulate`: the local stack and the simulated centre) live
# in the repository's devstack package, which neither the wheel nor the image carries: a checkout's
# `helpline` has them, a deployed one does not. Found by name, never imported statically, so
# import-linter can prove the library does not depend on it.
DEV_COMMANDS = "devstack.cli"


@app.callback()
def _setup() -> None:
    # Logs go to stderr, so stdout carries only what a command prints (a key, a table, events).
    configure_logging("helpline-cli", level="WARNING", fmt="console")


def _add_dev_commands(app: typer.Typer) -> None:
    """Add the development commands when their package is there; only its absence is tolerated,
    so a broken devstack fails loudly rather than hiding `helpline up`."""
    try:
        module = importlib.import_module(DEV_COMMANDS)
    except ModuleNotFoundError as exc:
        if exc.name != DEV_COMMANDS.partition(".")[0]:
            raise
        return
    module.register(app)


_add_dev_commands(app)


def _services() -> dict[str, str]:
    """Services register themselves as entry points, so this library never imports them."""
    return {ep.name: ep.value for ep in entry_points(group=SERVICE_GROUP)}


@app.command()
def run(service: Annotated[str, typer.Argument(help="router, tickets, sla, metrics or notify")]) -> None:
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
    try:
        return IngressKey.parse(tenant, given)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


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
