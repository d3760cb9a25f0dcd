"""/v1/sla/tickets/{ticket_id}: a ticket's SLA status, as gRPC GetTicketSlaStatus gives it."""

from __future__ import annotations

from helpline.rest import Caller, ProblemError, admits, problem_responses, resource_router
from helpline.roles import Access
from services.sla.api.rest.common import Now, Slas, TicketId, not_found
from services.sla.api.schemas import TicketSlaOut
from services.sla.domain import engine
from services.sla.domain.model import SlaError

router = resource_router(prefix="/v1/sla/tickets", tags=["sla tickets"])


@router.get(
    "/{ticket_id}",
    openapi_extra=admits(Access.READ),
    response_model=TicketSlaOut,
    responses={
        **problem_responses({404: "The SLA service has seen no ticket with this id for this tenant."}),
        **problem_responses(
            {409: "A metric counts business hours of a calendar that was deleted (`unknown_calendar`)."}
        ),
    },
)
def get_ticket_sla(ticket_id: TicketId, caller: Caller, slas: Slas, clock: Now) -> TicketSlaOut:
    """Every metric instance of the ticket: its state, deadlines and the target time left now."""
    sla = slas.get(caller.tenant_id, ticket_id)
    if sla is None:
        raise not_found("ticket", ticket_id)
    try:
        readings = engine.status(sla, clock.now(), slas.config.calendars(caller.tenant_id))
    except SlaError as exc:
        raise ProblemError(409, "Conflict", exc.message, rule=exc.rule, **exc.detail) from exc
    return TicketSlaOut.of(sla, readings)
