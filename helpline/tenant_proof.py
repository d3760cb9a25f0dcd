"""The check a consumer makes of each event another system wrote (the contact ingress, the feedback
topic: helpline.topics.VALIDATED_TOPICS) before it acts on it: the event proves its tenant with a
signature by one of that tenant's ingress secrets (helpline.ingress_signing). An event that does not
is dead-lettered with the reason, and counted."""

from __future__ import annotations

import re
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from helpline.events import Envelope, EventError
from helpline.ingress_secrets import SecretCache
from helpline.ingress_signing import UnprovenError, check, claim
from helpline.limits import TENANT_PATTERN

_TENANT_RE = re.compile(TENANT_PATTERN)


class UnprovenEventError(EventError):
    """An event that does not prove its tenant; dead-lettered with `reason` (ingress_signing.REASONS)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class TenantProof:
    """Called with each consumed record of a validated topic and its decoded envelope; raises
    UnprovenEventError for one that does not prove the tenant its message names."""

    def __init__(self, secrets: SecretCache, registry: CollectorRegistry) -> None:
        self._secrets = secrets
        self.refused = Counter(
            "helpline_ingress_unproven_total",
            "Events from other systems dead-lettered for not proving their tenant, by reason.",
            ["topic", "reason"],
            registry=registry,
        )

    def __call__(self, record: Any, envelope: Envelope) -> None:
        try:
            found = claim(record.headers or ())
            # Any other text could not be a tenant, and must not reach Redis as part of a key.
            known = _TENANT_RE.fullmatch(found.tenant) is not None
            check(
                found,
                self._secrets.secret(found.tenant, found.key_id) if known else None,
                topic=record.topic,
                body_tenant=envelope.tenant_id,
                event_id=envelope.id,
                event_type=envelope.type,
                value=record.value or b"",
            )
        except UnprovenError as exc:
            self.refused.labels(record.topic, exc.reason).inc()
            raise UnprovenEventError(f"{envelope.type} {envelope.id}: not proven: {exc}", exc.reason) from exc
