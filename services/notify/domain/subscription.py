"""A tenant's webhook subscription: where its events go, which of them, signed with which secret.

Event-type filters are exact types (`helpline.ticket.created.v1`) or a prefix ending in `*`
(`helpline.ticket.*`, or `*` for every type); a subscription takes an event if any filter matches.
An empty filter list is refused: a subscription is an explicit choice of events.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from helpline.domain import DomainError
from services.notify.domain.signing import secret_key
from services.notify.domain.targets import check_url

MAX_FILTERS = 32
MAX_FILTER_CHARS = 128
MAX_DESCRIPTION_CHARS = 1_000
# An event type (`helpline.ticket.created.v1`) or a prefix of one followed by `*`.
_FILTER_RE = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z0-9_]+)*(\.\*|\.v[0-9]+)?)$")


class SubscriptionError(DomainError):
    """A subscription refused as written."""


def check_filters(filters: Sequence[str]) -> tuple[str, ...]:
    """The filters, deduplicated in their order; SubscriptionError unless 1 to MAX_FILTERS of them,
    each a type or a prefix ending in `.*` (or `*` alone)."""
    if not filters:
        raise SubscriptionError(
            "no_event_types", "name at least one event type or prefix (e.g. helpline.ticket.*)"
        )
    if len(filters) > MAX_FILTERS:
        raise SubscriptionError(
            "too_many_event_types", f"{len(filters)} event-type filters; at most {MAX_FILTERS}"
        )
    for item in filters:
        if len(item) > MAX_FILTER_CHARS or not _FILTER_RE.fullmatch(item):
            raise SubscriptionError(
                "invalid_event_type",
                f"{item[:MAX_FILTER_CHARS]!r} is neither an event type (helpline.ticket.created.v1) nor a "
                "prefix ending in .* (helpline.ticket.*)",
            )
    return tuple(dict.fromkeys(filters))


def matches(filters: Sequence[str], event_type: str) -> bool:
    for item in filters:
        if item == "*" or item == event_type:
            return True
        if item.endswith(".*") and event_type.startswith(item[:-1]):
            return True
    return False


@dataclass(frozen=True)
class Subscription:
    id: str
    tenant_id: str
    url: str
    event_types: tuple[str, ...]
    secret: str
    description: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    # Why it was disabled, when the service disabled it (failing for a day); empty otherwise.
    disabled_reason: str = ""

    def takes(self, event_type: str) -> bool:
        return self.enabled and matches(self.event_types, event_type)


def new_subscription(
    subscription_id: str,
    tenant_id: str,
    url: str,
    event_types: Sequence[str],
    secret: str,
    description: str,
    enabled: bool,
    now: datetime,
    *,
    allow_private: bool,
) -> Subscription:
    check_url(url, allow_private=allow_private)
    secret_key(secret)
    return Subscription(
        id=subscription_id,
        tenant_id=tenant_id,
        url=url,
        event_types=check_filters(event_types),
        secret=secret,
        description=_description(description),
        enabled=enabled,
        created_at=now,
        updated_at=now,
    )


def changed(
    subscription: Subscription,
    now: datetime,
    *,
    allow_private: bool,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> Subscription:
    """The subscription with the given fields changed; an enabled one has no disabled reason."""
    if url is not None:
        check_url(url, allow_private=allow_private)
    now_enabled = subscription.enabled if enabled is None else enabled
    return replace(
        subscription,
        url=subscription.url if url is None else url,
        event_types=subscription.event_types if event_types is None else check_filters(event_types),
        description=subscription.description if description is None else _description(description),
        enabled=now_enabled,
        disabled_reason="" if now_enabled else subscription.disabled_reason,
        updated_at=now,
    )


def _description(text: str) -> str:
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise SubscriptionError(
            "description_too_long",
            f"the description is {len(text):,} characters; at most {MAX_DESCRIPTION_CHARS:,}",
        )
    return text
