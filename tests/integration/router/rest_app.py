"""The router's REST admin API on a bare FastAPI app, over the real Redis, with an API key for each
of two tenants; built as the service wires it (problem handlers, body limit)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpline.auth import ApiKeyStore
from helpline.rest import BodyLimitMiddleware, install_problem_handlers
from services.router.api import rest
from services.router.composition import Router


@dataclass(frozen=True)
class Admin:
    client: TestClient
    app: FastAPI
    router: Router
    redis: redis.Redis
    # The tenant the tests work as, with its key header, and another tenant's.
    tenant: str
    mine: dict[str, str]
    theirs: dict[str, str]


def admin_app(router: Router, keys: ApiKeyStore) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(BodyLimitMiddleware)
    rest.provide(app, router.catalog, keys)
    app.include_router(rest.api)
    return app


@contextmanager
def admin(router: Router, client: redis.Redis, unique: str) -> Iterator[Admin]:
    keys = ApiKeyStore(client, pepper=unique)
    tenant, other = f"a{unique}", f"b{unique}"
    app = admin_app(router, keys)
    with TestClient(app) as http:
        yield Admin(
            client=http,
            app=app,
            router=router,
            redis=client,
            tenant=tenant,
            mine={"X-API-Key": keys.create(tenant, "admin")[1]},
            theirs={"X-API-Key": keys.create(other, "admin")[1]},
        )
