"""The SLA service's REST API under /v1/sla: policies and calendars, each created or replaced whole
by a PUT to its id, read, listed a page at a time and deleted; and a ticket's SLA status, as gRPC
GetTicketSlaStatus gives it; one module and one APIRouter per resource. API-key auth gives the
tenant, and errors are problem+json.

Refusals map to statuses: a policy or calendar the domain refuses is 422 with its `rule`, the facts
of the refusal and the body field at fault (`location`); so is a policy naming a calendar the
tenant does not have (`unknown_calendar`). Deleting a calendar a policy names is 409
(`calendar_in_use`). A PUT answers 201 when it created the resource and 200 when it replaced it.

A policy's calendar is checked and a calendar's users are looked up just before the write, not in
one transaction with it, so a policy saved at the same moment its calendar is deleted can name a
missing calendar; the engine then refuses that policy's business targets (`unknown_calendar`)
until the calendar is created again.

The handlers are module-level functions taking the tickets' SLAs, the clock and the caller through
`Depends`; the service's app builder provides them to the app once (`provide`) and includes `api`.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from helpline.auth import ApiKeyStore
from helpline.clock import Clock
from helpline.rest import API_KEYS
from services.sla.api.rest import calendars, policies, tickets
from services.sla.api.rest.common import CLOCK, TICKET_SLAS
from services.sla.ticket_slas import TicketSlas

api = APIRouter()
for resource in (policies, calendars, tickets):
    api.include_router(resource.router)


def provide(app: FastAPI, slas: TicketSlas, keys: ApiKeyStore, clock: Clock) -> None:
    """Give `app` what `api`'s handlers take: the tickets' SLAs (and through them the tenants'
    policies and calendars), the key store of its callers and the clock."""
    TICKET_SLAS.provide(app, slas)
    API_KEYS.provide(app, keys)
    CLOCK.provide(app, clock)
