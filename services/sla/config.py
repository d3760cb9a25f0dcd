"""A tenant's SLA configuration in Redis: policies and calendars, one hash each, field = id,
value = the domain object's JSON (validated again on every read, so a stored object is one the
domain accepts)."""

from __future__ import annotations

from collections.abc import Mapping

from helpline.codec import Codec
from services.sla.domain.calendar import Calendar
from services.sla.domain.policy import Policy
from services.sla.domain.timebasis import TimeBasis
from services.sla.store import Keys, SlaStore

POLICIES = Codec(Policy)
CALENDARS = Codec(Calendar)


class SlaConfig:
    def __init__(self, store: SlaStore) -> None:
        self.store = store

    def put_policy(self, tenant_id: str, policy: Policy) -> None:
        self.store.put_config(Keys(tenant_id).policies, policy.policy_id, POLICIES.dumps(policy))

    def delete_policy(self, tenant_id: str, policy_id: str) -> bool:
        return self.store.delete_config(Keys(tenant_id).policies, policy_id)

    def policy(self, tenant_id: str, policy_id: str) -> Policy | None:
        raw = self.store.config(Keys(tenant_id).policies, policy_id)
        return None if raw is None else POLICIES.loads(raw)

    def policies(self, tenant_id: str) -> list[Policy]:
        """In evaluation order: position, then id."""
        found = [POLICIES.loads(raw) for raw in self.store.all_config(Keys(tenant_id).policies).values()]
        return sorted(found, key=lambda policy: (policy.position, policy.policy_id))

    def put_calendar(self, tenant_id: str, calendar: Calendar) -> None:
        self.store.put_config(Keys(tenant_id).calendars, calendar.calendar_id, CALENDARS.dumps(calendar))

    def delete_calendar(self, tenant_id: str, calendar_id: str) -> bool:
        return self.store.delete_config(Keys(tenant_id).calendars, calendar_id)

    def calendar(self, tenant_id: str, calendar_id: str) -> Calendar | None:
        raw = self.store.config(Keys(tenant_id).calendars, calendar_id)
        return None if raw is None else CALENDARS.loads(raw)

    def calendars(self, tenant_id: str) -> Mapping[str, TimeBasis]:
        return {
            calendar_id: CALENDARS.loads(raw)
            for calendar_id, raw in self.store.all_config(Keys(tenant_id).calendars).items()
        }
