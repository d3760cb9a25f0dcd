"""A tenant's SLA configuration in Redis: policies and calendars, one hash each, field = id,
value = the domain object's JSON (validated again on every read, so a stored object is one the
domain accepts), beside a hash of each item's version. Every put and removal emits its audit event
(helpline.audit) through the outbox in the same script, naming the current actor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from helpline.audit import Action, Kind, audit_record, configuration_changed
from helpline.auth import current_actor
from helpline.business_hours import Calendar
from helpline.clock import Clock, SystemClock
from helpline.codec import Codec
from helpline.optimistic import retry_on_conflict
from helpline.quotas import QuotaReachedError
from helpline.records import OutgoingRecord
from services.sla.domain.policy import Policy
from services.sla.domain.timebasis import TimeBasis
from services.sla.store import ConflictError, Keys, SlaStore
from services.sla.watches import SOURCE

POLICIES = Codec(Policy)
CALENDARS = Codec(Calendar)


@dataclass(frozen=True)
class Quotas:
    """How many of each a tenant may keep (helpline.quotas)."""

    policies: int = 1000
    calendars: int = 100


@dataclass(frozen=True)
class _Items:
    """One kind of configuration: its audit kind, the quota's name and setting."""

    kind: Kind
    name: str
    setting: str


_POLICIES = _Items(Kind.SLA_POLICY, "policies", "HELPLINE_TENANT_MAX_POLICIES")
_CALENDARS = _Items(Kind.CALENDAR, "calendars", "HELPLINE_TENANT_MAX_CALENDARS")


class SlaConfig:
    def __init__(self, store: SlaStore, quotas: Quotas | None = None, clock: Clock | None = None) -> None:
        self.store = store
        self.quotas = quotas or Quotas()
        self.clock = clock or SystemClock()

    def put_policy(self, tenant_id: str, policy: Policy) -> int:
        """Create or replace the policy; returns its new version."""
        data = POLICIES.dumps(policy)
        key = Keys(tenant_id).policies
        return self._put(tenant_id, _POLICIES, key, policy.policy_id, data, self.quotas.policies)

    def delete_policy(self, tenant_id: str, policy_id: str) -> bool:
        return self._delete(tenant_id, _POLICIES, Keys(tenant_id).policies, policy_id)

    def policy(self, tenant_id: str, policy_id: str) -> Policy | None:
        raw = self.store.config(Keys(tenant_id).policies, policy_id)
        return None if raw is None else POLICIES.loads(raw)

    def policies(self, tenant_id: str) -> list[Policy]:
        """In evaluation order: position, then id."""
        found = [POLICIES.loads(raw) for raw in self.store.all_config(Keys(tenant_id).policies).values()]
        return sorted(found, key=lambda policy: (policy.position, policy.policy_id))

    def put_calendar(self, tenant_id: str, calendar: Calendar) -> int:
        """Create or replace the calendar; returns its new version."""
        data = CALENDARS.dumps(calendar)
        key = Keys(tenant_id).calendars
        return self._put(tenant_id, _CALENDARS, key, calendar.calendar_id, data, self.quotas.calendars)

    def delete_calendar(self, tenant_id: str, calendar_id: str) -> bool:
        return self._delete(tenant_id, _CALENDARS, Keys(tenant_id).calendars, calendar_id)

    def calendar(self, tenant_id: str, calendar_id: str) -> Calendar | None:
        raw = self.store.config(Keys(tenant_id).calendars, calendar_id)
        return None if raw is None else CALENDARS.loads(raw)

    def calendars(self, tenant_id: str) -> Mapping[str, TimeBasis]:
        return {
            calendar_id: CALENDARS.loads(raw)
            for calendar_id, raw in self.store.all_config(Keys(tenant_id).calendars).items()
        }

    def _put(self, tenant_id: str, items: _Items, key: str, item_id: str, data: str, most: int) -> int:
        def attempt() -> int:
            before = self.store.config_version(key, item_id)
            change = self._change(tenant_id, items, item_id, Action.PUT, before, before + 1)
            if not self.store.put_config(key, item_id, data, most, before, [change]):
                raise QuotaReachedError(items.name, most, items.setting)
            return before + 1

        return retry_on_conflict(attempt, f"{items.name} {item_id}", conflict=ConflictError)

    def _delete(self, tenant_id: str, items: _Items, key: str, item_id: str) -> bool:
        def attempt() -> bool:
            before = self.store.config_version(key, item_id)
            if not before:
                return False
            change = self._change(tenant_id, items, item_id, Action.REMOVE, before, 0)
            self.store.remove_config(key, item_id, before, [change])
            return True

        return retry_on_conflict(attempt, f"{items.name} {item_id}", conflict=ConflictError)

    def _change(
        self, tenant_id: str, items: _Items, item_id: str, action: Action, before: int, after: int
    ) -> OutgoingRecord:
        now = self.clock.now()
        change = configuration_changed(
            tenant_id, items.kind, item_id, action, (before, after), now, current_actor()
        )
        return audit_record(change, SOURCE)
