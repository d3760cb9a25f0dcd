"""The tickets REST API's writes over the real Redis: a ticket worked through its whole lifecycle,
idempotent creates, If-Match, the problem statuses, and the events each change leaves on the
outbox."""

from __future__ import annotations

import threading
from typing import Any

import redis
from fastapi.testclient import TestClient

from tests.integration.api_checks import problem
from tests.integration.tickets.outbox_events import names, ticket_events

Api = tuple[TestClient, dict[str, dict[str, str]], Any]


def outbox_types(client: redis.Redis, ticket_id: str) -> list[str]:
    return names(ticket_events(client, ticket_id))


def create(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/v1/tickets", json={"subject": "Printer on fire", **body}, headers=headers)
    assert response.status_code == 201, response.json()
    return dict(response.json())


def test_a_ticket_worked_through_its_lifecycle(api: Api, unique: str) -> None:
    client, headers, runtime = api
    mine = headers[f"a{unique}"]
    made = client.post(
        "/v1/tickets",
        json={"subject": "  Printer on fire ", "description": "Smoke everywhere", "requester_id": "cust-1"},
        headers=mine,
    )
    assert made.status_code == 201
    assert made.headers["etag"] == '"1"'
    ticket = made.json()
    tid = ticket["id"]
    assert made.headers["location"] == f"/v1/tickets/{tid}"
    assert (ticket["status"], ticket["subject"], ticket["comment_count"]) == ("new", "Printer on fire", 1)

    def comment(author_type: str, body: str, **extra: Any) -> dict[str, Any]:
        response = client.post(
            f"/v1/tickets/{tid}/comments",
            json={"body": body, "author_type": author_type, **extra},
            headers=mine,
        )
        assert response.status_code == 201, response.json()
        return dict(response.json())

    def move(to: str) -> dict[str, Any]:
        response = client.post(f"/v1/tickets/{tid}/transition", json={"status": to}, headers=mine)
        assert response.status_code == 200, response.json()
        return dict(response.json())

    replied = comment("agent", "Unplug it")
    assert replied["ticket"]["status"] == "open"
    assert replied["ticket"]["first_agent_reply_at"] is not None
    assert replied["comment"]["author_type"] == "agent"
    assert move("pending")["status"] == "pending"
    assert comment("customer", "Done, still smoking", author_id="cust-1")["ticket"]["status"] == "open"
    note = comment("agent", "Fire brigade called", public=False)
    assert note["ticket"]["status"] == "open"
    assert move("solved")["solved_at"] is not None
    reopened = comment("customer", "It is back", author_id="cust-1")["ticket"]
    assert (reopened["status"], reopened["reopen_count"], reopened["solved_at"]) == ("open", 1, None)
    move("solved")
    closed = move("closed")
    assert closed["closed_at"] is not None

    problem(
        client.patch(f"/v1/tickets/{tid}", json={"priority": "high"}, headers=mine),
        409,
        "closed_is_immutable",
    )
    problem(
        client.post(f"/v1/tickets/{tid}/transition", json={"status": "open"}, headers=mine),
        409,
        "closed_is_immutable",
    )
    follow = comment("customer", "On fire again", author_id="cust-1")
    assert follow["ticket"]["id"] == tid
    assert follow["ticket"]["status"] == "closed"
    assert follow["follow_up"]["follow_up_of"] == tid
    assert follow["follow_up"]["subject"] == "Re: Printer on fire"
    assert follow["comment"]["body"] == "On fire again"

    page = client.get(f"/v1/tickets/{tid}/comments", headers=mine).json()
    assert page["next_cursor"] is None
    comments = page["items"]
    assert [c["body"] for c in comments] == [
        "Smoke everywhere",
        "Unplug it",
        "Done, still smoking",
        "Fire brigade called",
        "It is back",
    ]
    assert [c["public"] for c in comments] == [True, True, True, False, True]
    assert outbox_types(runtime.redis, tid) == [
        "TicketCreated",
        "TicketCommented",
        "TicketStatusChanged",  # the agent's reply opens it
        "TicketStatusChanged",  # pending
        "TicketCommented",
        "TicketStatusChanged",  # the customer's reply: back to open
        "TicketCommented",  # the internal note
        "TicketStatusChanged",
        "TicketSolved",
        "TicketSurveyRequested",
        "TicketCommented",
        "TicketStatusChanged",
        "TicketReopened",
        "TicketStatusChanged",
        "TicketSolved",
        "TicketSurveyRequested",
        "TicketStatusChanged",
        "TicketClosed",
    ]
    assert outbox_types(runtime.redis, follow["follow_up"]["id"]) == ["TicketCreated"]


def test_fields_assignment_links_tiers_and_departments(api: Api, unique: str) -> None:
    client, headers, runtime = api
    mine = headers[f"a{unique}"]
    tid = create(client, mine, tags=["Billing"], group_id="l1-billing")["id"]
    url = f"/v1/tickets/{tid}"

    patched = client.patch(url, json={"priority": "high", "tags": ["VIP", "billing"]}, headers=mine).json()
    assert (patched["priority"], patched["tags"], patched["version"]) == ("high", ["billing", "vip"], 2)
    unchanged = client.patch(url, json={"priority": "high"}, headers=mine)
    assert unchanged.headers["etag"] == '"2"'
    problem(client.patch(url, json={}, headers=mine), 422, "nothing_to_change")
    problem(client.patch(url, json={"colour": "red"}, headers=mine), 422)

    assigned = client.post(f"{url}/assign", json={"assignee_id": "agent-7"}, headers=mine).json()
    assert (assigned["assignee_id"], assigned["group_id"]) == ("agent-7", "l1-billing")
    unassigned = client.post(f"{url}/assign", json={"assignee_id": None}, headers=mine).json()
    assert (unassigned["assignee_id"], unassigned["group_id"]) == (None, "l1-billing")
    problem(client.post(f"{url}/assign", json={}, headers=mine), 422, "nothing_to_assign")

    linked = client.post(f"{url}/links", json={"contact_id": "call-1"}, headers=mine).json()
    again = client.post(f"{url}/links", json={"contact_id": "call-1"}, headers=mine).json()
    assert linked["contact_ids"] == again["contact_ids"] == ["call-1"]
    assert again["version"] == linked["version"]

    escalated = client.post(f"{url}/escalate", json={"tier": "L2", "group_id": "l2-billing"}, headers=mine)
    assert (escalated.json()["tier"], escalated.json()["group_id"]) == ("L2", "l2-billing")
    problem(
        client.post(f"{url}/escalate", json={"tier": "L1"}, headers=mine), 422, "escalation_must_raise_tier"
    )
    client.post(f"{url}/assign", json={"assignee_id": "agent-9"}, headers=mine)
    handed = client.post(
        f"{url}/hand-off", json={"department": "support", "reason": "needs a technician"}, headers=mine
    ).json()
    assert (handed["department"], handed["assignee_id"], handed["group_id"]) == ("support", None, None)
    assert (handed["tier"], handed["tags"], handed["contact_ids"]) == ("L2", ["billing", "vip"], ["call-1"])
    problem(
        client.post(f"{url}/hand-off", json={"department": "support"}, headers=mine),
        422,
        "hand_off_same_department",
    )
    assert outbox_types(runtime.redis, tid) == [
        "TicketCreated",
        "TicketUpdated",
        "TicketAssigned",
        "TicketAssigned",
        "TicketUpdated",
        "TicketEscalated",
        "TicketAssigned",
        "TicketHandedOff",
        "TicketAssigned",
    ]


def test_a_retried_create_returns_the_first_ticket(api: Api, unique: str) -> None:
    client, headers, runtime = api
    mine = headers[f"a{unique}"]
    body = {"subject": "Card declined", "priority": "urgent"}
    key = {"Idempotency-Key": f"retry-{unique}"}
    first = client.post("/v1/tickets", json=body, headers=mine | key)
    second = client.post("/v1/tickets", json=body, headers=mine | key)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert outbox_types(runtime.redis, first.json()["id"]) == ["TicketCreated"]
    problem(
        client.post("/v1/tickets", json={**body, "priority": "low"}, headers=mine | key),
        422,
        "idempotency_key_reused",
    )
    # Keys belong to a tenant: another tenant's same key is another ticket.
    theirs = client.post("/v1/tickets", json=body, headers=headers[f"b{unique}"] | key)
    assert theirs.status_code == 201
    assert theirs.json()["id"] != first.json()["id"]


def test_if_match(api: Api, unique: str) -> None:
    client, headers, _ = api
    mine = headers[f"a{unique}"]
    tid = create(client, mine)["id"]
    url = f"/v1/tickets/{tid}"
    ok = client.patch(url, json={"priority": "high"}, headers=mine | {"If-Match": '"1"'})
    assert ok.status_code == 200
    assert ok.headers["etag"] == '"2"'
    body = problem(client.patch(url, json={"priority": "low"}, headers=mine | {"If-Match": '"1"'}), 412)
    assert (body["expected_version"], body["current_version"]) == (1, 2)
    problem(client.post(f"{url}/transition", json={"status": "open"}, headers=mine | {"If-Match": "x"}), 400)
    assert client.get(url, headers=mine).json()["priority"] == "high"


def race_two_patches(client: TestClient, url: str, headers: dict[str, str]) -> list[int]:
    """Two PATCHes with the same If-Match, released at once."""
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def patch(priority: str) -> None:
        barrier.wait()
        response = client.patch(url, json={"priority": priority}, headers=headers | {"If-Match": '"1"'})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=patch, args=(p,)) for p in ("high", "low")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_two_concurrent_updates_with_the_same_version(api: Api, unique: str) -> None:
    client, headers, _ = api
    mine = headers[f"a{unique}"]
    for attempt in range(5):
        url = f"/v1/tickets/{create(client, mine)['id']}"
        statuses = race_two_patches(client, url, mine)
        assert sorted(statuses) == [200, 412], f"attempt {attempt}: {statuses}"
        assert client.get(url, headers=mine).json()["version"] == 2


def test_refusals_and_bad_requests(api: Api, unique: str) -> None:
    client, headers, _ = api
    mine = headers[f"a{unique}"]
    tid = create(client, mine)["id"]
    url = f"/v1/tickets/{tid}"
    client.post(f"{url}/transition", json={"status": "open"}, headers=mine)
    refused = problem(
        client.post(f"{url}/transition", json={"status": "new"}, headers=mine), 409, "new_never_returns"
    )
    assert "new" in refused["detail"]
    problem(client.post(f"{url}/transition", json={"status": "archived"}, headers=mine), 422)
    problem(client.post("/v1/tickets", json={"subject": "   "}, headers=mine), 422, "subject_required")
    problem(client.post("/v1/tickets", json={}, headers=mine), 422)
    problem(
        client.post(
            f"{url}/comments", json={"body": "x", "author_type": "customer", "public": False}, headers=mine
        ),
        422,
        "customer_comments_are_public",
    )
    # A JSON boolean only: pydantic's lax mode would read "no" or 0 as false.
    for public in ("no", 0, "false"):
        problem(client.post(f"{url}/comments", json={"body": "x", "public": public}, headers=mine), 422)
    problem(
        client.post("/v1/tickets", content=b"{not json", headers=mine | {"content-type": "application/json"}),
        422,
    )
    huge = {"subject": "big", "description": "x" * 2_000_000}
    problem(client.post("/v1/tickets", json=huge, headers=mine), 413)
    problem(client.post("/v1/tickets", json={"subject": "x"}), 401)


WRITES = [
    ("patch", "", {"priority": "high"}),
    ("post", "/transition", {"status": "open"}),
    ("post", "/assign", {"assignee_id": "agent-1"}),
    ("post", "/comments", {"body": "hello"}),
    ("post", "/links", {"contact_id": "c-1"}),
    ("post", "/escalate", {"tier": "L2"}),
    ("post", "/hand-off", {"department": "support"}),
]
READS = ["", "/comments"]


def test_no_endpoint_reaches_another_tenants_ticket(api: Api, unique: str) -> None:
    client, headers, _ = api
    mine, theirs = headers[f"a{unique}"], headers[f"b{unique}"]
    tid = create(client, mine, description="secret")["id"]
    before = client.get(f"/v1/tickets/{tid}", headers=mine).json()
    for method, suffix, body in WRITES:
        response = client.request(method, f"/v1/tickets/{tid}{suffix}", json=body, headers=theirs)
        problem(response, 404)
        problem(client.request(method, f"/v1/tickets/missing{suffix}", json=body, headers=mine), 404)
    for suffix in READS:
        problem(client.get(f"/v1/tickets/{tid}{suffix}", headers=theirs), 404)
    assert client.get("/v1/tickets", headers=theirs).json()["items"] == []
    assert client.get(f"/v1/tickets/{tid}", headers=mine).json() == before
