"""The SLA service's REST API on a bare FastAPI app, over the real Redis, with a clock the tests move
and an API key for each of two tenants; built as the service wires it (problem handlers, body
limit)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpline.auth import ApiKeyStore
from helpline.clock import FakeClock
from helpline.rest import BodyLimitMiddleware, install_problem_handlers
from services.sla.api import rest
from services.sla.config import SlaConfig
from services.sla.store import SlaStore
from services.sla.ticket_slas import TicketSlas


@dataclass(frozen=True)
class Admin:
    client: TestClient
    app: FastAPI
    tickets: TicketSlas
    clock: FakeClock
    # The tenant the tests work as, with its key header, and another tenant's.
    tenant: str
    mine: dict[str, str]
    theirs: dict[str, str]

    @property
    def config(self) -> SlaConfig:
        return self.tickets.config


def admin_app(tickets: TicketSlas, keys: ApiKeyStore, clock: FakeClock) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(BodyLimitMiddleware)
    rest.provide(app, tickets, keys, clock)
    app.include_router(rest.api)
    return app


@contextmanager
def admin(store: SlaStore, client: redis.Redis, clock: FakeClock, unique: str) -> Iterator[Admin]:
    keys = ApiKeyStore(client, pepper=unique)
    tenant, other = f"a{unique}", f"b{unique}"
    tickets = TicketSlas(store, SlaConfig(store))
    app = admin_app(tickets, keys, clock)
    with TestClient(app) as http:
        yield Admin(
            client=http,
            app=app,
            tickets=tickets,
            clock=clock,
            tenant=tenant,
            mine={"X-API-Key": keys.create(tenant, "admin")[1]},
            theirs={"X-API-Key": keys.create(other, "admin")[1]},
        )
