"""The audit trail's pure parts: the event of a change, who it names as the actor (the call's key,
the operator the command line names, else the system), the record it becomes, the topic it goes to,
and a REST handler acting as its caller's key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpline.audit import AUDIT_TOPIC, SYSTEM, Action, Actor, Kind, audit_record, configuration_changed
from helpline.auth import Principal, acting_as, current_actor, current_principal, operator, principal_context
from helpline.events import from_record
from helpline.rest import API_KEYS, admits, resource_router
from helpline.roles import Access, Role
from helpline.topics import DAY_MS, spec, topic_for_domain
from helpline.v1 import audit_events_pb2
from services.metrics.app import TOPICS as METRICS_TOPICS

AT = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)
AGENTS_KEY = Principal("acme", "k1", "ann's desk", role=Role.AGENT, agent_id="ann")


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("action", list(Action))
def test_every_kind_and_action_has_its_proto_value(kind: Kind, action: Action) -> None:
    change = configuration_changed("acme", kind, "x", action, (1, 2), AT, SYSTEM)
    assert audit_events_pb2.ConfigurationKind.Name(change.kind) == f"CONFIGURATION_KIND_{kind.upper()}"
    assert (
        audit_events_pb2.ConfigurationAction.Name(change.action) == f"CONFIGURATION_ACTION_{action.upper()}"
    )


def test_a_change_carries_its_actor_versions_and_instants() -> None:
    expires = AT + timedelta(days=30)
    actor = AGENTS_KEY.actor()
    change = configuration_changed("acme", Kind.API_KEY, "k9", Action.CREATE, (0, 1), AT, actor, expires)
    assert change.actor == audit_events_pb2.KeyActor(
        key_id="k1", role="agent", agent_id="ann", name="ann's desk"
    )
    assert (change.tenant_id, change.object_id, change.before_version, change.after_version) == (
        "acme",
        "k9",
        0,
        1,
    )
    assert (change.occurred_at.ToDatetime(UTC), change.expires_at.ToDatetime(UTC)) == (AT, expires)
    assert not configuration_changed("acme", Kind.QUEUE, "q", Action.PUT, (0, 1), AT, actor).HasField(
        "expires_at"
    )


def test_the_actor_is_the_calls_key_else_the_operator_named_else_the_system() -> None:
    assert current_actor() == SYSTEM
    at_the_command_line = operator()
    assert (at_the_command_line.key_id, at_the_command_line.role) == ("", "admin")
    assert at_the_command_line.name.startswith("cli:")
    with acting_as(at_the_command_line):
        assert current_actor() == at_the_command_line
        with principal_context(AGENTS_KEY):
            assert current_actor() == Actor("k1", "agent", "ann", "ann's desk")
        assert current_actor() == at_the_command_line
    assert current_actor() == SYSTEM


def test_a_change_is_recorded_on_the_audit_topic_keyed_by_tenant() -> None:
    change = configuration_changed("acme", Kind.QUEUE, "billing", Action.REMOVE, (3, 0), AT, SYSTEM)
    record = audit_record(change, "/helpline/router")
    assert (record.topic, record.key) == (AUDIT_TOPIC, b"acme")
    envelope = from_record(record.headers, record.value, record.key)
    assert (envelope.type, envelope.subject, envelope.message) == (
        "helpline.audit.configuration_changed.v1",
        "billing",
        change,
    )


def test_the_audit_topic_keeps_90_days_and_metrics_does_not_read_it() -> None:
    audit = spec(AUDIT_TOPIC)
    assert (audit.key, audit.retention_ms, topic_for_domain("audit")) == ("tenant_id", 90 * DAY_MS, audit)
    assert AUDIT_TOPIC not in METRICS_TOPICS


class _Keys:
    def resolve(self, key: str) -> Principal:
        return AGENTS_KEY if key.endswith("a") else Principal("acme", "k2", "ops")


def test_a_rest_handler_acts_as_its_callers_key_and_only_for_its_request() -> None:
    api = resource_router(prefix="/v1")

    @api.get("/whoami", openapi_extra=admits(Access.READ))
    def whoami() -> dict[str, Any]:
        actor = current_actor()
        return {"key_id": actor.key_id, "role": actor.role}

    app = FastAPI()
    API_KEYS.provide(app, _Keys())  # type: ignore[arg-type]
    app.include_router(api)
    with TestClient(app) as client:
        for key, expected in (
            ("a", {"key_id": "k1", "role": "agent"}),
            ("b", {"key_id": "k2", "role": "admin"}),
        ):
            answer = client.get("/v1/whoami", headers={"X-API-Key": "hlk_" + key * 43})
            assert answer.json() == expected
    assert current_principal.get() is None
