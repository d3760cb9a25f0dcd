"""What the router's REST resources share: what their handlers are provided with, the path and
header parameters, the refusals mapped to statuses, and the answers to a PUT and a listing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Response

from helpline.business_hours import CalendarError
from helpline.domain import NotFoundError
from helpline.optimistic import ContendedError
from helpline.paging import by_id, paged
from helpline.rest import ProblemError, Provided, etag, problem_responses
from services.router.api.schemas import ID_PATTERN, SKILL_PATTERN
from services.router.domain.errors import InvalidConfiguration
from services.router.usecases.configuration import Catalog

# The router's configuration, which the service's app builder provides (services.router.api.rest).
CATALOG: Provided[Catalog] = Provided("router_catalog")
Configuration = Annotated[Catalog, Depends(CATALOG.get)]

IF_MATCH_DOC = (
    'The ETag the caller last saw (e.g. `"3"`); a stale one is a 412, and so is any on a queue that '
    "does not exist yet. Without it, a PUT replaces, and a DELETE removes, whatever is there."
)
IfMatch = Annotated[str | None, Header(max_length=64, description=IF_MATCH_DOC)]
ResourceId = Annotated[str, Path(pattern=ID_PATTERN)]
SkillPath = Annotated[str, Path(pattern=SKILL_PATTERN)]
# The catalog's rule for a stale expected version.
STALE_RULE = "version_mismatch"

MISSING = problem_responses({404: "Nothing with this id for this tenant."})
WRITTEN = problem_responses(
    {
        409: "The write kept losing races with other writes (`contended`); try again.",
        422: "The request is invalid: `errors` list the fields, or `rule` names the refusal "
        "(e.g. `unknown_skill`, `unknown_queue`, `impossible_capacity`).",
    }
)


def put(model: type[Any], what: str) -> dict[int | str, dict[str, Any]]:
    """A PUT's documented answers: 201 with the resource when it created it, and the refusals."""
    return {201: {"model": model, "description": f"The {what} was created."}, **WRITTEN}


@contextmanager
def refusals() -> Iterator[None]:
    """Turn the catalog's and the domain's refusals into problem responses."""
    try:
        yield
    except NotFoundError as exc:
        raise ProblemError(404, "Not Found", str(exc), kind=exc.kind, id=exc.identifier) from exc
    except CalendarError as exc:
        raise ProblemError(422, "Invalid request", exc.message, rule=exc.rule, **exc.detail) from exc
    except InvalidConfiguration as exc:
        code, title = (412, "Precondition Failed") if exc.rule == STALE_RULE else (422, "Invalid request")
        raise ProblemError(code, title, exc.message, rule=exc.rule, **exc.detail) from exc
    except ContendedError as exc:
        raise ProblemError(409, "Conflict", str(exc), rule="contended") from exc


def listing(
    catalog: Catalog, tenant: str, kind: str, limit: int, cursor: str
) -> tuple[list[Any], str | None]:
    """A page of the tenant's configuration of a kind (skills, queues, profiles, agents), by id: the
    records, read for that page only, and the cursor of the next page (None on the last)."""
    found = paged(catalog.ids(tenant, kind), by_id, limit, cursor)
    load: Callable[[str, list[str]], list[Any]] = getattr(catalog, kind)
    return load(tenant, found.items), found.next_cursor or None


def saved(response: Response, version: int, location: str) -> None:
    """A PUT's answer: 201 and where it lives when it created the resource, the ETag always."""
    response.headers["ETag"] = etag(version)
    if version == 1:
        response.status_code = 201
        response.headers["Location"] = location
