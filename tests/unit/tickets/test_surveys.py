"""Survey answers on a ticket: attached once per survey and kind, a later answer replacing an
earlier one, on a closed ticket too, and checked against each kind's scale."""

from __future__ import annotations

from datetime import datetime

import pytest

from helpline.v1 import common_pb2, ticket_events_pb2
from services.tickets.domain.errors import InvalidCommand
from services.tickets.domain.model import Status, SurveyAnswer, SurveyKind, Ticket
from services.tickets.domain.surveys import attach_survey, new_answer, survey_kind_from_proto
from tests.unit.tickets.support import CUSTOMER, later, ticket_in, types


def csat(score: int = 5, at: datetime | None = None, survey_id: str = "s-1") -> SurveyAnswer:
    return new_answer(survey_id, SurveyKind.CSAT, score, at or later(60), agent_id="agent-1", comment="great")


def test_an_answer_is_attached_with_a_ticket_updated_event() -> None:
    ticket = ticket_in(Status.SOLVED)
    outcome = attach_survey(ticket, csat(), CUSTOMER, later(61))
    assert outcome.ticket.surveys == (csat(),)
    assert outcome.ticket.version == ticket.version + 1
    assert outcome.ticket.status is Status.SOLVED
    assert types(outcome.events) == ["TicketUpdated"]
    (updated,) = outcome.events
    assert isinstance(updated, ticket_events_pb2.TicketUpdated)
    assert list(updated.changed_fields) == ["surveys"]
    assert updated.ticket.version == outcome.ticket.version
    assert updated.updated_by.type == common_pb2.AUTHOR_TYPE_CUSTOMER


def test_the_same_answer_again_changes_nothing() -> None:
    once = attach_survey(ticket_in(Status.SOLVED), csat(), CUSTOMER, later(61)).ticket
    again = attach_survey(once, csat(), CUSTOMER, later(62))
    assert again.ticket is once
    assert again.events == ()


def test_answers_are_kept_per_survey_and_kind() -> None:
    ticket = attach_survey(ticket_in(Status.SOLVED), csat(), CUSTOMER, later(61)).ticket
    nps = new_answer("s-1", SurveyKind.NPS, 9, later(60))
    next_survey = csat(2, survey_id="s-2")
    for answer in (nps, next_survey):
        ticket = attach_survey(ticket, answer, CUSTOMER, later(63)).ticket
    assert ticket.surveys == (csat(), nps, next_survey)


def test_a_later_answer_replaces_the_earlier_one_and_an_older_one_is_ignored() -> None:
    ticket = attach_survey(ticket_in(Status.SOLVED), csat(5, later(60)), CUSTOMER, later(61)).ticket
    changed_mind = attach_survey(ticket, csat(2, later(70)), CUSTOMER, later(71)).ticket
    assert [a.score for a in changed_mind.surveys] == [2]
    stale = attach_survey(changed_mind, csat(4, later(65)), CUSTOMER, later(72))
    assert stale.ticket is changed_mind


def test_a_closed_ticket_takes_an_answer_and_nothing_else_of_it_changes() -> None:
    closed = ticket_in(Status.CLOSED)
    after = attach_survey(closed, csat(), CUSTOMER, later(61)).ticket
    assert after.surveys == (csat(),)
    assert after.status is Status.CLOSED
    assert (after.closed_at, after.solved_at, after.comment_count) == (
        closed.closed_at,
        closed.solved_at,
        closed.comment_count,
    )


@pytest.mark.parametrize(
    ("kind", "score", "scale_max", "rule"),
    [
        (SurveyKind.CSAT, 0, 5, "invalid_survey_score"),
        (SurveyKind.CSAT, 6, 0, "invalid_survey_score"),
        (SurveyKind.CSAT, 4, 10, "invalid_survey_scale"),
        (SurveyKind.NPS, 11, 10, "invalid_survey_score"),
        (SurveyKind.NPS, -1, 10, "invalid_survey_score"),
        (SurveyKind.CES, 6, 5, "invalid_survey_score"),
        (SurveyKind.CES, 3, 6, "invalid_survey_scale"),
    ],
)
def test_scores_outside_the_kinds_scale_are_refused(
    kind: SurveyKind, score: int, scale_max: int, rule: str
) -> None:
    with pytest.raises(InvalidCommand) as refused:
        new_answer("s-1", kind, score, later(60), scale_max=scale_max)
    assert refused.value.rule == rule


def test_scales_default_to_each_kinds_usual_one() -> None:
    assert new_answer("s", SurveyKind.CSAT, 1, later(1)).scale_max == 5
    assert new_answer("s", SurveyKind.NPS, 0, later(1)).scale_max == 10
    assert new_answer("s", SurveyKind.CES, 7, later(1)).scale_max == 7
    assert new_answer("s", SurveyKind.CES, 5, later(1), scale_max=5).scale_max == 5


def test_an_answer_needs_a_survey_id() -> None:
    with pytest.raises(InvalidCommand) as refused:
        new_answer("", SurveyKind.CSAT, 5, later(1))
    assert refused.value.rule == "survey_id_required"


def test_survey_kinds_from_the_contract() -> None:
    assert survey_kind_from_proto(common_pb2.SURVEY_KIND_CES) is SurveyKind.CES
    with pytest.raises(InvalidCommand):
        survey_kind_from_proto(common_pb2.SURVEY_KIND_UNSPECIFIED)


def test_answers_survive_the_storage_form() -> None:
    ticket = attach_survey(ticket_in(Status.SOLVED), csat(), CUSTOMER, later(61)).ticket
    assert Ticket.from_json(ticket.to_json()) == ticket
    without = ticket.to_json()
    del without["surveys"]
    assert Ticket.from_json(without).surveys == ()  # tickets stored before surveys existed
