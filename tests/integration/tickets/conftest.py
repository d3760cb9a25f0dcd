"""The tickets service built as it runs (real Redis and Kafka), with an API key for each of two
tenants, for the REST tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from helpline.auth import ApiKeyStore
from services.tickets.app import TicketsSettings, build


@pytest.fixture
def api(
    redis_url: str, kafka_bootstrap: str, unique: str
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]], object]]:
    settings = TicketsSettings(
        service_name="tickets",
        redis_url=redis_url,
        auth_redis_url=redis_url,
        kafka_bootstrap=kafka_bootstrap,
        api_key_pepper=unique,
    )
    runtime = build(settings)
    keys = ApiKeyStore(runtime.auth_redis, pepper=unique)
    headers = {t: {"X-API-Key": keys.create(t, "test")[1]} for t in (f"a{unique}", f"b{unique}")}
    with TestClient(runtime.app) as client:
        yield client, headers, runtime
    # build() made the outbox relay's producer; nothing ran it, so close it here.
    runtime.producer.close(timeout=1)
