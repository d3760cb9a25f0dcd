"""The tickets REST API under /v1/tickets (and the tenant's survey settings under /v1/settings):
FastAPI, API-key auth, problem+json errors, ETag/If-Match; one module and one APIRouter per
resource: the tickets, the changes of their workflow, their comments, the survey settings.

Every write goes through the use cases with a pure domain command, so REST, gRPC and the event
consumers decide alike. The domain's refusals map to statuses (common.refusals): the ticket's state
forbids it (TransitionRefused, LimitReached) is 409, a request that cannot apply (InvalidCommand)
is 422, a stale If-Match is 412; each body carries the refusing `rule`.

The handlers are module-level functions taking the use cases and the caller through `Depends`; the
service's app builder provides them to the app once (`provide`) and includes `api`.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from helpline.auth import ApiKeyStore
from helpline.rest import API_KEYS
from services.tickets.api.rest import changes, comments, settings, tickets
from services.tickets.api.rest.common import TICKETS
from services.tickets.usecases import Tickets

api = APIRouter()
for resource in (tickets, changes, comments, settings):
    api.include_router(resource.router)


def provide(app: FastAPI, use_cases: Tickets, keys: ApiKeyStore) -> None:
    """Give `app` what `api`'s handlers take: the tickets' use cases and the key store of its callers."""
    TICKETS.provide(app, use_cases)
    API_KEYS.provide(app, keys)
