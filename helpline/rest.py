"""What every Helpline REST API shares: API-key authentication as a FastAPI dependency, and errors
as RFC 9457 problem details (`application/problem+json`) with a clear message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from helpline.auth import ApiKeyStore, Principal

PROBLEM_JSON = "application/problem+json"

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (`hlk_...`).")
_bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token.")


class ProblemError(Exception):
    """An error a client can act on; rendered as problem+json with its status."""

    def __init__(self, status: int, title: str, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.extensions = extensions


def problem_response(status: int, title: str, detail: str, **extensions: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extensions}
    headers = {"WWW-Authenticate": 'Bearer realm="helpline"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(exc.status, exc.title, exc.detail, **exc.extensions)

    async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"location": ".".join(str(p) for p in error.get("loc", ())), "message": error.get("msg", "")}
            for error in exc.errors()
        ]
        detail = "; ".join(f"{e['location']}: {e['message']}" for e in errors)
        return problem_response(422, "Invalid request", detail, errors=errors)

    async def on_http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return problem_response(exc.status_code, _title(exc.status_code), str(exc.detail))

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    # Starlette's class, not FastAPI's subclass: unknown routes and methods raise the former.
    app.add_exception_handler(HTTPException, on_http)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def principal_dependency(store_factory: Callable[[], ApiKeyStore]) -> Callable[..., Principal]:
    """A dependency that resolves `X-API-Key` (or `Authorization: Bearer`) to the caller's tenant;
    401 problem when missing or unknown. The store comes from a factory so tests can override it."""

    def resolve(
        api_key: Annotated[str | None, Depends(_api_key_header)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        key = api_key or (bearer.credentials if bearer else None)
        if not key:
            raise ProblemError(
                401, "Unauthorized", "missing API key: send `X-API-Key: <key>` or a bearer token"
            )
        principal = store_factory().resolve(key)
        if principal is None:
            raise ProblemError(401, "Unauthorized", "unknown or revoked API key")
        return principal

    return resolve
