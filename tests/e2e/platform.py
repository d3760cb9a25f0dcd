"""The platform as the end-to-end tests run the simulated centre against it: all five services as
processes on a given Redis and Kafka (notify delivering to the simulator's receiver on loopback), a
real Prometheus scraping the metrics service every second with the project's rules, and what the
tests read back (counts per queue and channel, the SLA events on Kafka)."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import redis
from google.protobuf.message import Message

from helpline.auth import ApiKeyStore
from helpline.events import from_record
from helpline.ingress_secrets import IngressSecrets
from helpline.kafka import clients
from helpline.kafka.port import Start
from helpline.kafka.reading import partitions
from helpline.v1 import common_pb2
from simulator.keys import VALID_FOR, RunKeys, run_keys
from simulator.runner import Connections
from simulator.scenario import Scenario
from simulator.truth import SlaExpectation
from tests.e2e.prometheus import Prometheus, scraping
from tests.integration.helpers import wait_until
from tests.integration.service_process import ServiceProcess, service_env

SERVICES = ("router", "tickets", "sla", "metrics", "notify")
SLA_TOPIC = "helpline.sla"
Slot = tuple[str, str]


@dataclass
class Platform:
    services: dict[str, ServiceProcess]
    # With an admin's key, for the tests' own reads and checks.
    connections: Connections
    prometheus: Prometheus
    api_keys: ApiKeyStore
    runs: ExitStack = field(default_factory=ExitStack)

    def simulating(self, scenario: Scenario) -> Connections:
        """The connections of a simulated run of the scenario, with keys of the narrowest role each
        of its callers needs (simulator.keys), revoked when the platform stops."""
        return replace(self.connections, keys=self.runs.enter_context(run_keys(self.api_keys, scenario)))


@contextmanager
def running_platform(
    redis_url: str,
    kafka_bootstrap: str,
    tenant: str,
    pepper: str,
    folder: Path,
    per_service: Mapping[str, Mapping[str, str]] | None = None,
    **env: str,
) -> Iterator[Platform]:
    """Every service started and ready, a simulator's API key and ingress secret for `tenant`,
    Prometheus scraping; each service stopped at the end, which it must do cleanly. `per_service`
    adds to one service's environment (its own way to Redis and Kafka, say)."""
    own = per_service or {}
    fixed = {
        # A stop of the metrics service waits for Prometheus' next scrape (every second here), which
        # takes the process's own counters (its KPI counts live on in Redis under its name) and is
        # why the services stop before Prometheus does.
        "metrics": {"HELPLINE_FINAL_SCRAPE_WAIT_SECONDS": "5"},
        # Notify calls the simulator's webhook receiver on loopback, refused by default (SSRF).
        "notify": {"HELPLINE_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"},
    }
    services = {
        name: ServiceProcess(
            name,
            service_env(
                name,
                redis_url,
                kafka_bootstrap,
                pepper,
                **(env | fixed.get(name, {}) | dict(own.get(name, {}))),
            ),
            folder / f"{name}.log",
        )
        for name in SERVICES
    }

    def stop_all() -> dict[str, int | None]:
        # A service stopped already answers its exit code again.
        return {service.name: service.stop() for service in services.values()}

    try:
        for service in services.values():
            service.start()
        router = services["router"]
        api_keys = ApiKeyStore(redis.Redis.from_url(redis_url), pepper=pepper)
        key = api_keys.create(tenant, "tests", expires_at=datetime.now(UTC) + VALID_FOR)[1]
        signer = IngressSecrets(redis.Redis.from_url(redis_url)).create(tenant, "simulator")
        with scraping(services["metrics"].port, folder) as prometheus:
            platform = Platform(
                services,
                Connections(
                    kafka_bootstrap=kafka_bootstrap,
                    router_http=f"http://127.0.0.1:{router.port}",
                    router_grpc=f"127.0.0.1:{router.grpc_port}",
                    keys=RunKeys.shared(key),
                    ingress_key=signer,
                    sla_http=f"http://127.0.0.1:{services['sla'].port}",
                    tickets_grpc=f"127.0.0.1:{services['tickets'].grpc_port}",
                    tickets_http=f"http://127.0.0.1:{services['tickets'].port}",
                    notify_http=f"http://127.0.0.1:{services['notify'].port}",
                ),
                prometheus,
                api_keys,
            )
            try:
                with platform.runs:
                    yield platform
            finally:
                stop_all()
    finally:
        for name, code in stop_all().items():
            assert code in (0, None), f"{name} did not stop cleanly; see {services[name].log}"


def by_slot(prometheus: Prometheus, expr: str) -> dict[Slot, float]:
    return {
        (sample["metric"]["queue"], sample["metric"]["channel"]): float(sample["value"][1])
        for sample in prometheus.query(expr)
    }


# A counter's selector -> the expression Prometheus sums: the counter itself, or its increase over a
# run with restarts of the metrics service (tests/e2e/ledger_checks.across_restarts).
Over = Callable[[str], str]


def as_is(selector: str) -> str:
    return selector


def counted(
    prometheus: Prometheus, name: str, tenant: str, known: Collection[Slot], over: Over = as_is
) -> dict[Slot, float]:
    """The tenant's counter `name` per queue and channel (`over` the expression summed, the counter
    itself by default): each slot that counted something, and each `known` one even at zero."""
    selector = f'{name}{{tenant="{tenant}"}}'
    found = by_slot(prometheus, f"sum by (queue, channel) ({over(selector)})")
    return {slot: value for slot, value in found.items() if value or slot in known}


def wait_for_queues(prometheus: Prometheus, tenant: str, slots: Collection[Slot]) -> None:
    """Every queue's series in Prometheus, from zero, before the run: an answer the metrics service
    sees before its queue's threshold counts as not within it."""
    wait_until(
        lambda: (
            set(slots) <= set(by_slot(prometheus, f'helpline_contacts_queued_total{{tenant="{tenant}"}}'))
        ),
        timeout=60,
        what="the queues' series, from zero, in Prometheus",
    )


def eventually(check: Callable[[], None], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


KINDS = {
    "SlaApplied": "applied",
    "SlaWarning": "warned",
    "SlaBreached": "breached",
    "SlaFulfilled": "fulfilled",
    "SlaQueueWarning": "warned",
    "SlaQueueBreached": "breached",
}


def kinds(expected: SlaExpectation) -> set[str]:
    """The alerts an expectation implies (an applied target is no alert)."""
    return {kind for kind in ("warned", "breached", "fulfilled") if getattr(expected, kind)}


@dataclass
class SlaEvents:
    """The tenant's SLA events on Kafka, read from the start of the topic and kept up to date: the
    alerts of each (ticket, metric) and each queued (contact, queue), and the event ids of each
    (subject, kind), to tell a duplicate in effect (two events) from a record delivered twice."""

    bootstrap: str
    tenant: str
    tickets: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    contacts: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    ids: dict[tuple[str, str, str, str], set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.consumer = clients.consumer(self.bootstrap, "test-sla-events")
        self.consumer.assign(partitions(self.consumer, [SLA_TOPIC]), Start.BEGINNING)

    def __enter__(self) -> SlaEvents:
        return self

    def __exit__(self, *_: object) -> None:
        self.consumer.close()

    def read(self) -> None:
        while records := self.consumer.poll(0.5, 500):
            for record in records:
                envelope = from_record(record.headers, record.value, record.key)
                self._take(envelope.id, envelope.message)

    def _take(self, event_id: str, event: Message) -> None:
        if getattr(event, "tenant_id", None) != self.tenant:
            return
        kind = KINDS.get(type(event).__name__)
        if kind is None:
            return
        if event.WhichOneof("subject") == "ticket_id":
            metric = common_pb2.SlaMetric.Name(event.metric).removeprefix("SLA_METRIC_").lower()  # type: ignore[attr-defined]
            subject, alerts = ("ticket", event.ticket_id, metric), self.tickets  # type: ignore[attr-defined]
        else:
            entry = event.queued_contact  # type: ignore[attr-defined]
            subject, alerts = ("contact", entry.contact_id, entry.queue_id), self.contacts
        self.ids.setdefault((*subject, kind), set()).add(event_id)
        if kind != "applied":
            alerts.setdefault(subject[1:], set()).add(kind)

    def applied(self) -> set[tuple[str, str]]:
        """The (ticket, metric) targets that started running."""
        return {
            (ticket, metric)
            for (subject, ticket, metric, kind) in self.ids
            if (subject, kind) == ("ticket", "applied")
        }

    def duplicates(self) -> dict[tuple[str, str, str, str], set[str]]:
        """Subjects that fired one kind of event more than once (distinct event ids)."""
        return {key: ids for key, ids in self.ids.items() if len(ids) > 1}
