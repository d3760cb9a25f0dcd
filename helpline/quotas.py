"""Per-tenant quotas: how many of each kind of thing a tenant may keep (queues, agents, SLA policies,
API keys...), so that one tenant cannot grow the shared state, or the series each thing adds,
without end. Each quota is a setting of the service that keeps the things; one more than it is
refused with 429 problem+json (rule `quota_reached`). No Retry-After: waiting frees nothing, a
removal or a larger quota does."""

from __future__ import annotations


class QuotaReachedError(Exception):
    """The tenant keeps as many of a kind of thing as its quota lets it."""

    def __init__(self, kind: str, limit: int, setting: str) -> None:
        super().__init__(f"the tenant has {limit} {kind}, its quota; remove one, or raise {setting}")
        self.kind = kind
        self.limit = limit
        self.setting = setting
