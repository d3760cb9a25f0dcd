"""Where the operations endpoints are served: beside the API on one port (the default), or on an
app of their own for a second port, with the API's docs there or nowhere."""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from helpline.http_shell.apps import build_http_app, build_split_http_apps

OPERATIONS = ("/readyz", "/metrics")
DOCS = ("/docs", "/redoc", "/openapi.json")


def _api_routes() -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/things")
    def things() -> list[str]:
        return ["a"]

    return router


def _status(client: TestClient, paths: tuple[str, ...]) -> set[int]:
    return {client.get(path).status_code for path in paths}


def test_one_port_serves_everything_by_default() -> None:
    app = build_http_app(service="svc", registry=CollectorRegistry(), readiness_checks={})
    app.include_router(_api_routes())
    with TestClient(app) as client:
        assert _status(client, (*OPERATIONS, *DOCS, "/healthz", "/v1/things")) == {200}


def test_docs_can_be_turned_off() -> None:
    app = build_http_app(service="svc", registry=CollectorRegistry(), readiness_checks={}, docs=False)
    with TestClient(app) as client:
        assert _status(client, DOCS) == {404}
        assert _status(client, OPERATIONS) == {200}


def test_split_apps_keep_operations_and_docs_off_the_api() -> None:
    api, ops = build_split_http_apps(
        service="svc", registry=CollectorRegistry(), readiness_checks={"broken": lambda: False}
    )
    api.include_router(_api_routes())
    with TestClient(api) as public, TestClient(ops) as operations:
        assert _status(public, (*OPERATIONS, *DOCS)) == {404}
        assert _status(public, ("/healthz", "/v1/things")) == {200}
        assert operations.get("/readyz").json()["failed"] == ["broken"]
        assert _status(operations, ("/metrics", *DOCS, "/healthz")) == {200}
        # The schema is the API's, with the routes added after the apps were built.
        assert "/v1/things" in operations.get("/openapi.json").json()["paths"]
        assert operations.get("/v1/things").status_code == 404
        # Both ports' requests are timed in the one registry.
        assert 'route="/v1/things"' in operations.get("/metrics").text


@pytest.mark.parametrize("path", DOCS)
def test_split_apps_without_docs_serve_them_nowhere(path: str) -> None:
    api, ops = build_split_http_apps(
        service="svc", registry=CollectorRegistry(), readiness_checks={}, docs=False
    )
    with TestClient(api) as public, TestClient(ops) as operations:
        assert public.get(path).status_code == 404
        assert operations.get(path).status_code == 404
