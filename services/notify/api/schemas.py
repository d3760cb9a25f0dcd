"""The REST API's request and response bodies (and so its OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from services.notify.domain.delivery import Delivery, Status
from services.notify.domain.subscription import MAX_DESCRIPTION_CHARS, MAX_FILTER_CHARS, MAX_FILTERS
from services.notify.domain.targets import MAX_URL_CHARS
from services.notify.store import StoredSubscription

Url = Annotated[
    str, Field(min_length=1, max_length=MAX_URL_CHARS, description="http or https, no credentials.")
]
EventTypes = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=MAX_FILTER_CHARS)]],
    Field(
        min_length=1,
        max_length=MAX_FILTERS,
        description="Event types (`helpline.ticket.created.v1`) or prefixes ending in `.*` "
        "(`helpline.ticket.*`), or `*` for every type.",
    ),
]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)]
Secret = Annotated[
    str, Field(max_length=100, description="`whsec_` and 24 to 64 bytes in base64; generated when left out.")
]


# JSON's true or false only: pydantic's lax mode would take 1, "yes" or "off" for a boolean.
Flag = Annotated[bool, Strict()]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookCreate(_In):
    url: Url
    event_types: EventTypes
    secret: Secret | None = None
    description: Description = ""
    enabled: Flag = True


class WebhookPatch(_In):
    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: Flag | None = None


class WebhookOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    disabled_reason: str = Field(description="Why the service disabled it (failing for the disable window).")
    failing_since: datetime | None = Field(description="The first failed attempt since the last success.")
    last_error: str
    pending: int = Field(description="Deliveries waiting.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, stored: StoredSubscription) -> WebhookOut:
        sub = stored.subscription
        return cls(
            id=sub.id,
            url=sub.url,
            event_types=list(sub.event_types),
            description=sub.description,
            enabled=sub.enabled,
            disabled_reason=sub.disabled_reason,
            failing_since=stored.failing_since,
            last_error=stored.last_error,
            pending=stored.pending,
            created_at=sub.created_at,
            updated_at=sub.updated_at,
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret: shown here once, never again.")


class WebhookPage(BaseModel):
    items: list[WebhookOut]
    next_cursor: str | None


class DeliveryOut(BaseModel):
    id: str = Field(description="The `webhook-id` header the target receives.")
    event_id: str
    event_type: str
    status: Status
    attempts: int
    last_status_code: int
    last_error: str
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            id=d.id,
            event_id=d.event_id,
            event_type=d.event_type,
            status=d.status,
            attempts=d.attempts,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            next_attempt_at=d.next_attempt_at,
            last_attempt_at=d.last_attempt_at,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
        )


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None
