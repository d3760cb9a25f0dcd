"""The shared REST layer: API keys resolve to a tenant; every error is problem+json.

No `from __future__ import annotations` here: FastAPI must see the local `Caller` alias itself."""

from typing import Annotated

import pytest
import redis
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from helpline.auth import ApiKeyStore, Principal
from helpline.limits import EventTooLargeError, LimitError
from helpline.rest import PROBLEM_JSON, ProblemError, install_problem_handlers, principal_dependency


class Thing(BaseModel):
    name: str = Field(min_length=1, max_length=5)


def make_app(store: ApiKeyStore) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    Caller = Annotated[Principal, Depends(principal_dependency(lambda: store))]  # noqa: N806 -- a type alias

    @app.get("/v1/whoami")
    def whoami(caller: Caller) -> dict[str, str]:
        return {"tenant": caller.tenant_id}

    @app.post("/v1/things")
    def create(caller: Caller, thing: Thing) -> dict[str, str]:
        if thing.name == "taken":
            raise ProblemError(409, "Conflict", "a thing with that name exists", name=thing.name)
        return {"name": thing.name}

    return app


@pytest.fixture
def client_and_key(redis_client: redis.Redis, unique: str) -> tuple[TestClient, str]:
    store = ApiKeyStore(redis_client, pepper="test", namespace=f"auth-{unique}")
    _, key = store.create("acme", "test")
    return TestClient(make_app(store)), key


def test_key_in_either_header_resolves_the_tenant(client_and_key: tuple[TestClient, str]) -> None:
    client, key = client_and_key
    assert client.get("/v1/whoami", headers={"X-API-Key": key}).json() == {"tenant": "acme"}
    assert client.get("/v1/whoami", headers={"Authorization": f"Bearer {key}"}).json() == {"tenant": "acme"}


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "hlk_nope"}, {"Authorization": "Bearer nope"}])
def test_missing_or_unknown_key_is_a_401_problem(
    client_and_key: tuple[TestClient, str], headers: dict[str, str]
) -> None:
    client, _ = client_and_key
    response = client.get("/v1/whoami", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["title"] == "Unauthorized"
    assert "API key" in response.json()["detail"]


def test_validation_and_domain_errors_are_problems(client_and_key: tuple[TestClient, str]) -> None:
    client, key = client_and_key
    invalid = client.post("/v1/things", json={"name": "far too long"}, headers={"X-API-Key": key})
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == PROBLEM_JSON
    assert invalid.json()["errors"][0]["location"] == "body.name"
    conflict = client.post("/v1/things", json={"name": "taken"}, headers={"X-API-Key": key})
    assert conflict.status_code == 409
    assert conflict.json() == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "a thing with that name exists",
        "name": "taken",
    }
    missing = client.get("/v1/nowhere", headers={"X-API-Key": key})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM_JSON


def test_an_oversized_event_is_a_413_naming_the_field_and_an_outage_a_503_to_retry() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/v1/huge")
    def huge() -> None:
        raise EventTooLargeError("event_too_large", "the event would be 2,000,000 bytes", "description")

    @app.post("/v1/long")
    def long() -> None:
        raise LimitError("too_long", "subject is 300 characters; at most 250", "subject")

    @app.get("/v1/outage")
    def outage() -> None:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    @app.get("/v1/bug")
    def bug() -> None:
        raise redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")

    client = TestClient(app, raise_server_exceptions=False)
    too_large = client.post("/v1/huge")
    assert (too_large.status_code, too_large.headers["content-type"]) == (413, PROBLEM_JSON)
    assert too_large.json()["field"] == "description"
    assert too_large.json()["rule"] == "event_too_large"
    too_long = client.post("/v1/long")
    assert (too_long.status_code, too_long.json()["field"]) == (422, "subject")
    unavailable = client.get("/v1/outage")
    assert unavailable.status_code == 503
    assert unavailable.headers["retry-after"] == "1"
    assert unavailable.json()["rule"] == "unavailable"
    assert client.get("/v1/bug").status_code == 500
