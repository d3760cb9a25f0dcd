"""A tenant's survey settings and what they decide when a ticket is solved (DOMAIN.md: at most one
survey per requester per configurable number of days).

`kinds` are the questions a solve asks (any of CSAT, NPS, CES, each once, in the order given); none
means the tenant sends no surveys. `throttle_days` is the least number of days between two surveys
of one requester; 0 means no throttle. The default is what the service did before the settings
existed, CSAT and NPS on every solve, so a tenant that never configures them sees no change.

The throttle counts per requester. A ticket without a requester is surveyed only while the tenant
sets no throttle: the survey then reaches the customer through the ticket's latest contact, but
nobody can tell whether that anonymous customer was asked within the last N days, and a tenant
that set a throttle promised its customers not to be asked more often than that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from helpline.v1 import common_pb2
from services.tickets.domain.errors import InvalidCommand
from services.tickets.domain.model import SurveyKind

# A year: past it a throttle is "never again", which an empty `kinds` says plainly.
MAX_THROTTLE_DAYS = 365

KIND_TO_PROTO: Mapping[SurveyKind, common_pb2.SurveyKind.ValueType] = {
    SurveyKind.CSAT: common_pb2.SURVEY_KIND_CSAT,
    SurveyKind.NPS: common_pb2.SURVEY_KIND_NPS,
    SurveyKind.CES: common_pb2.SURVEY_KIND_CES,
}


@dataclass(frozen=True)
class SurveySettings:
    kinds: tuple[SurveyKind, ...] = (SurveyKind.CSAT, SurveyKind.NPS)
    throttle_days: int = 0

    def __post_init__(self) -> None:
        if len(set(self.kinds)) != len(self.kinds):
            raise InvalidCommand("duplicate_survey_kind", f"survey kinds {list(self.kinds)} repeat a kind")
        if not 0 <= self.throttle_days <= MAX_THROTTLE_DAYS:
            raise InvalidCommand(
                "invalid_survey_throttle",
                f"the survey throttle is 0 to {MAX_THROTTLE_DAYS} days, not {self.throttle_days}",
            )

    @property
    def throttle(self) -> timedelta:
        return timedelta(days=self.throttle_days)

    def to_json(self) -> dict[str, Any]:
        return {"kinds": [kind.value for kind in self.kinds], "throttle_days": self.throttle_days}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SurveySettings:
        return cls(tuple(SurveyKind(kind) for kind in data["kinds"]), int(data["throttle_days"]))


DEFAULT_SETTINGS = SurveySettings()


@dataclass(frozen=True)
class SurveyMark:
    """The requester was asked: nobody asks them again for `ttl`. Set atomically with the solve
    that asks, and refused (the solve decided again) when another solve set it first."""

    requester_id: str
    ttl: timedelta


@dataclass(frozen=True)
class SurveyAsk:
    """What a solve needs to decide its survey: the id a request would carry, the tenant's
    settings, and whether the ticket's requester was marked as asked when the ticket was read."""

    survey_id: str
    settings: SurveySettings = DEFAULT_SETTINGS
    requester_marked: bool = False


@dataclass(frozen=True)
class SurveyDecision:
    kinds: tuple[SurveyKind, ...]
    # None when no throttle applies: nothing to remember.
    mark: SurveyMark | None


def decide_survey(ask: SurveyAsk, requester_id: str) -> SurveyDecision | None:
    """The survey a solve sends to `requester_id`, or None when it sends none (see the module)."""
    settings = ask.settings
    if not settings.kinds:
        return None
    if not settings.throttle_days:
        return SurveyDecision(settings.kinds, None)
    if not requester_id or ask.requester_marked:
        return None
    return SurveyDecision(settings.kinds, SurveyMark(requester_id, settings.throttle))
