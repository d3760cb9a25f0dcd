"""How the API tests of every service check a refusal: a gRPC status with its rule first in the
details, or an HTTP problem+json with its status and rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from helpline.rest import PROBLEM_JSON


def refused(call: Callable[[], object], code: grpc.StatusCode, rule: str) -> None:
    """The call fails with `code`, and its details name `rule` first."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    error: grpc.Call = info.value  # type: ignore[assignment]
    assert error.code() == code, error.details()
    assert error.details().startswith(f"{rule}: "), error.details()


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.json()
    return dict(response.json())


def problem(response: Any, status: int, rule: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.json()
    assert response.headers["content-type"] == PROBLEM_JSON
    body = dict(response.json())
    assert body["status"] == status
    if rule is not None:
        assert body["rule"] == rule, body
    return body
