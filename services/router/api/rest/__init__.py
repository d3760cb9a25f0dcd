"""The router's REST admin API under /v1: skills, calendars, queues, routing profiles and agents, each created
or replaced whole by a PUT to its id, read one by one or listed; one module and one APIRouter per
resource. API-key auth gives the tenant, and errors are problem+json.

Writes go through the catalog, which checks every reference, so REST and gRPC refuse alike. Its
refusals map to statuses (common.refusals): an invalid configuration (InvalidConfiguration) is 422
with its `rule`, a stale If-Match is 412, a write that kept losing races is 409. A PUT answers 201
when it created the resource (its version is 1) and 200 when it replaced it, with the version as
ETag.

The handlers are module-level functions taking the catalog and the caller through `Depends`; the
service's app builder provides them to the app once (`provide`) and includes `api`.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from helpline.auth import ApiKeyStore
from helpline.rest import API_KEYS
from services.router.api.rest import agents, calendars, profiles, queues, skills
from services.router.api.rest.common import CATALOG
from services.router.usecases.configuration import Catalog

api = APIRouter()
for resource in (skills, calendars, queues, profiles, agents):
    api.include_router(resource.router)


def provide(app: FastAPI, catalog: Catalog, keys: ApiKeyStore) -> None:
    """Give `app` what `api`'s handlers take: the router's catalog and the key store of its callers."""
    CATALOG.provide(app, catalog)
    API_KEYS.provide(app, keys)
