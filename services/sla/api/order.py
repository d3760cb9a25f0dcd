"""The order the SLA API lists policies and calendars in, for its pages (helpline.paging)."""

from __future__ import annotations

from helpline.business_hours import Calendar
from helpline.paging import SortKey
from services.sla.domain.policy import Policy


def policy_order(policy: Policy) -> SortKey:
    """Evaluation order, as SlaConfig.policies gives it."""
    return policy.position, policy.policy_id


def calendar_order(calendar: Calendar) -> SortKey:
    return 0, calendar.calendar_id
