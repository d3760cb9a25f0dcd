"""schemathesis against the tickets API's own OpenAPI spec, on the real Redis: generated requests,
valid and invalid, must never get a 5xx, and every response must match the spec (status, content
type, headers, body schema).

The schema is loaded inside the test rather than through `schemathesis.pytest.from_fixture`,
which reads a pytest attribute that pytest 9 removed (`Function._nodeid`)."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Ok
from schemathesis.schemas import APIOperation

Operation = APIOperation[Any, Any, Any, Any]

EXAMPLES = 25
# A schema-valid request may still break a rule the schema cannot state (a cursor this API did
# not issue, escalating to a lower tier, reusing an Idempotency-Key, a closed ticket): those are
# the documented 400, 409 and 422 problems, not rejected valid data. Every other check runs as
# shipped.
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", 400, 404, 409, 412, 422]}}}
)


def test_the_api_keeps_its_spec(api: tuple[Any, dict[str, dict[str, str]], Any], unique: str) -> None:
    client, headers, runtime = api
    mine = headers[f"a{unique}"]
    schema = schemathesis.openapi.from_asgi("/openapi.json", runtime.app, config=CONFIG).include(
        path_regex="^/v1/"
    )
    operations = [_loaded(result) for result in schema.get_all_operations()]
    assert len(operations) == 13
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            # A ticket of the caller's, so valid requests reach the domain rather than a 404.
            ticket_id = client.post("/v1/tickets", json={"subject": "fuzzed"}, headers=mine).json()["id"]
            fixed = {"ticket_id": ticket_id} if "{ticket_id}" in operation.path else None
            strategy = operation.as_strategy(mode, path_parameters=fixed)

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
                case.call_and_validate(headers=mine)

            keeps_spec()


def _loaded(result: Ok[Operation] | Err[InvalidSchema]) -> Operation:
    """The operation the schema loaded; a schema that cannot be read fails the test, naming why."""
    assert isinstance(result, Ok), result.err()
    return result.ok()
