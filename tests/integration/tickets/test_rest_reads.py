"""The tickets REST API's reads over the real Redis: ETag, filters, cursor pages, tenant isolation,
and problem+json for what does not exist or does not parse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from helpline.rest import PROBLEM_JSON
from services.tickets.domain.model import Status, Ticket

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def seed(runtime: object, tenant: str, count: int) -> list[Ticket]:
    from services.tickets.store import TicketStore

    store = TicketStore(runtime.redis, close_after_ms=0)  # type: ignore[attr-defined]
    made = []
    for n in range(count):
        at = T0 + timedelta(minutes=n)
        t = Ticket(
            ticket_id=f"T{n:03d}",
            tenant_id=tenant,
            subject=f"s{n}",
            created_at=at,
            updated_at=at,
            status=Status.OPEN if n % 2 else Status.NEW,
            tags=("vip",) if n % 3 == 0 else (),
        )
        store.create(t, [])
        made.append(t)
    return made


def test_get_with_etag_and_isolation(
    api: tuple[TestClient, dict[str, dict[str, str]], object], unique: str
) -> None:
    client, headers, runtime = api
    a, b = f"a{unique}", f"b{unique}"
    seed(runtime, a, 3)
    got = client.get("/v1/tickets/T001", headers=headers[a])
    assert got.status_code == 200, got.json()
    assert got.headers["etag"] == '"1"'
    assert got.json()["status"] == "open"
    other = client.get("/v1/tickets/T001", headers=headers[b])
    assert other.status_code == 404
    assert other.headers["content-type"] == PROBLEM_JSON
    assert client.get("/v1/tickets", headers=headers[b]).json()["items"] == []
    assert client.get("/v1/tickets/T001/comments", headers=headers[b]).status_code == 404
    assert client.get("/v1/tickets/T001").status_code == 401


def test_list_filters_and_cursor(
    api: tuple[TestClient, dict[str, dict[str, str]], object], unique: str
) -> None:
    client, headers, runtime = api
    tenant = f"a{unique}"
    made = seed(runtime, tenant, 12)
    seen: list[str] = []
    cursor = ""
    while True:
        page = client.get(
            "/v1/tickets", params={"limit": 5, "cursor": cursor}, headers=headers[tenant]
        ).json()
        seen += [item["id"] for item in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    assert seen == [t.ticket_id for t in reversed(made)]
    vip_open = client.get(
        "/v1/tickets", params={"tag": "VIP", "status": "open", "sort": "updated_at"}, headers=headers[tenant]
    ).json()
    assert [i["id"] for i in vip_open["items"]] == [
        t.ticket_id for t in made if t.tags and t.status is Status.OPEN
    ]


def test_comments_page_by_cursor(
    api: tuple[TestClient, dict[str, dict[str, str]], object], unique: str
) -> None:
    client, headers, _ = api
    mine = headers[f"a{unique}"]
    tid = client.post("/v1/tickets", json={"subject": "s", "description": "first"}, headers=mine).json()["id"]
    for n in range(4):
        client.post(f"/v1/tickets/{tid}/comments", json={"body": f"reply {n}"}, headers=mine)
    pages, cursor = [], ""
    while True:
        page = client.get(
            f"/v1/tickets/{tid}/comments", params={"page_size": 2, "cursor": cursor}, headers=mine
        ).json()
        pages.append([c["body"] for c in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [["first", "reply 0"], ["reply 1", "reply 2"], ["reply 3"]]
    whole = client.get(f"/v1/tickets/{tid}/comments", headers=mine).json()
    assert (len(whole["items"]), whole["next_cursor"]) == (5, None)

    other = client.post("/v1/tickets", json={"subject": "other"}, headers=mine).json()["id"]
    issued = client.get(f"/v1/tickets/{tid}/comments", params={"page_size": 2}, headers=mine).json()
    for ticket_id, params in [
        (other, {"cursor": issued["next_cursor"]}),
        (tid, {"cursor": "not-a-cursor!"}),
        (tid, {"page_size": 0}),
        (tid, {"page_size": 101}),
    ]:
        response = client.get(f"/v1/tickets/{ticket_id}/comments", params=params, headers=mine)
        assert response.status_code in (400, 422), params
        assert response.headers["content-type"] == PROBLEM_JSON


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"cursor": "%%%"}, 400),
        ({"limit": 0}, 422),
        ({"status": "archived"}, 422),
        ({"sort": "subject"}, 422),
        ({"updated_since": "2026-11-25T09:00:00"}, 422),
    ],
)
def test_bad_list_parameters_are_problems(
    api: tuple[TestClient, dict[str, dict[str, str]], object],
    unique: str,
    params: dict[str, object],
    status: int,
) -> None:
    client, headers, _ = api
    response = client.get("/v1/tickets", params=params, headers=headers[f"a{unique}"])
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
