"""The survey tool's subscription through the notify service's REST admin, on the real Redis: made
with the secret it signs with, a killed run's leftover removed first, the tenant's own webhooks
left alone, and removed at the end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpline.auth import ApiKeyStore
from helpline.clock import FakeClock
from helpline.rest import install_problem_handlers
from services.notify.api import rest
from services.notify.store import NotifyStore
from services.notify.subscriptions import Subscriptions
from simulator.setup import SetupError
from simulator.webhooks import DESCRIPTION, subscribe, unsubscribe

REQUESTED = "helpline.ticket.survey_requested.v1"


@pytest.fixture
def notify(redis_client: redis.Redis, unique: str) -> Iterator[tuple[TestClient, Subscriptions, str, str]]:
    """The notify REST app as a development stack runs it (private targets allowed), and an
    admin's key of a tenant of the test's own."""
    keys = ApiKeyStore(redis_client, pepper=unique)
    hooks = Subscriptions(
        NotifyStore(redis_client, 5), FakeClock(datetime(2031, 1, 1, tzinfo=UTC)), allow_private=True, quota=5
    )
    app = FastAPI()
    install_problem_handlers(app)
    rest.provide(app, hooks, keys)
    app.include_router(rest.api)
    tenant = f"t{unique}"
    with TestClient(app) as client:
        yield client, hooks, tenant, keys.create(tenant, "simulator")[1]


def test_a_run_subscribes_its_receiver_after_removing_a_killed_runs_and_unsubscribes(
    notify: tuple[TestClient, Subscriptions, str, str],
) -> None:
    client, hooks, tenant, key = notify
    headers = {"X-API-Key": key}
    crm = {"url": "http://10.0.0.9/crm", "event_types": ["helpline.ticket.*"], "description": "CRM"}
    assert client.post("/v1/webhooks", json=crm, headers=headers).status_code == 201
    # Left by a run killed before it unsubscribed.
    leftover = {"url": "http://127.0.0.1:1/", "event_types": [REQUESTED], "description": DESCRIPTION}
    assert client.post("/v1/webhooks", json=leftover, headers=headers).status_code == 201

    subscription, secret = subscribe(client, key, "http://127.0.0.1:5000/", [REQUESTED])

    assert secret.startswith("whsec_")
    found = {s.subscription.description: s.subscription for s in hooks.of_tenant(tenant)}
    assert set(found) == {"CRM", DESCRIPTION}
    ours = found[DESCRIPTION]
    assert (ours.id, ours.url, list(ours.event_types), ours.secret) == (
        subscription,
        "http://127.0.0.1:5000/",
        [REQUESTED],
        secret,
    )
    unsubscribe(client, key, subscription)
    assert [s.subscription.description for s in hooks.of_tenant(tenant)] == ["CRM"]
    # Gone already: nothing to do.
    unsubscribe(client, key, subscription)


def test_a_refused_subscription_is_a_setup_error_naming_the_answer(
    notify: tuple[TestClient, Subscriptions, str, str],
) -> None:
    client, _hooks, _tenant, key = notify
    with pytest.raises(SetupError, match="POST http://testserver/v1/webhooks: 422"):
        subscribe(client, key, "ftp://127.0.0.1/", [REQUESTED])
