"""The SLA service's REST API over the real Redis: policies and calendars created, replaced, read,
listed a page at a time and deleted; every refusal as a problem naming its rule and field; tenant
isolation; and a ticket's SLA status as the engine reads it at the clock's moment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis

from helpline.clock import FakeClock
from services.sla.domain.engine import Created, StatusChanged
from services.sla.domain.model import Priority, Status, TicketFacts
from services.sla.store import SlaStore
from tests.integration.api_checks import ok, problem
from tests.integration.sla.rest_app import Admin, admin

OFFICE = {
    "name": "London office",
    "time_zone": "Europe/London",
    "open_intervals": [
        {"weekday": day, "opens": opens, "closes": closes}
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
        for opens, closes in (("09:00", "12:00"), ("13:00", "17:00"))
    ],
    "holiday_countries": ["GB"],
    "holidays": [{"date": "2031-12-24", "name": "Christmas Eve"}],
}
STANDARD = {
    "name": "Standard",
    "position": 10,
    "conditions": {"priorities": ["urgent", "normal"], "types": ["incident"], "tags": ["VIP"]},
    "targets": [
        {"metric": "first_reply", "priority": "normal", "target_seconds": 4 * 3600, "time_basis": "business"},
        {"metric": "requester_wait", "priority": "normal", "target_seconds": 86400, "time_basis": "calendar"},
    ],
    "calendar_id": "office",
    "warn_percent": 50,
    "escalations": [
        {
            "metric": "first_reply",
            "trigger": "breach",
            "actions": [
                {"raise_priority": "urgent"},
                {"move_to_group": "leads"},
                {"move_to_tier": "L2"},
                {"notify": {"targets": ["mailto:lead@example.com"], "template": "breach"}},
            ],
        }
    ],
}


@pytest.fixture
def api(store: SlaStore, redis_client: redis.Redis, clock: FakeClock, unique: str) -> Iterator[Admin]:
    with admin(store, redis_client, clock, unique) as built:
        yield built


def put(api: Admin, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return ok(api.client.put(path, json=body, headers=api.mine), status)


def get(api: Admin, path: str) -> dict[str, Any]:
    return ok(api.client.get(path, headers=api.mine))


def office(api: Admin) -> dict[str, Any]:
    return put(api, "/v1/sla/calendars/office", OFFICE, 201)


def policy(api: Admin, policy_id: str, position: int, **fields: Any) -> dict[str, Any]:
    body = {"position": position, "targets": [], **fields}
    return put(api, f"/v1/sla/policies/{policy_id}", body, 201)


# -- calendars -------------------------------------------------------------------------------------


def test_a_calendar_is_created_replaced_read_listed_and_deleted(api: Admin) -> None:
    made = api.client.put("/v1/sla/calendars/office", json=OFFICE, headers=api.mine)
    assert ok(made, 201) == {**OFFICE, "id": "office"}
    assert made.headers["location"] == "/v1/sla/calendars/office"
    stored = api.config.calendar(api.tenant, "office")
    assert stored is not None
    assert (stored.time_zone, len(stored.intervals), stored.intervals[0].weekday) == ("Europe/London", 10, 0)

    # A PUT replaces the whole calendar: what it leaves out takes the defaults.
    weekend = {
        "time_zone": "UTC",
        "open_intervals": [{"weekday": "sunday", "opens": "00:00", "closes": "24:00"}],
    }
    replaced = api.client.put("/v1/sla/calendars/office", json=weekend, headers=api.mine)
    assert ok(replaced) == {**weekend, "id": "office", "name": "", "holiday_countries": [], "holidays": []}
    assert "location" not in replaced.headers
    assert get(api, "/v1/sla/calendars/office")["open_intervals"] == weekend["open_intervals"]
    put(api, "/v1/sla/calendars/berlin", {**OFFICE, "time_zone": "Europe/Berlin"}, 201)
    listed = get(api, "/v1/sla/calendars")
    assert ([c["id"] for c in listed["items"]], listed["next_cursor"]) == (["berlin", "office"], None)

    gone = api.client.delete("/v1/sla/calendars/office", headers=api.mine)
    assert (gone.status_code, gone.content) == (204, b"")
    problem(api.client.get("/v1/sla/calendars/office", headers=api.mine), 404)
    problem(api.client.delete("/v1/sla/calendars/office", headers=api.mine), 404)
    assert [c["id"] for c in get(api, "/v1/sla/calendars")["items"]] == ["berlin"]


def interval(day: str, opens: str, closes: str) -> dict[str, str]:
    return {"weekday": day, "opens": opens, "closes": closes}


@pytest.mark.parametrize(
    ("change", "rule", "location"),
    [
        (
            {"open_intervals": [interval("monday", "09:00", "12:00"), interval("monday", "11:30", "17:00")]},
            "overlapping_intervals",
            "body.open_intervals",
        ),
        (
            {"open_intervals": [interval("friday", "09:00", "17:00"), interval("monday", "13:00", "12:00")]},
            "invalid_interval",
            "body.open_intervals.1",
        ),
        (
            {"open_intervals": [interval("monday", "09:00", "09:00")]},
            "invalid_interval",
            "body.open_intervals.0",
        ),
        ({"time_zone": "Mars/Olympus_Mons"}, "unknown_time_zone", "body.time_zone"),
        ({"time_zone": "Europe"}, "unknown_time_zone", "body.time_zone"),
        ({"holiday_countries": ["DE", "XX"]}, "unknown_country", "body.holiday_countries.1"),
        ({"holidays": [{"date": "2031-02-30", "name": "Never"}]}, "invalid_holiday", "body.holidays.0.date"),
        ({"open_intervals": [interval("monday", "9:00", "17:00")]}, None, "body.open_intervals.0.opens"),
        ({"open_intervals": [interval("monday", "09:00", "25:00")]}, None, "body.open_intervals.0.closes"),
        ({"open_intervals": [interval("monday", "24:00", "24:00")]}, None, "body.open_intervals.0.opens"),
        ({"open_intervals": [interval("funday", "09:00", "17:00")]}, None, "body.open_intervals.0.weekday"),
        ({"open_intervals": []}, None, "body.open_intervals"),
        ({"holiday_countries": ["de"]}, None, "body.holiday_countries.0"),
        ({"holidays": [{"date": "24.12.2031"}]}, None, "body.holidays.0.date"),
        ({"time_zone": "../etc/passwd"}, None, "body.time_zone"),
        ({"colour": "red"}, None, "body.colour"),
    ],
)
def test_an_invalid_calendar_is_refused(
    api: Admin, change: dict[str, Any], rule: str | None, location: str
) -> None:
    refused = problem(
        api.client.put("/v1/sla/calendars/c", json={**OFFICE, **change}, headers=api.mine), 422, rule
    )
    if rule is None:
        assert [error["location"] for error in refused["errors"]] == [location], refused
    else:
        assert refused["location"] == location, refused
    problem(api.client.get("/v1/sla/calendars/c", headers=api.mine), 404)


def test_a_refused_interval_names_its_weekday_as_sent(api: Admin) -> None:
    body = {
        **OFFICE,
        "open_intervals": [interval("wednesday", "10:00", "11:00"), interval("wednesday", "10:30", "12:00")],
    }
    refused = problem(api.client.put("/v1/sla/calendars/c", json=body, headers=api.mine), 422)
    assert (refused["weekday"], refused["first"], refused["second"]) == (
        "wednesday",
        "10:00-11:00",
        "10:30-12:00",
    )
    assert "overlap" in refused["detail"]


# -- policies --------------------------------------------------------------------------------------


def test_a_policy_is_created_replaced_read_and_deleted(api: Admin) -> None:
    office(api)
    made = api.client.put("/v1/sla/policies/std", json=STANDARD, headers=api.mine)
    expected = {
        **STANDARD,
        "id": "std",
        # Conditions read back in a fixed order, tags in lower case as tickets carry them.
        "conditions": {
            "priorities": ["normal", "urgent"],
            "types": ["incident"],
            "channels": [],
            "departments": [],
            "tags": ["vip"],
        },
    }
    assert ok(made, 201) == expected
    assert made.headers["location"] == "/v1/sla/policies/std"
    assert get(api, "/v1/sla/policies/std") == expected
    stored = api.config.policy(api.tenant, "std")
    assert stored is not None
    assert (stored.warn_percent, stored.targets[0].duration) == (50, timedelta(hours=4))

    replaced = put(api, "/v1/sla/policies/std", {"name": "Calendar only"})
    assert replaced == {
        "id": "std",
        "name": "Calendar only",
        "position": 0,
        "conditions": {"priorities": [], "types": [], "channels": [], "departments": [], "tags": []},
        "targets": [],
        "calendar_id": None,
        "warn_percent": 75,
        "escalations": [],
    }
    gone = api.client.delete("/v1/sla/policies/std", headers=api.mine)
    assert gone.status_code == 204
    problem(api.client.get("/v1/sla/policies/std", headers=api.mine), 404)
    problem(api.client.delete("/v1/sla/policies/std", headers=api.mine), 404)


def test_policies_are_listed_in_evaluation_order_a_page_at_a_time(api: Admin) -> None:
    for policy_id, position in (
        ("vip", 1),
        ("b-default", 100),
        ("a-default", 100),
        ("urgent", -5),
        ("mid", 50),
    ):
        policy(api, policy_id, position)
    order = ["urgent", "vip", "mid", "a-default", "b-default"]
    assert [p["id"] for p in get(api, "/v1/sla/policies")["items"]] == order

    seen: list[str] = []
    cursor: str | None = ""
    for _ in range(3):
        found = get(api, f"/v1/sla/policies?limit=2&cursor={cursor}")
        seen.extend(p["id"] for p in found["items"])
        cursor = found["next_cursor"]
        if cursor is None:
            break
        # A policy added before the cursor between pages is not seen, and nothing is seen twice.
        policy(api, f"late{len(seen)}", -100)
    assert (seen, cursor) == (order, None)

    for bad in ("not-a-cursor!", "bm90LWEtY3Vyc29y"):
        problem(api.client.get(f"/v1/sla/policies?cursor={bad}", headers=api.mine), 400)
    for limit in ("0", "201", "two"):
        problem(api.client.get(f"/v1/sla/policies?limit={limit}", headers=api.mine), 422)


def test_calendars_are_listed_a_page_at_a_time(api: Admin) -> None:
    for calendar_id in ("c3", "c1", "c2"):
        put(api, f"/v1/sla/calendars/{calendar_id}", OFFICE, 201)
    first = get(api, "/v1/sla/calendars?limit=2")
    assert [c["id"] for c in first["items"]] == ["c1", "c2"]
    rest = get(api, f"/v1/sla/calendars?limit=2&cursor={first['next_cursor']}")
    assert ([c["id"] for c in rest["items"]], rest["next_cursor"]) == (["c3"], None)


def target(seconds: float, metric: str = "first_reply", basis: str = "calendar") -> dict[str, Any]:
    return {"metric": metric, "priority": "normal", "target_seconds": seconds, "time_basis": basis}


@pytest.mark.parametrize(
    ("change", "rule", "location"),
    [
        ({"targets": [target(3600), target(60)]}, "duplicate_target", "body.targets.1"),
        # Rounds to zero microseconds: only the domain sees the target is not positive.
        ({"targets": [target(1e-9)]}, "negative_target", "body.targets.0.target_seconds"),
        ({"targets": [target(3600, basis="business")]}, "missing_calendar", "body.calendar_id"),
        ({"calendar_id": "nowhere"}, "unknown_calendar", "body.calendar_id"),
        ({"targets": [target(-60)]}, None, "body.targets.0.target_seconds"),
        ({"targets": [target(0)]}, None, "body.targets.0.target_seconds"),
        ({"targets": [target(400 * 86400)]}, None, "body.targets.0.target_seconds"),
        ({"targets": [target(60, metric="first_response")]}, None, "body.targets.0.metric"),
        ({"targets": [{**target(60), "target_seconds": "60"}]}, None, "body.targets.0.target_seconds"),
        ({"warn_percent": 0}, None, "body.warn_percent"),
        ({"warn_percent": 100}, None, "body.warn_percent"),
        ({"warn_percent": 75.5}, None, "body.warn_percent"),
        ({"position": "1"}, None, "body.position"),
        ({"conditions": {"types": ["outage"]}}, None, "body.conditions.types.0"),
        ({"conditions": {"channels": ["fax"]}}, None, "body.conditions.channels.0"),
        ({"conditions": {"tags": ["bad tag"]}}, None, "body.conditions.tags.0"),
        ({"calendar_id": "bad:id"}, None, "body.calendar_id"),
        (
            {"escalations": [{"metric": "first_reply", "trigger": "breach", "actions": []}]},
            None,
            "body.escalations.0.actions",
        ),
        (
            {
                "escalations": [
                    {"metric": "first_reply", "trigger": "late", "actions": [{"move_to_tier": "L2"}]}
                ]
            },
            None,
            "body.escalations.0.trigger",
        ),
        (
            {
                "escalations": [
                    {
                        "metric": "first_reply",
                        "trigger": "breach",
                        "actions": [{"move_to_tier": "L2", "move_to_group": "leads"}],
                    }
                ]
            },
            None,
            "body.escalations.0.actions.0",
        ),
        (
            {
                "escalations": [
                    {"metric": "first_reply", "trigger": "breach", "actions": [{"move_to_tier": "L9"}]}
                ]
            },
            None,
            "body.escalations.0.actions.0.move_to_tier.move_to_tier",
        ),
        ({"colour": "red"}, None, "body.colour"),
    ],
)
def test_an_invalid_policy_is_refused(
    api: Admin, change: dict[str, Any], rule: str | None, location: str
) -> None:
    body = {"name": "P", "targets": [target(3600)], **change}
    refused = problem(api.client.put("/v1/sla/policies/p", json=body, headers=api.mine), 422, rule)
    if rule is None:
        assert location in [error["location"] for error in refused["errors"]], refused
    else:
        assert refused["location"] == location, refused
    problem(api.client.get("/v1/sla/policies/p", headers=api.mine), 404)


def test_a_policy_names_a_calendar_that_exists_and_keeps_it_from_deletion(api: Admin) -> None:
    refused = problem(
        api.client.put("/v1/sla/policies/std", json=STANDARD, headers=api.mine), 422, "unknown_calendar"
    )
    assert (refused["calendar_id"], refused["detail"]) == ("office", "no calendar office; create it first")
    office(api)
    put(api, "/v1/sla/policies/std", STANDARD, 201)
    policy(api, "other", 20, calendar_id="office")

    in_use = problem(api.client.delete("/v1/sla/calendars/office", headers=api.mine), 409, "calendar_in_use")
    assert in_use["policy_ids"] == ["std", "other"]
    assert get(api, "/v1/sla/calendars/office")["id"] == "office"
    put(api, "/v1/sla/policies/other", {"position": 20})
    api.client.delete("/v1/sla/policies/std", headers=api.mine)
    assert api.client.delete("/v1/sla/calendars/office", headers=api.mine).status_code == 204


# -- a ticket's status -----------------------------------------------------------------------------


def test_a_tickets_status_reads_deadlines_and_remaining_business_time(api: Admin) -> None:
    office(api)
    put(api, "/v1/sla/policies/std", STANDARD, 201)
    created_at = api.clock.now()  # Tuesday 4 March 2031, 09:00 in London (GMT)
    facts = TicketFacts(Priority.NORMAL, "incident", "email", None, frozenset({"vip"}))
    api.tickets.apply(api.tenant, "T-1", lambda _: Created("T-1", 1, facts, Status.NEW, created_at))
    api.clock.advance(timedelta(hours=1, minutes=30))

    status = get(api, "/v1/sla/tickets/T-1")
    assert (status["ticket_id"], status["policy_id"]) == ("T-1", "std")
    first_reply, requester_wait, agent_work = status["metrics"]
    # 4 business hours from 09:00: 09:00-12:00, then 13:00-14:00 after lunch; the warning at half.
    assert first_reply == {
        "metric": "first_reply",
        "instance_id": "T-1:first_reply:1",
        "state": "active",
        "policy_id": "std",
        "target_seconds": 14400.0,
        "time_basis": "business",
        "started_at": "2031-03-04T09:00:00Z",
        "warn_at": "2031-03-04T11:00:00Z",
        "deadline": "2031-03-04T14:00:00Z",
        "remaining_seconds": 9000.0,
        "fulfilled_at": None,
        "breached_at": None,
    }
    assert (requester_wait["deadline"], requester_wait["remaining_seconds"]) == (
        "2031-03-05T09:00:00Z",
        81000.0,
    )
    # No target for agent_work: tracked, nothing due.
    assert (agent_work["policy_id"], agent_work["deadline"], agent_work["remaining_seconds"]) == (
        None,
        None,
        None,
    )

    api.tickets.apply(
        api.tenant,
        "T-1",
        lambda _: StatusChanged(2, Status.PENDING, created_at + timedelta(hours=1, minutes=30)),
    )
    api.clock.advance(timedelta(hours=5))  # 15:30
    later = {m["metric"]: m for m in get(api, "/v1/sla/tickets/T-1")["metrics"]}
    # first_reply never pauses: 3 + 2.5 business hours used of 4.
    assert (later["first_reply"]["state"], later["first_reply"]["remaining_seconds"]) == ("breached", -5400.0)
    # requester_wait paused while pending: its time left is frozen and nothing is due.
    waiting = later["requester_wait"]
    assert (waiting["state"], waiting["remaining_seconds"], waiting["deadline"]) == ("paused", 81000.0, None)

    problem(api.client.get("/v1/sla/tickets/T-2", headers=api.mine), 404)
    problem(api.client.get("/v1/sla/tickets/T-1", headers=api.theirs), 404)


# -- auth and tenants ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/sla/policies"),
        ("GET", "/v1/sla/policies/std"),
        ("PUT", "/v1/sla/policies/std"),
        ("DELETE", "/v1/sla/policies/std"),
        ("GET", "/v1/sla/calendars"),
        ("GET", "/v1/sla/calendars/office"),
        ("PUT", "/v1/sla/calendars/office"),
        ("DELETE", "/v1/sla/calendars/office"),
        ("GET", "/v1/sla/tickets/T-1"),
    ],
)
def test_a_key_is_required(api: Admin, method: str, path: str) -> None:
    missing = problem(api.client.request(method, path, json={}), 401)
    assert "X-API-Key" in missing["detail"]
    problem(api.client.request(method, path, json={}, headers={"X-API-Key": "hlk_" + "x" * 43}), 401)
    problem(api.client.request(method, path, json={}, headers={"Authorization": "Bearer nope"}), 401)


def test_a_tenant_never_sees_another_tenants_configuration(api: Admin) -> None:
    office(api)
    put(api, "/v1/sla/policies/std", STANDARD, 201)
    for path in ("/v1/sla/policies/std", "/v1/sla/calendars/office"):
        problem(api.client.get(path, headers=api.theirs), 404)
        problem(api.client.delete(path, headers=api.theirs), 404)
    for path in ("/v1/sla/policies", "/v1/sla/calendars"):
        assert ok(api.client.get(path, headers=api.theirs)) == {"items": [], "next_cursor": None}
    # Their policy cannot name my calendar; their calendar of the same id is theirs alone.
    problem(
        api.client.put("/v1/sla/policies/std", json=STANDARD, headers=api.theirs), 422, "unknown_calendar"
    )
    theirs = {**OFFICE, "time_zone": "America/New_York"}
    ok(api.client.put("/v1/sla/calendars/office", json=theirs, headers=api.theirs), 201)
    assert get(api, "/v1/sla/calendars/office")["time_zone"] == "Europe/London"
    assert [p["id"] for p in get(api, "/v1/sla/policies")["items"]] == ["std"]
