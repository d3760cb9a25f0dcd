"""Why a KPI or staffing calculation refused its inputs.

`rule` is a short identifier that stays stable across releases, so API clients and tests can
branch on it; `message` is for people.
"""

from __future__ import annotations

from helpline.domain import DomainError

__all__ = ["DomainError", "KpiError"]


class KpiError(DomainError):
    """Inputs no figure can come from: a negative count, a part larger than its whole, a survey
    score off its scale, a staffing target that cannot be met or means nothing."""
