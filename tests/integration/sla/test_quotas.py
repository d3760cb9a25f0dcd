"""A tenant's quotas on its SLA calendars and policies, over the REST API on the real Redis: one new
calendar past the quota is 429 `quota_reached`, a change of one kept is not, a removal makes room."""

from __future__ import annotations

import redis
from fastapi.testclient import TestClient

from helpline.auth import ApiKeyStore
from helpline.clock import FakeClock
from services.sla.config import Quotas, SlaConfig
from services.sla.store import SlaStore
from services.sla.ticket_slas import TicketSlas
from tests.integration.sla.rest_app import admin_app
from tests.integration.sla.test_rest_admin import OFFICE


def test_a_new_calendar_past_the_quota_is_refused_until_one_is_removed(
    redis_client: redis.Redis, clock: FakeClock, unique: str
) -> None:
    store = SlaStore(redis_client)
    keys = ApiKeyStore(redis_client, pepper=unique)
    tickets = TicketSlas(store, SlaConfig(store, Quotas(policies=1, calendars=2)))
    mine = {"X-API-Key": keys.create(f"a{unique}", "admin")[1]}
    with TestClient(admin_app(tickets, keys, clock)) as http:
        for calendar in ("office", "plant"):
            assert http.put(f"/v1/sla/calendars/{calendar}", json=OFFICE, headers=mine).status_code == 201
        refused = http.put("/v1/sla/calendars/depot", json=OFFICE, headers=mine)
        assert refused.status_code == 429
        body = refused.json()
        assert (body["rule"], body["quota"], body["limit"]) == ("quota_reached", "calendars", 2)
        assert "HELPLINE_TENANT_MAX_CALENDARS" in body["detail"]
        assert (
            http.put("/v1/sla/calendars/plant", json={**OFFICE, "name": "Plant"}, headers=mine).status_code
            == 200
        )
        assert http.delete("/v1/sla/calendars/plant", headers=mine).status_code in (200, 204)
        assert http.put("/v1/sla/calendars/depot", json=OFFICE, headers=mine).status_code == 201
