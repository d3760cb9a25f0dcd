"""The audit trail: every configuration change, and every API key created or revoked, is one
`ConfigurationChanged` event on `helpline.audit`, staged by the service in the same Redis
transaction as the change, so neither exists without the other.

Who made a change is `helpline.auth.current_actor()`: the API key of the call being served, never
anything a request says; outside a call, the operator at the command line, or else the system.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from helpline.domain import timestamp
from helpline.events import new_event, to_record
from helpline.records import OutgoingRecord
from helpline.v1 import audit_events_pb2

AUDIT_TOPIC = "helpline.audit"
SYSTEM_ROLE = "system"


class Kind(StrEnum):
    SKILL = "skill"
    QUEUE = "queue"
    PROFILE = "profile"
    AGENT = "agent"
    SLA_POLICY = "sla_policy"
    CALENDAR = "calendar"
    API_KEY = "api_key"
    SURVEY_SETTINGS = "survey_settings"
    WEBHOOK = "webhook"


class Action(StrEnum):
    PUT = "put"
    REMOVE = "remove"
    CREATE = "create"
    REVOKE = "revoke"


@dataclass(frozen=True)
class Actor:
    """Who made a change: a key (its id, role, name and for an agent's key the agent), the operator
    at the command line, or the system (helpline.auth.current_actor says which)."""

    key_id: str
    role: str
    agent_id: str = ""
    name: str = ""


SYSTEM = Actor(key_id="", role=SYSTEM_ROLE, name=SYSTEM_ROLE)


def configuration_changed(
    tenant_id: str,
    kind: Kind,
    object_id: str,
    action: Action,
    versions: tuple[int, int],
    at: datetime,
    actor: Actor,
    expires_at: datetime | None = None,
) -> audit_events_pb2.ConfigurationChanged:
    """The event of one change by `actor`; `versions` are the object's before and after it, 0 where
    it did not exist."""
    before, after = versions
    change = audit_events_pb2.ConfigurationChanged(
        tenant_id=tenant_id,
        kind=audit_events_pb2.ConfigurationKind.Value(f"CONFIGURATION_KIND_{kind.value.upper()}"),
        object_id=object_id,
        action=audit_events_pb2.ConfigurationAction.Value(f"CONFIGURATION_ACTION_{action.value.upper()}"),
        actor=audit_events_pb2.KeyActor(
            key_id=actor.key_id, role=actor.role, agent_id=actor.agent_id, name=actor.name
        ),
        before_version=before,
        after_version=after,
        occurred_at=timestamp(at),
    )
    if expires_at is not None:
        change.expires_at.CopyFrom(timestamp(expires_at))
    return change


def audit_record(change: audit_events_pb2.ConfigurationChanged, source: str) -> OutgoingRecord:
    """The Kafka record of a change, for an outbox: keyed by tenant, its subject the object."""
    envelope = new_event(change, source=source, subject=change.object_id)
    return to_record(envelope, AUDIT_TOPIC, key=change.tenant_id)
