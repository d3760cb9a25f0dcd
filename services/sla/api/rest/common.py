"""What the SLA API's resources share: what their handlers are provided with, the id parameters,
the refusals mapped to statuses, and the answer to a PUT."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Path, Response

from helpline.clock import Clock
from helpline.domain import DomainError
from helpline.rest import ProblemError, Provided, problem_responses
from services.sla.api.schemas import ID_PATTERN, TICKET_ID_PATTERN
from services.sla.config import SlaConfig
from services.sla.ticket_slas import TicketSlas

# What the service's app builder provides (services.sla.api.rest): the tickets' SLAs, with the
# tenants' policies and calendars, and the clock their status is read at.
TICKET_SLAS: Provided[TicketSlas] = Provided("ticket_slas")
CLOCK: Provided[Clock] = Provided("sla_clock")
Slas = Annotated[TicketSlas, Depends(TICKET_SLAS.get)]
Now = Annotated[Clock, Depends(CLOCK.get)]


def configuration(slas: Slas) -> SlaConfig:
    return slas.config


Configuration = Annotated[SlaConfig, Depends(configuration)]

ResourceId = Annotated[str, Path(pattern=ID_PATTERN)]
TicketId = Annotated[str, Path(pattern=TICKET_ID_PATTERN)]

MISSING = problem_responses({404: "Nothing with this id for this tenant."})
INVALID = {
    422: "The request is invalid: `errors` list the fields, or `rule` names the refusal (e.g. "
    "`overlapping_intervals`, `unknown_time_zone`, `duplicate_target`, `unknown_calendar`) and "
    "`location` the field."
}


def put(model: type[Any], what: str) -> dict[int | str, dict[str, Any]]:
    """A PUT's documented answers: 201 with the resource when it created it, and the refusals."""
    return {
        201: {"model": model, "description": f"The {what} was created."},
        **problem_responses(INVALID),
    }


@contextmanager
def refusals() -> Iterator[None]:
    """The domain's refusals of a policy or calendar as 422 problems."""
    try:
        yield
    except DomainError as exc:
        raise ProblemError(422, "Invalid request", exc.message, rule=exc.rule, **exc.detail) from exc


def not_found(kind: str, item_id: str) -> ProblemError:
    return ProblemError(404, "Not Found", f"no {kind} {item_id}", kind=kind, id=item_id)


def created(response: Response, existed: bool, location: str) -> None:
    if not existed:
        response.status_code = 201
        response.headers["Location"] = location
