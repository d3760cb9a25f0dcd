"""A tenant's survey settings over the REST API on the real Redis (and the service built with its
Kafka), and the surveys solves request by them: the kinds asked, one survey per requester within
the throttle whatever the path (reopen and solve again, another ticket, gRPC), an empty list asking
nothing, and two solves racing for one requester sending one survey."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis
from fastapi.testclient import TestClient

from helpline.auth import ApiKeyStore
from helpline.roles import Role
from helpline.v1 import audit_events_pb2, common_pb2, ticket_events_pb2
from services.tickets.domain import commands
from services.tickets.domain.model import Actor, AuthorType, Status, SurveyKind
from services.tickets.domain.survey_settings import SurveyAsk, SurveySettings
from services.tickets.store import OUTBOX_STREAM, SurveyMarkTakenError, TicketStore
from tests.integration.api_checks import problem
from tests.integration.outbox_events import outbox_events
from tests.integration.tickets.outbox_events import ticket_events

Api = tuple[TestClient, dict[str, dict[str, str]], Any]
SETTINGS = "/v1/settings/surveys"
DAY_MS = 24 * 3600 * 1000


def create(client: TestClient, headers: dict[str, str], requester_id: str) -> str:
    made = client.post(
        "/v1/tickets", json={"subject": "No dial tone", "requester_id": requester_id}, headers=headers
    )
    assert made.status_code == 201, made.json()
    return str(made.json()["id"])


def move(client: TestClient, headers: dict[str, str], ticket_id: str, status: str) -> None:
    moved = client.post(f"/v1/tickets/{ticket_id}/transition", json={"status": status}, headers=headers)
    assert moved.status_code == 200, moved.json()


def surveys(client: redis.Redis, ticket_id: str) -> list[ticket_events_pb2.TicketSurveyRequested]:
    kind = ticket_events_pb2.TicketSurveyRequested
    return [event for event in ticket_events(client, ticket_id) if isinstance(event, kind)]


def key_of(runtime: Any, unique: str, tenant: str, role: Role) -> dict[str, str]:
    keys = ApiKeyStore(runtime.auth_redis, pepper=unique)
    return {"X-API-Key": keys.create(tenant, role.value, role=role)[1]}


def configure(client: TestClient, headers: dict[str, str], kinds: list[str], days: int) -> None:
    stored = client.put(SETTINGS, json={"kinds": kinds, "throttle_days": days}, headers=headers)
    assert stored.status_code == 200, stored.json()


def test_the_settings_are_read_by_readers_written_by_admins_and_validated(api: Api, unique: str) -> None:
    client, headers, runtime = api
    tenant = f"a{unique}"
    admin = headers[tenant]
    reader = key_of(runtime, unique, tenant, Role.READER)
    supervisor = key_of(runtime, unique, tenant, Role.SUPERVISOR)
    default = {"kinds": ["csat", "nps"], "throttle_days": 0}
    assert client.get(SETTINGS, headers=reader).json() == default

    wanted = {"kinds": ["ces", "csat"], "throttle_days": 30}
    problem(client.put(SETTINGS, json=wanted, headers=reader), 403)
    problem(client.put(SETTINGS, json=wanted, headers=supervisor), 403)
    for invalid in (
        {"kinds": ["csat"], "throttle_days": 366},
        {"kinds": ["csat"], "throttle_days": -1},
        {"kinds": ["stars"], "throttle_days": 0},
        {"kinds": ["csat", "nps", "ces", "csat"], "throttle_days": 0},
        {"kinds": ["csat"]},
        {"kinds": ["csat"], "throttle_days": 1, "tenant_id": "other"},
    ):
        problem(client.put(SETTINGS, json=invalid, headers=admin), 422)
    problem(
        client.put(SETTINGS, json={"kinds": ["nps", "nps"], "throttle_days": 0}, headers=admin),
        422,
        "duplicate_survey_kind",
    )
    assert client.get(SETTINGS, headers=supervisor).json() == default

    stored = client.put(SETTINGS, json=wanted, headers=admin)
    assert stored.status_code == 200, stored.json()
    assert stored.json() == wanted
    assert client.get(SETTINGS, headers=reader).json() == wanted
    # Another tenant's settings are its own.
    assert client.get(SETTINGS, headers=headers[f"b{unique}"]).json() == default

    (audited,) = outbox_events(runtime.redis, OUTBOX_STREAM, tenant, audit_events_pb2.ConfigurationChanged)
    assert audited.kind == audit_events_pb2.CONFIGURATION_KIND_SURVEY_SETTINGS
    assert audited.action == audit_events_pb2.CONFIGURATION_ACTION_PUT
    assert (audited.object_id, audited.before_version, audited.after_version) == ("surveys", 0, 1)
    assert audited.actor.role == "admin"


def test_one_survey_per_requester_within_the_throttle(api: Api, unique: str) -> None:
    client, headers, runtime = api
    admin = headers[f"a{unique}"]
    configure(client, admin, ["ces"], 7)

    first = create(client, admin, "cust-1")
    move(client, admin, first, "solved")
    (survey,) = surveys(runtime.redis, first)
    assert list(survey.kinds) == [common_pb2.SURVEY_KIND_CES]
    assert survey.requester_id == "cust-1"
    mark = f"tk:{{a{unique}}}:survey-mark:cust-1"
    assert 7 * DAY_MS - 60_000 < runtime.redis.pttl(mark) <= 7 * DAY_MS

    # Reopened and solved again, and another ticket of the same requester: within the week, none.
    move(client, admin, first, "open")
    move(client, admin, first, "solved")
    second = create(client, admin, "cust-1")
    move(client, admin, second, "solved")
    assert len(surveys(runtime.redis, first)) == 1
    assert surveys(runtime.redis, second) == []
    assert client.get(f"/v1/tickets/{second}", headers=admin).json()["status"] == "solved"

    # Another requester is asked; the other tenant, still on the defaults, too.
    other = create(client, admin, "cust-2")
    move(client, admin, other, "solved")
    assert [s.requester_id for s in surveys(runtime.redis, other)] == ["cust-2"]
    theirs = create(client, headers[f"b{unique}"], "cust-1")
    move(client, headers[f"b{unique}"], theirs, "solved")
    (default,) = surveys(runtime.redis, theirs)
    assert list(default.kinds) == [common_pb2.SURVEY_KIND_CSAT, common_pb2.SURVEY_KIND_NPS]


def test_no_kinds_no_survey(api: Api, unique: str) -> None:
    client, headers, runtime = api
    admin = headers[f"a{unique}"]
    configure(client, admin, [], 0)
    ticket = create(client, admin, "cust-1")
    move(client, admin, ticket, "solved")
    assert surveys(runtime.redis, ticket) == []
    assert runtime.redis.exists(f"tk:{{a{unique}}}:survey-mark:cust-1") == 0


def test_two_solves_racing_for_one_requester_send_one_survey(api: Api, unique: str) -> None:
    client, headers, runtime = api
    tenant = f"a{unique}"
    admin = headers[tenant]
    assert (
        client.put(SETTINGS, json={"kinds": ["csat"], "throttle_days": 1}, headers=admin).status_code == 200
    )
    first, second = create(client, admin, "cust-3"), create(client, admin, "cust-3")
    store = TicketStore(runtime.redis, close_after_ms=DAY_MS)
    agent = Actor(AuthorType.AGENT, "agent-1")
    now = datetime.now(UTC)
    # Both solves read the requester unmarked and decide to ask; the second to commit loses.
    settings = SurveySettings((SurveyKind.CSAT,), 1)
    decided = []
    for ticket_id in (first, second):
        ticket = store.get(tenant, ticket_id)
        assert ticket is not None
        ask = SurveyAsk(f"s-{ticket_id}", settings, store.survey_marked(tenant, "cust-3"))
        decided.append((ticket, commands.transition(ticket, Status.SOLVED, agent, now, survey=ask)))
    (ticket, won), (behind, lost) = decided
    store.commit(ticket, won.ticket, won.events, survey_mark=won.survey_mark)
    try:
        store.commit(behind, lost.ticket, lost.events, survey_mark=lost.survey_mark)
    except SurveyMarkTakenError:
        pass
    else:
        raise AssertionError("the second solve set the requester's mark again")
    assert store.get(tenant, second) == behind
    assert ticket_events(runtime.redis, second)[-1].DESCRIPTOR.name == "TicketCreated"
    # Decided again through the use case, on the mark now set: solved, without a survey.
    move(client, admin, second, "solved")
    assert len(surveys(runtime.redis, first)) == 1
    assert surveys(runtime.redis, second) == []
