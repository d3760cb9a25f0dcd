"""The use cases of the REST API: a tenant's subscriptions created, read, changed and removed, each
change with its audit event, and its delivery log read and redelivered."""

from __future__ import annotations

from collections.abc import Callable

from helpline.audit import Action, Kind, audit_record, configuration_changed
from helpline.auth import current_actor
from helpline.clock import Clock
from helpline.domain import NotFoundError, new_id
from helpline.optimistic import retry_on_conflict
from helpline.quotas import QuotaReachedError
from helpline.records import OutgoingRecord
from services.notify.domain import subscription as rules
from services.notify.domain.delivery import Delivery
from services.notify.domain.subscription import Subscription
from services.notify.facts import SOURCE
from services.notify.store import (
    ConflictError,
    NotifyStore,
    QuotaFullError,
    StoredSubscription,
)

# A change that lost a race with another writer reads again; past this many, 503 (ContendedError).
_ATTEMPTS = 3


class StillWaitingError(Exception):
    """A redelivery of a delivery that is not finished yet."""


class PreconditionFailedError(Exception):
    """A change pinned (If-Match) to a version the subscription has moved on from."""

    def __init__(self, subscription_id: str, expected: int, current: int) -> None:
        super().__init__(f"webhook {subscription_id} is at version {current}, not {expected}")
        self.expected = expected
        self.current = current


class Subscriptions:
    def __init__(
        self,
        store: NotifyStore,
        clock: Clock,
        *,
        allow_private: bool,
        quota: int,
        on_change: Callable[[str], None] = lambda _tenant: None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.allow_private = allow_private
        self.quota = quota
        # Told the tenant whose subscriptions changed, so this replica's consumer sees it at once.
        self.on_change = on_change

    def create(
        self, tenant_id: str, url: str, event_types: list[str], secret: str, description: str, enabled: bool
    ) -> Subscription:
        now = self.clock.now()
        sub = rules.new_subscription(
            new_id(),
            tenant_id,
            url,
            event_types,
            secret,
            description,
            enabled,
            now,
            allow_private=self.allow_private,
        )
        self._save(sub, 0)
        return sub

    def get(self, tenant_id: str, subscription_id: str) -> StoredSubscription:
        found = self.store.subscription(tenant_id, subscription_id)
        if found is None:
            raise NotFoundError("webhook", subscription_id)
        return found

    def of_tenant(self, tenant_id: str) -> list[StoredSubscription]:
        return self.store.subscriptions(tenant_id)

    def change(
        self,
        tenant_id: str,
        subscription_id: str,
        *,
        url: str | None = None,
        event_types: list[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
        expected: int | None = None,
    ) -> StoredSubscription:
        """Change the fields given, at the version `expected` when one is (If-Match), else at
        whichever is current."""

        def attempt() -> None:
            stored = self._at(tenant_id, subscription_id, expected)
            sub = rules.changed(
                stored.subscription,
                self.clock.now(),
                allow_private=self.allow_private,
                url=url,
                event_types=event_types,
                description=description,
                enabled=enabled,
            )
            self._save(sub, stored.version)

        retry_on_conflict(attempt, f"webhook {subscription_id}", conflict=ConflictError, attempts=_ATTEMPTS)
        return self.get(tenant_id, subscription_id)

    def delete(self, tenant_id: str, subscription_id: str, expected: int | None = None) -> None:
        def attempt() -> None:
            stored = self._at(tenant_id, subscription_id, expected)
            record = self._audit(tenant_id, subscription_id, Action.REMOVE, (stored.version, 0))
            self.store.delete(tenant_id, subscription_id, stored.version, [record])

        retry_on_conflict(attempt, f"webhook {subscription_id}", conflict=ConflictError, attempts=_ATTEMPTS)
        self.on_change(tenant_id)

    def deliveries(self, tenant_id: str, subscription_id: str) -> list[Delivery]:
        self.get(tenant_id, subscription_id)
        return self.store.log(tenant_id, subscription_id)

    def redeliver(self, tenant_id: str, subscription_id: str, delivery_id: str) -> Delivery:
        found = self.store.delivery(tenant_id, delivery_id)
        if found is None or found.subscription_id != subscription_id:
            raise NotFoundError("delivery", delivery_id)
        again = found.again(self.clock.now())
        result = self.store.redeliver(again, self.clock.now())
        if result == -1:
            raise NotFoundError("delivery", delivery_id)
        if result == -2:
            raise StillWaitingError(
                f"delivery {delivery_id} is still {found.status}; it is attempted on its schedule"
            )
        return again

    def _at(self, tenant_id: str, subscription_id: str, expected: int | None) -> StoredSubscription:
        """The subscription, which must be at `expected` when one is given (a change that lost a
        race reads again here, and a pinned one then fails rather than applying to a newer version)."""
        stored = self.get(tenant_id, subscription_id)
        if expected is not None and stored.version != expected:
            raise PreconditionFailedError(subscription_id, expected, stored.version)
        return stored

    def _save(self, sub: Subscription, version: int) -> None:
        record = self._audit(sub.tenant_id, sub.id, Action.PUT, (version, version + 1))
        try:
            self.store.save(sub, version, self.quota, self.clock.now(), [record])
        except QuotaFullError:
            raise QuotaReachedError("webhooks", self.quota, "HELPLINE_TENANT_MAX_WEBHOOKS") from None
        self.on_change(sub.tenant_id)

    def _audit(
        self, tenant_id: str, subscription_id: str, action: Action, versions: tuple[int, int]
    ) -> OutgoingRecord:
        change = configuration_changed(
            tenant_id, Kind.WEBHOOK, subscription_id, action, versions, self.clock.now(), current_actor()
        )
        return audit_record(change, SOURCE)
