"""schemathesis against the router admin API's own OpenAPI spec, on the real Redis: generated
requests, valid and invalid, must never get a 5xx, and every response must match the spec (status,
content type, headers, body schema).

The schema is loaded inside the test rather than through `schemathesis.pytest.from_fixture`,
which reads a pytest attribute that pytest 9 removed (`Function._nodeid`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Ok
from schemathesis.schemas import APIOperation

from services.router.composition import Router
from tests.integration.router.rest_app import Admin, admin

Operation = APIOperation[Any, Any, Any, Any]

EXAMPLES = 15
# A schema-valid request may still break a rule the schema cannot state (a skill, queue or profile
# the tenant does not have, unsorted overflow steps, a stale If-Match, an If-Match that is not an
# ETag): those are the documented 400, 404, 409, 412 and 422 problems, not rejected valid data.
# Every other check runs as shipped.
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", 400, 404, 409, 412, 422]}}}
)
# Path parameters that name what the setup created, so valid requests reach the catalog rather
# than a 404. Invalid requests get generated ones, so ids that break their pattern are tried too.
KNOWN = {
    "name": "billing",
    "queue_id": "chat",
    "profile_id": "desk",
    "agent_id": "ann",
    "calendar_id": "office",
}


@pytest.fixture
def api(router: Router, redis_client: redis.Redis, unique: str) -> Iterator[Admin]:
    with admin(router, redis_client, unique) as built:
        yield built


def test_the_api_keeps_its_spec(api: Admin) -> None:
    put = api.client.put
    put("/v1/skills/billing", json={}, headers=api.mine)
    office = {
        "time_zone": "UTC",
        "open_intervals": [{"weekday": "monday", "opens": "09:00", "closes": "17:00"}],
    }
    put("/v1/calendars/office", json=office, headers=api.mine)
    put("/v1/queues/chat", json={"name": "Chat", "channels": ["chat"]}, headers=api.mine)
    put("/v1/routing-profiles/desk", json={"queues": [{"queue_id": "chat"}]}, headers=api.mine)
    put("/v1/agents/ann", json={"routing_profile_id": "desk"}, headers=api.mine)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app, config=CONFIG).include(
        path_regex="^/v1/"
    )
    operations = [_loaded(result) for result in schema.get_all_operations()]
    assert len(operations) == 17
    for operation in operations:
        fixed = {name: value for name, value in KNOWN.items() if f"{{{name}}}" in operation.path}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            known = fixed if mode is GenerationMode.POSITIVE and fixed else None
            strategy = operation.as_strategy(mode, path_parameters=known)

            @given(case=strategy)
            # Fixed examples: schemathesis 4.32 may mutate a query parameter into an object whose
            # serialised form is valid and report its acceptance (schemathesis issue 4600).
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def keeps_spec(case: Case[Operation]) -> None:
                case.call_and_validate(headers=api.mine)

            keeps_spec()


def _loaded(result: Ok[Operation] | Err[InvalidSchema]) -> Operation:
    """The operation the schema loaded; a schema that cannot be read fails the test, naming why."""
    assert isinstance(result, Ok), result.err()
    return result.ok()
