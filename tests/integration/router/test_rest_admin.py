"""The router's REST admin API over the real Redis: skills, queues, routing profiles and agents
created, read, listed and changed; versions, ETags and If-Match; every refusal as a problem; tenant
isolation; and the events each change leaves on the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from httpx import Response

from helpline.optimistic import ContendedError
from helpline.v1 import agent_events_pb2, common_pb2, queue_events_pb2
from services.router.composition import Router
from services.router.domain.model import AgentStatus
from tests.integration.api_checks import ok, problem
from tests.integration.router.rest_app import Admin, admin
from tests.integration.router.router_events import router_events

# An overflow step as it reads back when the body sets only `after_seconds`.
NO_STEP = {"drop_skills": [], "min_proficiency": 0, "move_to_queue_id": None, "accept_any_agent": False}

VOICE_QUEUE = {
    "name": "Billing calls",
    "channels": ["voice", "callback"],
    "department": "support",
    "tier": "L2",
    "strategy": "best_skill",
    "required_skills": [{"name": "billing", "min_proficiency": 3}, {"name": "french", "min_proficiency": 2}],
    "overflow_steps": [
        {"after_seconds": 30, "drop_skills": ["french"]},
        {"after_seconds": 60, "min_proficiency": 1, "accept_any_agent": True},
        {"after_seconds": 120.5, "move_to_queue_id": "chat"},
    ],
    "service_level_threshold_seconds": 15,
    "service_level_target": 0.9,
    "max_wait_seconds": 600,
    "timeout_action": "callback",
    "callback_threshold_seconds": 90,
    "offer_timeout_seconds": 12.5,
    "max_no_answer": 2,
    "after_contact_work_timeout_seconds": 45,
    "resume_window_seconds": 30,
    "sla_warning_reaction": "raise_priority",
    "sla_breach_reaction": "overflow",
}


@pytest.fixture
def api(router: Router, redis_client: redis.Redis, unique: str) -> Iterator[Admin]:
    with admin(router, redis_client, unique) as built:
        yield built


def put(api: Admin, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return ok(api.client.put(path, json=body, headers=api.mine), status)


def get(api: Admin, path: str) -> dict[str, Any]:
    return ok(api.client.get(path, headers=api.mine))


def skills(api: Admin, *names: str) -> None:
    for name in names:
        put(api, f"/v1/skills/{name}", {}, 201)


def chat_queue(api: Admin, queue_id: str = "chat") -> dict[str, Any]:
    return put(api, f"/v1/queues/{queue_id}", {"name": "Chat", "channels": ["chat"]}, 201)


def desk(api: Admin, body: dict[str, Any] | None = None, status: int = 201) -> dict[str, Any]:
    """The shared routing profile `desk`, serving the chat queue unless `body` says otherwise."""
    return put(api, "/v1/routing-profiles/desk", body or {"queues": [{"queue_id": "chat"}]}, status)


def test_skills_are_created_changed_read_and_listed(api: Admin) -> None:
    made = api.client.put("/v1/skills/billing", json={"description": "Invoices"}, headers=api.mine)
    assert ok(made, 201) == {"name": "billing", "version": 1, "description": "Invoices"}
    assert (made.headers["etag"], made.headers["location"]) == ('"1"', "/v1/skills/billing")
    changed = api.client.put("/v1/skills/billing", json={"description": "Refunds"}, headers=api.mine)
    assert (ok(changed)["version"], changed.headers["etag"]) == (2, '"2"')
    assert "location" not in changed.headers
    skills(api, "french")
    read = api.client.get("/v1/skills/billing", headers=api.mine)
    assert (ok(read)["description"], read.headers["etag"]) == ("Refunds", '"2"')
    listed = get(api, "/v1/skills")["items"]
    assert [(s["name"], s["version"]) for s in listed] == [("billing", 2), ("french", 1)]
    problem(api.client.put("/v1/skills/bad:name", json={}, headers=api.mine), 422)
    problem(api.client.put("/v1/skills/x", json={"colour": "red"}, headers=api.mine), 422)


def test_a_voice_queue_with_overflow_steps_and_a_chat_queue(api: Admin) -> None:
    skills(api, "billing", "french")
    chat = chat_queue(api)
    # Fields left out take the domain's defaults.
    assert (chat["strategy"], chat["offer_timeout_seconds"], chat["max_no_answer"]) == ("longest_idle", 20, 3)
    made = api.client.put("/v1/queues/billing", json=VOICE_QUEUE, headers=api.mine)
    expected = {
        **VOICE_QUEUE,
        "id": "billing",
        "version": 1,
        "channels": ["callback", "voice"],
        "calendar_id": None,
        "closed_action": "ticket",
        "fallback_strategy": "longest_idle",
        "preferred_agent_window_seconds": 0,
        "overflow_steps": [
            {**NO_STEP, "after_seconds": 30, "drop_skills": ["french"]},
            {**NO_STEP, "after_seconds": 60, "min_proficiency": 1, "accept_any_agent": True},
            {**NO_STEP, "after_seconds": 120.5, "move_to_queue_id": "chat"},
        ],
    }
    assert ok(made, 201) == expected
    assert (made.headers["etag"], made.headers["location"]) == ('"1"', "/v1/queues/billing")
    read = api.client.get("/v1/queues/billing", headers=api.mine)
    assert (ok(read), read.headers["etag"]) == (expected, '"1"')
    listed = get(api, "/v1/queues")["items"]
    assert [q["id"] for q in listed] == ["billing", "chat"]
    assert listed[0] == expected

    configured = router_events(api.redis, api.tenant, queue_events_pb2.QueueConfigured)
    assert [(event.queue_id, event.version) for event in configured] == [("chat", 1), ("billing", 1)]
    voice = configured[1]
    assert (voice.name, voice.max_no_answer, voice.strategy) == (
        "Billing calls",
        2,
        common_pb2.ROUTING_STRATEGY_BEST_SKILL,
    )
    assert voice.offer_timeout.ToMilliseconds() == 12_500
    assert [step.move_to_queue_id for step in voice.overflow_steps] == ["", "", "chat"]


def test_a_queue_change_is_pinned_by_if_match(api: Admin) -> None:
    chat_queue(api)

    def pinned(queue_id: str, name: str, if_match: str) -> Response:
        body = {"name": name, "channels": ["chat", "sms"]}
        put: Response = api.client.put(
            f"/v1/queues/{queue_id}", json=body, headers=api.mine | {"If-Match": if_match}
        )
        return put

    changed = pinned("chat", "Chat EN", '"1"')
    assert (ok(changed)["version"], ok(changed)["channels"]) == (2, ["chat", "sms"])
    assert changed.headers["etag"] == '"2"'
    stale = problem(pinned("chat", "Lost", '"1"'), 412, "version_mismatch")
    assert "version 2" in stale["detail"]
    # If-Match names a version, so it never matches a queue that does not exist yet.
    problem(pinned("new", "New", "1"), 412, "version_mismatch")
    problem(pinned("chat", "Starred", "*"), 400)
    assert ok(pinned("chat", "Weak", 'W/"2"'))["version"] == 3
    assert put(api, "/v1/queues/chat", {"name": "Chat", "channels": ["chat"]})["version"] == 4
    assert get(api, "/v1/queues/chat")["name"] == "Chat"
    versions = [e.version for e in router_events(api.redis, api.tenant, queue_events_pb2.QueueConfigured)]
    assert versions == [1, 2, 3, 4]


def test_a_queue_nothing_uses_is_removed(api: Admin) -> None:
    chat_queue(api)
    chat_queue(api, "mail")
    desk(api)
    delete = api.client.delete
    problem(delete("/v1/queues/chat", headers=api.mine), 422, "queue_in_use")
    desk(api, {"queues": [{"queue_id": "mail"}]}, 200)
    problem(delete("/v1/queues/chat", headers=api.mine | {"If-Match": '"2"'}), 412, "version_mismatch")
    problem(delete("/v1/queues/chat", headers=api.theirs), 404)

    removed = delete("/v1/queues/chat", headers=api.mine | {"If-Match": '"1"'})

    assert (removed.status_code, removed.content) == (204, b"")
    problem(api.client.get("/v1/queues/chat", headers=api.mine), 404)
    problem(delete("/v1/queues/chat", headers=api.mine), 404)
    assert [q["id"] for q in get(api, "/v1/queues")["items"]] == ["mail"]
    removals = router_events(api.redis, api.tenant, queue_events_pb2.QueueRemoved)
    assert [event.queue_id for event in removals] == ["chat"]


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"required_skills": [{"name": "german"}]}, "unknown_skill"),
        ({"overflow_steps": [{"after_seconds": 10, "drop_skills": ["german"]}]}, "unknown_skill"),
        ({"overflow_steps": [{"after_seconds": 10, "move_to_queue_id": "nowhere"}]}, "unknown_queue"),
        ({"overflow_steps": [{"after_seconds": 10, "move_to_queue_id": "q"}]}, "overflow_to_itself"),
        ({"overflow_steps": [{"after_seconds": 20}, {"after_seconds": 10}]}, "overflow_steps_unsorted"),
        (
            {"overflow_steps": [{"after_seconds": 10, "move_to_queue_id": "chat"}, {"after_seconds": 20}]},
            "overflow_step_after_move",
        ),
        ({"required_skills": [{"name": "billing"}, {"name": "billing"}]}, "duplicate_skill"),
        ({"channels": ["bot"]}, "unroutable_channel"),
        ({"fallback_strategy": "preferred_agent"}, "fallback_is_preferred_agent"),
        # Rounds to zero microseconds: only the domain sees the offer would never stay open.
        ({"offer_timeout_seconds": 1e-9}, "offer_timeout_not_positive"),
        ({"required_skills": [{"name": "billing", "min_proficiency": 6}]}, None),
        ({"overflow_steps": [{"after_seconds": 10, "min_proficiency": 6}]}, None),
        ({"max_wait_seconds": -1}, None),
        ({"overflow_steps": [{"after_seconds": -5}]}, None),
        ({"offer_timeout_seconds": 0}, None),
        ({"max_no_answer": -1}, None),
        ({"service_level_target": 1}, None),
        ({"max_no_answer": "3"}, None),
        ({"strategy": "fastest"}, None),
        ({"timeout_action": "hang_up"}, None),
        ({"channels": []}, None),
        ({"channels": ["fax"]}, None),
        ({"name": ""}, None),
        ({"colour": "red"}, None),
    ],
)
def test_an_invalid_queue_is_refused(api: Admin, change: dict[str, Any], rule: str | None) -> None:
    skills(api, "billing")
    chat_queue(api)
    body = {"name": "Q", "channels": ["voice"], **change}
    refused = problem(api.client.put("/v1/queues/q", json=body, headers=api.mine), 422, rule)
    if rule is None:
        assert refused["errors"], refused
    problem(api.client.get("/v1/queues/q", headers=api.mine), 404)


def test_routing_profiles_are_created_changed_read_and_listed(api: Admin) -> None:
    chat_queue(api)
    chat_queue(api, "email")
    queues = [{"queue_id": "chat", "priority": 1}, {"queue_id": "email", "priority": 2, "delay_seconds": 300}]
    body = {
        "name": "Chat desk",
        "queues": queues,
        "capacity": {"chat": 3, "email": 10},
        "cross_channel": "any",
        "voice_exclusive": False,
    }
    made = api.client.put("/v1/routing-profiles/desk", json=body, headers=api.mine)
    assert ok(made, 201) == {
        **body,
        "id": "desk",
        "version": 1,
        "queues": [{**queues[0], "delay_seconds": 0}, queues[1]],
    }
    assert (made.headers["etag"], made.headers["location"]) == ('"1"', "/v1/routing-profiles/desk")
    # A PUT replaces the whole profile: what it leaves out takes the defaults.
    changed = desk(api, status=200)
    assert (changed["version"], changed["name"], changed["capacity"]) == (2, "", {"voice": 1})
    assert (changed["cross_channel"], changed["voice_exclusive"]) == ("current_only", True)
    read = api.client.get("/v1/routing-profiles/desk", headers=api.mine)
    assert (ok(read), read.headers["etag"]) == (changed, '"2"')
    put(api, "/v1/routing-profiles/all", {"name": "All"}, 201)
    listed = get(api, "/v1/routing-profiles")["items"]
    assert [(p["id"], p["version"]) for p in listed] == [("all", 1), ("desk", 2)]


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"queues": [{"queue_id": "nowhere"}]}, "unknown_queue"),
        ({"queues": [{"queue_id": "chat"}, {"queue_id": "chat", "priority": 2}]}, "duplicate_queue"),
        ({"capacity": {"voice": 2}}, "impossible_capacity"),
        ({"capacity": {"chat": 11}}, "impossible_capacity"),
        ({"capacity": {"chat": 0}}, "impossible_capacity"),
        ({"capacity": {"callback": 1}}, "capacity_for_unknown_channel"),
        ({"capacity": {"fax": 1}}, None),
        ({"capacity": {"chat": 2.5}}, None),
        ({"queues": [{"queue_id": "chat", "priority": 0}]}, None),
        ({"queues": [{"queue_id": "chat", "delay_seconds": -1}]}, None),
        ({"cross_channel": "sometimes"}, None),
        ({"voice_exclusive": "yes"}, None),
    ],
)
def test_an_invalid_routing_profile_is_refused(api: Admin, change: dict[str, Any], rule: str | None) -> None:
    chat_queue(api)
    refused = problem(api.client.put("/v1/routing-profiles/p", json=change, headers=api.mine), 422, rule)
    if rule is None:
        assert refused["errors"], refused
    problem(api.client.get("/v1/routing-profiles/p", headers=api.mine), 404)


def test_agents_with_a_shared_or_their_own_profile(api: Admin) -> None:
    skills(api, "billing", "french")
    chat_queue(api)
    desk(api, {"queues": [{"queue_id": "chat"}], "capacity": {"chat": 2}})
    config = {"display_name": "Ann", "skills": {"billing": 4, "french": 2}, "routing_profile_id": "desk"}
    made = api.client.put("/v1/agents/ann", json=config, headers=api.mine)
    assert ok(made, 201) == {
        **config,
        "id": "ann",
        "version": 1,
        "routing_profile": {
            "queues": [{"queue_id": "chat", "priority": 1, "delay_seconds": 0}],
            "capacity": {"chat": 2},
            "cross_channel": "current_only",
            "voice_exclusive": True,
        },
        "status": "offline",
        "away_reason": None,
        "state": "idle",
        "load": {},
    }
    assert (made.headers["etag"], made.headers["location"]) == ('"1"', "/v1/agents/ann")
    own = {"queues": [{"queue_id": "chat", "priority": 3}], "capacity": {"voice": 1, "chat": 1}}
    bob = put(api, "/v1/agents/bob", {"skills": {"billing": 1}, "routing_profile": own}, 201)
    assert (bob["routing_profile_id"], bob["routing_profile"]["queues"][0]["priority"]) == (None, 3)
    assert bob["routing_profile"]["capacity"] == {"chat": 1, "voice": 1}

    api.router.agents.set_status(api.tenant, "ann", AgentStatus.AWAY, reason="lunch")
    away = api.client.get("/v1/agents/ann", headers=api.mine)
    assert (ok(away)["status"], ok(away)["away_reason"], away.headers["etag"]) == ("away", "lunch", '"2"')
    # A configuration change keeps the router's view of the agent.
    changed = put(api, "/v1/agents/ann", {"display_name": "Ann B.", "routing_profile": own})
    assert (changed["version"], changed["status"], changed["away_reason"]) == (3, "away", "lunch")
    assert (changed["skills"], changed["routing_profile_id"]) == ({}, None)
    listed = get(api, "/v1/agents")["items"]
    assert [(a["id"], a["display_name"]) for a in listed] == [("ann", "Ann B."), ("bob", "")]

    configured = router_events(api.redis, api.tenant, agent_events_pb2.AgentConfigured)
    assert [(e.agent_id, e.display_name, e.version) for e in configured] == [
        ("ann", "Ann", 1),
        ("bob", "", 1),
        ("ann", "Ann B.", 3),
    ]
    assert [(s.name, s.proficiency) for s in configured[0].skills] == [("billing", 4), ("french", 2)]


def test_an_agent_follows_a_later_change_of_their_profile(api: Admin) -> None:
    chat_queue(api)
    chat_queue(api, "email")
    desk(api)
    put(api, "/v1/agents/ann", {"routing_profile_id": "desk"}, 201)
    put(api, "/v1/agents/bob", {"routing_profile": {"queues": [{"queue_id": "chat"}]}}, 201)
    queues = [{"queue_id": "email", "priority": 1}, {"queue_id": "chat", "priority": 2}]
    desk(api, {"queues": queues, "capacity": {"email": 5}}, status=200)
    ann = get(api, "/v1/agents/ann")
    assert [(q["queue_id"], q["priority"]) for q in ann["routing_profile"]["queues"]] == [
        ("email", 1),
        ("chat", 2),
    ]
    assert (ann["routing_profile"]["capacity"], ann["version"]) == ({"email": 5}, 2)
    # Bob's profile is his own: the shared one changing is none of his business.
    bob = get(api, "/v1/agents/bob")
    assert [q["queue_id"] for q in bob["routing_profile"]["queues"]] == ["chat"]
    configured = router_events(api.redis, api.tenant, agent_events_pb2.AgentConfigured)
    assert [(e.agent_id, [q.queue_id for q in e.queues]) for e in configured] == [
        ("ann", ["chat"]),
        ("bob", ["chat"]),
        ("ann", ["email", "chat"]),
    ]


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ({"routing_profile_id": "desk", "skills": {"german": 3}}, "unknown_skill"),
        ({"routing_profile_id": "nowhere"}, "unknown_profile"),
        ({"skills": {"billing": 3}}, "profile_required"),
        ({"routing_profile_id": "desk", "routing_profile": {"queues": []}}, "profile_ambiguous"),
        ({"routing_profile": {"queues": [{"queue_id": "nowhere"}]}}, "unknown_queue"),
        ({"routing_profile": {"capacity": {"voice": 3}}}, "impossible_capacity"),
        ({"routing_profile_id": "desk", "skills": {"billing": 6}}, None),
        ({"routing_profile_id": "desk", "skills": {"billing": 0}}, None),
        ({"routing_profile_id": "desk", "skills": {"bad:skill": 1}}, None),
        ({"routing_profile_id": "bad id"}, None),
        ({"routing_profile_id": "desk", "status": "available"}, None),
    ],
)
def test_an_invalid_agent_is_refused(api: Admin, body: dict[str, Any], rule: str | None) -> None:
    skills(api, "billing")
    chat_queue(api)
    desk(api)
    refused = problem(api.client.put("/v1/agents/ann", json=body, headers=api.mine), 422, rule)
    if rule is None:
        assert refused["errors"], refused
    problem(api.client.get("/v1/agents/ann", headers=api.mine), 404)
    assert router_events(api.redis, api.tenant, agent_events_pb2.AgentConfigured) == []


@pytest.mark.parametrize("path", ["/v1/skills/x", "/v1/queues/x", "/v1/routing-profiles/x", "/v1/agents/x"])
def test_an_unknown_id_is_not_found(api: Admin, path: str) -> None:
    found = problem(api.client.get(path, headers=api.mine), 404)
    assert (found["id"], found["detail"].startswith("no ")) == ("x", True)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/skills"),
        ("GET", "/v1/queues/chat"),
        ("GET", "/v1/routing-profiles"),
        ("GET", "/v1/agents/ann"),
        ("PUT", "/v1/skills/billing"),
        ("PUT", "/v1/queues/chat"),
        ("PUT", "/v1/routing-profiles/desk"),
        ("PUT", "/v1/agents/ann"),
        ("DELETE", "/v1/queues/chat"),
    ],
)
def test_a_key_is_required(api: Admin, method: str, path: str) -> None:
    missing = problem(api.client.request(method, path, json={}), 401)
    assert "X-API-Key" in missing["detail"]
    unknown = {"X-API-Key": "hlk_" + "x" * 43}
    problem(api.client.request(method, path, json={}, headers=unknown), 401)
    problem(api.client.request(method, path, json={}, headers={"Authorization": "Bearer nope"}), 401)


def test_a_tenant_never_sees_another_tenants_configuration(api: Admin) -> None:
    skills(api, "billing")
    chat_queue(api)
    desk(api)
    put(api, "/v1/agents/ann", {"routing_profile_id": "desk"}, 201)
    for path in ("/v1/skills/billing", "/v1/queues/chat", "/v1/routing-profiles/desk", "/v1/agents/ann"):
        problem(api.client.get(path, headers=api.theirs), 404)
    for path in ("/v1/skills", "/v1/queues", "/v1/routing-profiles", "/v1/agents"):
        assert ok(api.client.get(path, headers=api.theirs)) == {"items": [], "next_cursor": None}

    def theirs(path: str, body: dict[str, Any]) -> Response:
        put: Response = api.client.put(path, json=body, headers=api.theirs)
        return put

    queue = {"name": "Theirs", "channels": ["sms"]}
    problem(
        theirs("/v1/queues/chat", {**queue, "required_skills": [{"name": "billing"}]}), 422, "unknown_skill"
    )
    problem(theirs("/v1/agents/ann", {"routing_profile_id": "desk"}), 422, "unknown_profile")
    # The same ids in another tenant are another tenant's: creating them touches nothing here.
    ok(theirs("/v1/queues/chat", queue), 201)
    assert get(api, "/v1/queues/chat")["channels"] == ["chat"]


def test_a_write_that_keeps_losing_races_is_a_conflict(api: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
    def contended(*_args: object) -> None:
        raise ContendedError("skill billing")

    monkeypatch.setattr(api.router.catalog, "put_skill", contended)
    problem(api.client.put("/v1/skills/billing", json={}, headers=api.mine), 409, "contended")


def test_lists_come_a_page_at_a_time_by_id(api: Admin) -> None:
    names = [f"s{n:02d}" for n in range(7)]
    for name in reversed(names):
        put(api, f"/v1/skills/{name}", {}, 201)
    seen, cursor = [], ""
    for _ in range(4):
        page = ok(api.client.get("/v1/skills", params={"limit": 3, "cursor": cursor}, headers=api.mine))
        seen.append([skill["name"] for skill in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [names[0:3], names[3:6], names[6:7]]
    problem(api.client.get("/v1/skills", params={"cursor": "not-ours"}, headers=api.mine), 400)
    problem(api.client.get("/v1/agents", params={"limit": 201}, headers=api.mine), 422)


OFFICE_HOURS = {
    "name": "Office",
    "time_zone": "Europe/Berlin",
    "open_intervals": [
        {"weekday": "monday", "opens": "09:00", "closes": "12:00"},
        {"weekday": "monday", "opens": "13:00", "closes": "17:00"},
    ],
    "holiday_countries": ["DE"],
    "holidays": [{"date": "2031-12-24", "name": "Christmas Eve"}],
}


def test_calendars_the_sla_shape_named_by_queues(api: Admin) -> None:
    made = api.client.put("/v1/calendars/office", json=OFFICE_HOURS, headers=api.mine)
    assert ok(made, 201) == {**OFFICE_HOURS, "id": "office"}
    # Another tenant neither sees it nor can name it.
    assert api.client.get("/v1/calendars/office", headers=api.theirs).status_code == 404
    queue = {"name": "Night", "channels": ["voice"], "calendar_id": "office", "closed_action": "voicemail"}
    refused = api.client.put("/v1/queues/night", json=queue, headers=api.theirs)
    assert (refused.status_code, refused.json()["rule"]) == (422, "unknown_calendar")
    saved = ok(api.client.put("/v1/queues/night", json=queue, headers=api.mine), 201)
    assert (saved["calendar_id"], saved["closed_action"]) == ("office", "voicemail")
    in_use = api.client.delete("/v1/calendars/office", headers=api.mine)
    assert (in_use.status_code, in_use.json()["rule"]) == (422, "calendar_in_use")
    listed = ok(api.client.get("/v1/calendars", headers=api.mine), 200)
    assert [item["id"] for item in listed["items"]] == ["office"]


def test_a_calendar_the_domain_refuses_names_the_field(api: Admin) -> None:
    overlapping = {
        **OFFICE_HOURS,
        "open_intervals": [
            {"weekday": "monday", "opens": "09:00", "closes": "12:00"},
            {"weekday": "monday", "opens": "11:00", "closes": "17:00"},
        ],
    }
    refused = api.client.put("/v1/calendars/bad", json=overlapping, headers=api.mine)
    assert refused.status_code == 422
    assert (refused.json()["rule"], refused.json()["location"]) == (
        "overlapping_intervals",
        "body.open_intervals",
    )
    zone = api.client.put(
        "/v1/calendars/bad", json={**OFFICE_HOURS, "time_zone": "Mars/Olympus"}, headers=api.mine
    )
    assert (zone.status_code, zone.json()["rule"]) == (422, "unknown_time_zone")
