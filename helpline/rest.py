"""What every Helpline REST API shares: API-key authentication and role checks as FastAPI
dependencies, errors as RFC 9457 problem details (`application/problem+json`) with a clear
message, and a record's version as its ETag, pinned by If-Match."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Generic, TypeVar, cast

import redis
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from helpline.auth import ApiKeyStore, Principal, RateLimitedError, current_principal
from helpline.failures import TransientError, is_transient
from helpline.kafka.port import KafkaError
from helpline.limits import EventTooLargeError, LimitError
from helpline.logging import get_logger
from helpline.quotas import QuotaReachedError
from helpline.roles import Access, admitted, call_refusal

log = get_logger(__name__)

T = TypeVar("T")

PROBLEM_JSON = "application/problem+json"
DEFAULT_MAX_BODY_BYTES = 1_048_576
# Seconds a client is asked to wait before retrying a request a dependency outage refused.
RETRY_AFTER_S = 1
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

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


class Problem(BaseModel):
    """RFC 9457 problem details; extensions (e.g. `rule`, `errors`) ride along as extra members."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str


# The If-Match header of a change to one versioned resource (the router's own says more of its
# PUT's semantics).
IfMatch = Annotated[
    str | None,
    Header(
        max_length=64,
        description='The ETag the caller last saw (e.g. `"3"`); a stale one is a 412. '
        "Without it, the change applies to the current version.",
    ),
]


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(if_match: str | None) -> int | None:
    """`If-Match: "7"` (or `W/"7"`, or a bare 7) pins the version a write applies to."""
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ProblemError(400, "Bad Request", f'If-Match must be an ETag such as "3", not {if_match!r}')
    return int(text)


def problem_responses(descriptions: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for problem statuses, so the spec documents what clients get
    (and replaces FastAPI's default 422 body, which these APIs do not send)."""
    schema = Problem.model_json_schema()
    return {
        code: {"description": text, "content": {PROBLEM_JSON: {"schema": schema}}}
        for code, text in descriptions.items()
    }


COMMON_PROBLEMS = {
    400: "The request is malformed (a body that does not parse, a bad header or cursor).",
    401: "Missing, unknown, expired or revoked API key.",
    403: "The key's role does not admit this operation (`admits` lists the roles that do), or an "
    "agent's key names another agent.",
    429: "The key called faster than its rate (`rate_limited`: retry after `Retry-After` seconds), or "
    "the tenant keeps as many of a kind of thing as its quota lets it (`quota_reached`).",
    413: "The request body, or the event it would make, is too large; `field` says what to shorten.",
    422: "The request is invalid; `errors` or `rule` say why.",
    500: "The server failed; the error is logged.",
    503: "A dependency (Redis, Kafka) is unavailable; retry after `Retry-After` seconds.",
}


def problem_response(status: int, title: str, detail: str, **extensions: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extensions}
    headers = {"WWW-Authenticate": 'Bearer realm="helpline"'} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_S)}
    if status == 429 and "retry_after_s" in extensions:
        headers = {"Retry-After": f"{extensions['retry_after_s']:g}"}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def dependency_unavailable(exc: BaseException) -> JSONResponse:
    """503 with Retry-After, for a request a transient failure (helpline.failures) refused."""
    detail = f"a dependency is unavailable ({type(exc).__name__}); retry after {RETRY_AFTER_S} s"
    return problem_response(503, "Service Unavailable", detail, rule="unavailable")


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

    async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # Starlette still logs the traceback; the client gets a problem, not an HTML page.
        return problem_response(500, "Internal Server Error", "the server failed; the error is logged")

    async def on_limit(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, LimitError)
        status = 413 if isinstance(exc, EventTooLargeError) else 422
        title = "Content Too Large" if status == 413 else "Invalid request"
        return problem_response(status, title, exc.message, rule=exc.rule, field=exc.field)

    async def on_quota(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, QuotaReachedError)
        return problem_response(
            429, "Too Many Requests", str(exc), rule="quota_reached", quota=exc.kind, limit=exc.limit
        )

    async def on_dependency(request: Request, exc: Exception) -> JSONResponse:
        if not is_transient(exc):
            log.error("request failed", path=request.url.path, error=repr(exc))
            return problem_response(500, "Internal Server Error", "the server failed; the error is logged")
        # No traceback: an outage refuses every request alike, and one line each says enough.
        log.warning("request refused: a dependency is unavailable", path=request.url.path, error=repr(exc))
        return dependency_unavailable(exc)

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(LimitError, on_limit)
    app.add_exception_handler(QuotaReachedError, on_quota)
    for dependency_failure in (
        redis.RedisError,
        KafkaError,
        TransientError,
    ):
        app.add_exception_handler(dependency_failure, on_dependency)
    app.add_exception_handler(RequestValidationError, on_validation)
    # Starlette's class, not FastAPI's subclass: unknown routes and methods raise the former.
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


class BodyLimitMiddleware:
    """413 for a request body over `max_bytes`. Starlette reads any size into memory, so the limit
    is checked on Content-Length first and then on the bytes as they arrive (chunked bodies). The
    latter raises Starlette's HTTPException inside the app, where the problem handlers render it."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = problem_response(413, "Content Too Large", self._detail())
            await response(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(413, self._detail())
            return message

        await self.app(scope, counting_receive, send)

    def _detail(self) -> str:
        return f"the request body is over {self.max_bytes} bytes"


# Answers to a write that say nothing of the data it would change (a malformed or unauthorized
# request, one too large, too fast): they need not wait for the replicas.
_STATELESS_STATUSES = frozenset({400, 401, 403, 405, 413, 415, 429})


def _reports_state(status: int) -> bool:
    return status < 500 and status not in _STATELESS_STATUSES


class DurableAnswerMiddleware:
    """Answers a write (a POST, PUT, PATCH or DELETE that succeeded, or was refused for the state
    of its data: a conflict, a version, a rule) only once `barrier` passed (helpline.durability:
    the Redis replicas hold it); otherwise 503 with Retry-After, as for any outage, since a
    failover could still take back the write or the state the refusal reports. Reads pass
    untouched."""

    def __init__(self, app: ASGIApp, barrier: Callable[[], None]) -> None:
        self.app = app
        self.barrier = barrier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        refused = False

        async def send_when_durable(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and _reports_state(message["status"]):
                try:
                    await run_in_threadpool(self.barrier)
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    log.warning("write not acknowledged: not durable yet", error=str(exc))
                    refused = True
                    await dependency_unavailable(exc)(scope, receive, send)
                    return
            if not refused:
                await send(message)

        await self.app(scope, receive, send_when_durable)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def principal_dependency(keys: Callable[..., ApiKeyStore]) -> Callable[..., Principal]:
    """A dependency that resolves `X-API-Key` (or `Authorization: Bearer`) to the caller's tenant;
    401 problem when missing or unknown, 429 with Retry-After when the key calls faster than its
    rate. `keys`, the key store, is itself a dependency (a bare factory is one too), so tests can
    override it."""

    # `Depends` as a default: the annotations are strings (PEP 563), and one naming `keys`, a local,
    # would not resolve when FastAPI reads the signature.
    def resolve(
        api_key: Annotated[str | None, Depends(_api_key_header)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        store: ApiKeyStore = Depends(keys),  # noqa: B008
    ) -> Principal:
        key = api_key or (bearer.credentials if bearer else None)
        if not key:
            raise ProblemError(
                401, "Unauthorized", "missing API key: send `X-API-Key: <key>` or a bearer token"
            )
        try:
            principal = store.resolve(key)
        except RateLimitedError as exc:
            raise ProblemError(
                429, "Too Many Requests", str(exc), rule="rate_limited", retry_after_s=exc.retry_after_s
            ) from exc
        if principal is None:
            raise ProblemError(401, "Unauthorized", "unknown or revoked API key")
        return principal

    return resolve


class Provided(Generic[T]):
    """Something an API's handlers need (a store, the use cases, a clock), which the service's app
    builder provides once (`provide`) and a handler takes as a FastAPI dependency (`Depends(x.get)`).

    It is held on the app's state under `name`, so the handlers are module-level functions, not
    closures over what a builder was given; one app can serve several APIs (distinct names); and a
    route of an app that was not provided with it fails loudly instead of reading a global."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.get = self._dependency()

    def provide(self, app: FastAPI, value: T) -> None:
        setattr(app.state, self.name, value)

    def _dependency(self) -> Callable[[Request], T]:
        # A function, not `__call__`: FastAPI resolves a dependency's string annotations in its
        # function's module, which an instance's method does not give it.
        name = self.name

        def provided(request: Request) -> T:
            try:
                return cast(T, getattr(request.app.state, name))
            except AttributeError:
                raise RuntimeError(f"the app was not provided with its {name}") from None

        provided.__name__ = provided.__qualname__ = f"provided_{name}"
        return provided


# The key store every service's API resolves callers with, and the dependency giving the caller:
# one callable for every route and handler, so FastAPI resolves a request's key once (one count
# against its rate) whichever of them asks.
API_KEYS: Provided[ApiKeyStore] = Provided("api_keys")
principal = principal_dependency(API_KEYS.get)
Caller = Annotated[Principal, Depends(principal)]


# The OpenAPI operation's extensions: a route's class of access, and the roles that admits.
ACCESS_FIELD, ROLES_FIELD = "x-access", "x-roles"


def admits(access: Access) -> dict[str, Any]:
    """A route's `openapi_extra`: its class of access and the roles it admits, in its OpenAPI
    operation, where the authorization dependency reads the class and clients read both."""
    return {ACCESS_FIELD: access.value, ROLES_FIELD: sorted(admitted(access))}


def resource_router(**router: Any) -> APIRouter:
    """The router of one resource of a service's API: its every route checks the role of the caller
    (`authorization`), makes the caller the request's `current_principal`, and answers the common
    problems. The caller is `principal`'s, whose key is resolved in the app's `API_KEYS`: the same
    dependency as a handler's `Caller`, so FastAPI resolves it once a request for all of them."""
    return APIRouter(
        responses=problem_responses(COMMON_PROBLEMS),
        dependencies=[Depends(authorization(principal)), Depends(acting_principal(principal))],
        **router,
    )


def acting_principal(resolve: Callable[..., Principal]) -> Callable[..., Awaitable[None]]:
    """A dependency that makes the caller the request's `current_principal`, as the gRPC interceptor
    does for an RPC, so the changes a handler makes are recorded as its key's (helpline.audit).

    Async on purpose: FastAPI awaits it in the request's own task, whose context the handler's
    worker thread then copies. A sync dependency runs in a worker thread of its own, on a copy of
    the context that nothing reads after it. Each request is a task of its own, so the principal
    ends with the request."""

    async def act(principal: Principal = Depends(resolve)) -> None:  # noqa: B008 -- as authorize's
        current_principal.set(principal)

    return act


def authorization(resolve: Callable[..., Principal]) -> Callable[..., None]:
    """A dependency for every route of an API: 403 problem unless the caller's role is one the
    route admits (a route that names none admits nobody), or when an agent's key names another
    agent in the path. `resolve` is the API's principal dependency, which FastAPI then runs once a
    request for both."""

    # `Depends` as the default, not in `Annotated`: the annotations are strings (PEP 563), and one
    # naming `resolve`, a local, would not resolve when FastAPI reads the signature.
    def authorize(request: Request, principal: Principal = Depends(resolve)) -> None:  # noqa: B008
        route = request.scope.get("route")
        declared = (getattr(route, "openapi_extra", None) or {}).get(ACCESS_FIELD)
        operation = f"{request.method} {getattr(route, 'path', request.url.path)}"
        allowed = admitted(declared)
        agent_id = request.path_params.get("agent_id")
        why = call_refusal(principal.role, principal.agent_id, allowed, operation, agent_id)
        if why is not None:
            raise ProblemError(403, "Forbidden", why, role=principal.role.value, admits=sorted(allowed))

    return authorize
