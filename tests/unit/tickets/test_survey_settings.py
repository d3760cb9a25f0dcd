"""A tenant's survey settings and the survey a solve sends by them: the kinds asked, the throttle
per requester, and the requester-less ticket."""

from __future__ import annotations

from datetime import timedelta

import pytest

from helpline.v1 import common_pb2, ticket_events_pb2
from services.tickets.domain import commands
from services.tickets.domain.commands import Outcome
from services.tickets.domain.errors import InvalidCommand
from services.tickets.domain.model import Status, SurveyKind
from services.tickets.domain.survey_settings import (
    DEFAULT_SETTINGS,
    MAX_THROTTLE_DAYS,
    SurveyAsk,
    SurveyDecision,
    SurveyMark,
    SurveySettings,
    decide_survey,
)
from tests.unit.tickets.support import AGENT, later, ticket_in, types

CES_WEEKLY = SurveySettings((SurveyKind.CES,), 7)


def solve(settings: SurveySettings, *, marked: bool = False, requester_id: str = "cust-1") -> Outcome:
    ticket = ticket_in(Status.OPEN, requester_id=requester_id)
    ask = SurveyAsk("s-1", settings, marked)
    return commands.transition(ticket, Status.SOLVED, AGENT, later(30), survey=ask)


def test_the_default_is_csat_and_nps_without_a_throttle() -> None:
    assert SurveySettings((SurveyKind.CSAT, SurveyKind.NPS), 0) == DEFAULT_SETTINGS
    assert decide_survey(SurveyAsk("s"), "cust-1") == SurveyDecision((SurveyKind.CSAT, SurveyKind.NPS), None)


def test_a_solve_asks_the_tenants_kinds_and_marks_the_requester_for_the_throttle() -> None:
    outcome = solve(CES_WEEKLY)
    assert types(outcome.events) == ["TicketStatusChanged", "TicketSolved", "TicketSurveyRequested"]
    survey = outcome.events[-1]
    assert isinstance(survey, ticket_events_pb2.TicketSurveyRequested)
    assert list(survey.kinds) == [common_pb2.SURVEY_KIND_CES]
    assert (survey.survey_id, survey.requester_id) == ("s-1", "cust-1")
    assert outcome.survey_mark == SurveyMark("cust-1", timedelta(days=7))


def test_a_requester_marked_within_the_throttle_is_not_asked() -> None:
    outcome = solve(CES_WEEKLY, marked=True)
    assert types(outcome.events) == ["TicketStatusChanged", "TicketSolved"]
    assert outcome.survey_mark is None
    assert outcome.ticket.status is Status.SOLVED


def test_no_kinds_no_survey() -> None:
    outcome = solve(SurveySettings((), 30))
    assert types(outcome.events) == ["TicketStatusChanged", "TicketSolved"]
    assert outcome.survey_mark is None


def test_without_a_throttle_nothing_is_marked_and_a_mark_is_ignored() -> None:
    outcome = solve(SurveySettings((SurveyKind.NPS,), 0), marked=True)
    assert types(outcome.events)[-1] == "TicketSurveyRequested"
    assert outcome.survey_mark is None


def test_a_ticket_without_a_requester_is_surveyed_only_without_a_throttle() -> None:
    assert types(solve(DEFAULT_SETTINGS, requester_id="").events)[-1] == "TicketSurveyRequested"
    throttled = solve(CES_WEEKLY, requester_id="")
    assert types(throttled.events) == ["TicketStatusChanged", "TicketSolved"]
    assert throttled.survey_mark is None


def test_only_a_solve_asks() -> None:
    outcome = commands.transition(
        ticket_in(Status.OPEN), Status.PENDING, AGENT, later(30), survey=SurveyAsk("s-1", CES_WEEKLY)
    )
    assert types(outcome.events) == ["TicketStatusChanged"]
    assert outcome.survey_mark is None


@pytest.mark.parametrize("days", [-1, MAX_THROTTLE_DAYS + 1])
def test_the_throttle_is_bounded(days: int) -> None:
    with pytest.raises(InvalidCommand) as refused:
        SurveySettings((SurveyKind.CSAT,), days)
    assert refused.value.rule == "invalid_survey_throttle"


def test_a_kind_is_asked_once() -> None:
    with pytest.raises(InvalidCommand) as refused:
        SurveySettings((SurveyKind.CSAT, SurveyKind.CSAT), 0)
    assert refused.value.rule == "duplicate_survey_kind"


def test_settings_round_trip_through_json() -> None:
    for settings in (DEFAULT_SETTINGS, CES_WEEKLY, SurveySettings((), MAX_THROTTLE_DAYS)):
        assert SurveySettings.from_json(settings.to_json()) == settings
