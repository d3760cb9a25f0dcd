"""Survey answers on a ticket: the CSAT, NPS or CES score a customer gave after a solve.

A survey is requested when the ticket is solved (`commands.transition(..., survey_id=...)`), and
the answer often comes after the ticket closed (DOMAIN.md: closed after 4 days solved). So
attaching an answer is the one change a closed ticket accepts besides the follow-up a customer
reply creates: the answer is feedback on work already done and changes none of it (status,
fields, assignment, comments), which is what closing protects. Keeping it on the ticket, rather
than in a store of its own, lets one read show a ticket with its feedback.

Answers are keyed by survey id and kind: the same answer again changes nothing (redelivery), a
later answer replaces the earlier one (a customer may change their rating, as Zendesk allows),
and an older one is ignored (out of order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from helpline.v1 import common_pb2
from services.tickets.domain.commands.outcome import Outcome, updated_event
from services.tickets.domain.errors import InvalidCommand
from services.tickets.domain.model import Actor, SurveyAnswer, SurveyKind, Ticket

COMMENT_MAX = 4096


@dataclass(frozen=True)
class Scale:
    lowest: int
    tops: tuple[int, ...]

    @property
    def default_top(self) -> int:
        return self.tops[-1]


# DOMAIN.md, KPIs: CSAT 1-5, NPS 0-10, CES on 5 or 7 points (7 when the survey does not say).
SCALES: Mapping[SurveyKind, Scale] = {
    SurveyKind.CSAT: Scale(1, (5,)),
    SurveyKind.NPS: Scale(0, (10,)),
    SurveyKind.CES: Scale(1, (5, 7)),
}

_KIND_FROM_PROTO: Mapping[int, SurveyKind] = {
    common_pb2.SURVEY_KIND_CSAT: SurveyKind.CSAT,
    common_pb2.SURVEY_KIND_NPS: SurveyKind.NPS,
    common_pb2.SURVEY_KIND_CES: SurveyKind.CES,
}


def survey_kind_from_proto(value: int) -> SurveyKind:
    try:
        return _KIND_FROM_PROTO[value]
    except KeyError:
        raise InvalidCommand(
            "invalid_survey_kind", f"SurveyKind value {value} is not CSAT, NPS or CES", enum="SurveyKind"
        ) from None


def new_answer(
    survey_id: str,
    kind: SurveyKind,
    score: int,
    answered_at: datetime,
    *,
    scale_max: int = 0,
    comment: str = "",
    agent_id: str = "",
    contact_id: str = "",
) -> SurveyAnswer:
    """A checked answer; `scale_max` 0 means the kind's usual scale."""
    answer = SurveyAnswer(
        survey_id=survey_id,
        kind=kind,
        score=score,
        scale_max=scale_max or SCALES[kind].default_top,
        answered_at=answered_at,
        comment=comment,
        agent_id=agent_id,
        contact_id=contact_id,
    )
    check_answer(answer)
    return answer


def check_answer(answer: SurveyAnswer) -> None:
    if not answer.survey_id:
        raise InvalidCommand("survey_id_required", "survey_id is required")
    scale = SCALES[answer.kind]
    if answer.scale_max not in scale.tops:
        raise InvalidCommand(
            "invalid_survey_scale",
            f"a {answer.kind.value} answer is on a scale up to {' or '.join(map(str, scale.tops))}, "
            f"not {answer.scale_max}",
            kind=answer.kind.value,
        )
    if not scale.lowest <= answer.score <= answer.scale_max:
        raise InvalidCommand(
            "invalid_survey_score",
            f"a {answer.kind.value} score is {scale.lowest}-{answer.scale_max}, not {answer.score}",
            kind=answer.kind.value,
        )
    if len(answer.comment) > COMMENT_MAX:
        raise InvalidCommand(
            "survey_comment_too_long",
            f"the survey comment has {len(answer.comment)} characters; at most {COMMENT_MAX} are allowed",
        )


def attach_survey(ticket: Ticket, answer: SurveyAnswer, actor: Actor, now: datetime) -> Outcome:
    """Record `answer` on the ticket, whatever its status (closed included, see above). Emits
    TicketUpdated with `surveys` as the changed field."""
    check_answer(answer)
    key = (answer.survey_id, answer.kind)
    at = next((i for i, held in enumerate(ticket.surveys) if (held.survey_id, held.kind) == key), None)
    if at is None:
        surveys = (*ticket.surveys, answer)
    elif answer.answered_at <= ticket.surveys[at].answered_at:
        return Outcome(ticket)
    else:
        surveys = (*ticket.surveys[:at], answer, *ticket.surveys[at + 1 :])
    after = ticket.evolve(now, surveys=surveys)
    return Outcome(after, (updated_event(after, ["surveys"], actor),))
