"""The audit trail end to end: the router and SLA services as processes, an operator's key made and
revoked with `helpline apikey`, configuration changed over REST with that key, and every change read
back from `helpline.audit` in Kafka, keyed by its tenant, with the key that made it and the versions
before and after it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, closing

import httpx
import pytest
import redis
from typer.testing import CliRunner

from helpline.audit import AUDIT_TOPIC
from helpline.auth import ApiKeyStore, operator
from helpline.cli import app
from helpline.events import from_record
from helpline.kafka.reading import reader
from helpline.v1 import audit_events_pb2
from tests.integration.service_process import ServiceProcess, running, service_env
from tests.stack_provider import Endpoints

PEPPER = "audit-pepper"
# How long the topic is read on once every expected event arrived, for any duplicate.
AFTERWARDS_S = 3.0
A = audit_events_pb2
CALENDAR = {
    "name": "Office",
    "time_zone": "UTC",
    "open_intervals": [{"weekday": "monday", "opens": "09:00", "closes": "17:00"}],
}
POLICY = {"name": "Standard", "position": 1, "targets": [], "calendar_id": "office"}


@pytest.fixture(scope="module")
def services(
    stack: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    folder = tmp_path_factory.mktemp("audit")
    with ExitStack() as started:
        yield {
            name: started.enter_context(
                running(
                    name,
                    service_env(name, stack.redis_url, stack.kafka_bootstrap, PEPPER),
                    folder / f"{name}.log",
                )
            )
            for name in ("router", "sla")
        }


def helpline(stack: Endpoints, *args: str) -> str:
    """Run the command line as an operator would, against the services' key store."""
    env = {"HELPLINE_AUTH_REDIS_URL": stack.redis_url, "HELPLINE_API_KEY_PEPPER": PEPPER}
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def audit_trail(bootstrap: str, tenant: str, count: int, timeout: float = 60) -> list[A.ConfigurationChanged]:
    """The tenant's audit events on the topic, in the order of its partition: `count` of them, and
    no more for a few seconds after (two services relay the keys' outbox: each entry once)."""
    found: list[A.ConfigurationChanged] = []
    deadline = time.monotonic() + timeout
    settled: float | None = None
    with reader(bootstrap, [AUDIT_TOPIC]) as consumer:
        while time.monotonic() < (settled or deadline):
            if settled is None and len(found) >= count:
                settled = time.monotonic() + AFTERWARDS_S
            for record in consumer.poll(0.5, 500):
                if record.key == tenant.encode():
                    envelope = from_record(record.headers, record.value, record.key)
                    message = envelope.message
                    assert isinstance(message, A.ConfigurationChanged)
                    assert envelope.subject == message.object_id
                    found.append(message)
    assert len(found) == count, f"{len(found)} of {count} audit events of {tenant} arrived"
    return found


def step(change: A.ConfigurationChanged) -> tuple[str, str, str, int, int]:
    """What changed, how, and the versions before and after."""
    return (
        A.ConfigurationKind.Name(change.kind).removeprefix("CONFIGURATION_KIND_").lower(),
        change.object_id,
        A.ConfigurationAction.Name(change.action).removeprefix("CONFIGURATION_ACTION_").lower(),
        change.before_version,
        change.after_version,
    )


def test_every_change_is_on_the_audit_topic_with_the_key_that_made_it(
    services: dict[str, ServiceProcess], stack: Endpoints, unique: str
) -> None:
    tenant = f"audit{unique}"
    key = (
        helpline(stack, "apikey", "create", tenant, "--role", "admin", "--name", "ops")
        .strip()
        .splitlines()[-1]
    )
    with closing(redis.Redis.from_url(stack.redis_url)) as client:
        principal = ApiKeyStore(client, pepper=PEPPER).resolve(key)
    assert principal is not None
    headers = {"X-API-Key": key}
    router = f"http://127.0.0.1:{services['router'].port}/v1"
    sla = f"http://127.0.0.1:{services['sla'].port}/v1/sla"
    calls = [
        ("PUT", f"{router}/queues/chat", {"name": "Chat", "channels": ["chat"]}, 201),
        ("PUT", f"{router}/queues/chat", {"name": "Chat desk", "channels": ["chat"]}, 200),
        ("DELETE", f"{router}/queues/chat", None, 204),
        ("PUT", f"{sla}/calendars/office", CALENDAR, 201),
        ("PUT", f"{sla}/policies/standard", POLICY, 201),
        ("PUT", f"{sla}/policies/standard", {**POLICY, "name": "Normal"}, 200),
        ("DELETE", f"{sla}/policies/standard", None, 204),
        ("DELETE", f"{sla}/calendars/office", None, 204),
    ]
    for method, url, body, status in calls:
        answer = httpx.request(method, url, json=body, headers=headers, timeout=15)
        assert answer.status_code == status, answer.text
    helpline(stack, "apikey", "revoke", principal.key_id)

    trail = audit_trail(stack.kafka_bootstrap, tenant, 10)
    keys = [change for change in trail if change.kind == A.CONFIGURATION_KIND_API_KEY]
    made = [change for change in trail if change.kind != A.CONFIGURATION_KIND_API_KEY]
    # Each service's changes reach the tenant's partition in the order they were made.
    assert [step(change) for change in made if change.kind == A.CONFIGURATION_KIND_QUEUE] == [
        ("queue", "chat", "put", 0, 1),
        ("queue", "chat", "put", 1, 2),
        ("queue", "chat", "remove", 2, 0),
    ]
    assert [step(change) for change in made if change.kind != A.CONFIGURATION_KIND_QUEUE] == [
        ("calendar", "office", "put", 0, 1),
        ("sla_policy", "standard", "put", 0, 1),
        ("sla_policy", "standard", "put", 1, 2),
        ("sla_policy", "standard", "remove", 2, 0),
        ("calendar", "office", "remove", 1, 0),
    ]
    by_key = A.KeyActor(key_id=principal.key_id, role="admin", name="ops")
    assert all(change.actor == by_key for change in made)
    assert all(change.tenant_id == tenant and change.HasField("occurred_at") for change in trail)
    # The operator's key, made and revoked at the command line, relayed from the keys' outbox.
    assert [step(change) for change in keys] == [
        ("api_key", principal.key_id, "create", 0, 1),
        ("api_key", principal.key_id, "revoke", 1, 0),
    ]
    at_the_command_line = A.KeyActor(role="admin", name=operator().name)
    assert all(change.actor == at_the_command_line for change in keys)
