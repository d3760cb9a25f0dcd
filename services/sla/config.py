"""A tenant's SLA configuration in Redis: policies and calendars, one hash each, field = id,
value = the domain object's JSON (validated again on every read, so a stored object is one the
domain accepts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from helpline.codec import Codec
from helpline.quotas import QuotaReachedError
from services.sla.domain.calendar import Calendar
from services.sla.domain.policy import Policy
from services.sla.domain.timebasis import TimeBasis
from services.sla.store import Keys, SlaStore

POLICIES = Codec(Policy)
CALENDARS = Codec(Calendar)


@dataclass(frozen=True)
class Quotas:
    """How many of each a tenant may keep (helpline.quotas)."""

    policies: int = 1000
    calendars: int = 100


class SlaConfig:
    def __init__(self, store: SlaStore, quotas: Quotas | None = None) -> None:
        self.store = store
        self.quotas = quotas or Quotas()

    def put_policy(self, tenant_id: str, policy: Policy) -> None:
        data = POLICIES.dumps(policy)
        if not self.store.put_config(Keys(tenant_id).policies, policy.policy_id, data, self.quotas.policies):
            raise QuotaReachedError("policies", self.quotas.policies, "HELPLINE_TENANT_MAX_POLICIES")

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
        data, most = CALENDARS.dumps(calendar), self.quotas.calendars
        if not self.store.put_config(Keys(tenant_id).calendars, calendar.calendar_id, data, most):
            raise QuotaReachedError("calendars", most, "HELPLINE_TENANT_MAX_CALENDARS")

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
