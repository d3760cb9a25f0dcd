"""The gRPC server every service runs: the standard health and reflection services, API-key auth and
request latency.

Every RPC other than health and reflection needs an API key (metadata `x-api-key: <key>` or
`authorization: Bearer <key>`) of a role the RPC's class of access admits (its `access` option,
helpline.roles), and an agent's key may only name its own agent: PERMISSION_DENIED otherwise. The
handler runs with `helpline.auth.current_principal` set, and
with the tenant and key id bound into the structlog context of its log lines. Given the service's
registry, every RPC, health and reflection included, is timed to its status code in
`helpline_grpc_request_duration_seconds`.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import redis
import structlog
from google.protobuf import descriptor_pool
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, Histogram

from helpline.auth import (
    ApiKeyStore,
    NotAuthenticatedError,
    Principal,
    RateLimitedError,
    current_key_check,
    current_principal,
)
from helpline.failures import is_transient
from helpline.limits import LimitError, validate
from helpline.logging import get_logger
from helpline.roles import Access, Role, admitted, call_refusal
from helpline.v1 import options_pb2

log = get_logger(__name__)

HEALTH_SERVICE = health.SERVICE_NAME
REFLECTION_SERVICE = reflection.SERVICE_NAME

# Probes (kubelet's gRPC probe, grpc_health_probe) and grpcurl discovery carry no key. Both the
# v1alpha reflection we serve and v1 (which grpcurl tries first) are exempt.
_EXEMPT_PREFIXES = (
    f"/{HEALTH_SERVICE}/",
    f"/{REFLECTION_SERVICE}/",
    "/grpc.reflection.v1.ServerReflection/",
)

_MISSING_KEY = "missing API key: send metadata `x-api-key: <key>` or `authorization: Bearer <key>`"
_UNKNOWN_KEY = "unknown or revoked API key"
_STORE_AWAY = "unavailable: the API key store is unavailable; retry"

Register = Callable[[grpc.Server], None]
T = TypeVar("T")
Behaviour = Callable[[Any, grpc.ServicerContext], Any]
StreamingBehaviour = Callable[[Any, grpc.ServicerContext], Iterator[Any]]


def _key_from_metadata(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    api_key: str | None = None
    bearer: str | None = None
    for name, value in metadata or ():
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        if name == "x-api-key":
            api_key = text.strip()
        elif name == "authorization":
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() == "bearer":
                bearer = token.strip()
    return api_key or bearer or None


class _PrincipalIterator(Iterator[T]):
    """Runs each step of a streaming handler's response iterator inside the RPC's context."""

    def __init__(self, ctx: contextvars.Context, inner: Iterator[T]) -> None:
        self._ctx = ctx
        self._inner = inner

    def __iter__(self) -> _PrincipalIterator[T]:
        return self

    def __next__(self) -> T:
        return self._ctx.run(next, self._inner)

    def close(self) -> None:
        # Lets a generator's cleanup (its `finally`) still see the principal.
        close = getattr(self._inner, "close", None)
        if callable(close):
            self._ctx.run(close)


class ApiKeyInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Authenticates every RPC except health and reflection against the API-key store, and admits
    the roles its class of access does: the `access` option of its .proto, or for an RPC no .proto
    describes (a generic handler's) its entry in `undescribed`."""

    def __init__(self, store: ApiKeyStore, undescribed: Mapping[str, Access] | None = None) -> None:
        self._store = store
        self._undescribed = dict(undescribed or {})

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],  # type: ignore[type-arg]
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:  # type: ignore[type-arg]
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(_EXEMPT_PREFIXES):
            return handler
        allowed = admitted(self._undescribed[method]) if method in self._undescribed else admitted_by(method)

        # grpc calls interceptors on the server's single polling thread, so the Redis lookup must not
        # happen here (it would stall every other call): it runs in the wrapped behaviour instead, on
        # the worker thread that serves this RPC.
        def authorize(request: Any, context: grpc.ServicerContext) -> contextvars.Context:
            principal = self._authenticate(context)
            operation = f"call {method.rsplit('/', 1)[-1]}"
            agent_id = request.agent_id if _names_agent(request) else None
            why = call_refusal(principal.role, principal.agent_id, allowed, operation, agent_id)
            if why is not None:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, why)
            return _rpc_context(principal, lambda: self._store.still_valid(principal))

        return _wrap(handler, authorize)

    def _authenticate(self, context: grpc.ServicerContext) -> Principal:
        key = _key_from_metadata(context.invocation_metadata())
        if key is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, _MISSING_KEY)
        try:
            principal = self._store.resolve(key)
        except RateLimitedError as exc:
            context.set_trailing_metadata((("retry-after", f"{exc.retry_after_s:g}"),))
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"rate_limited: {exc}")
        except redis.RedisError as exc:
            log.warning("api key store unavailable", error=str(exc))
            context.abort(grpc.StatusCode.UNAVAILABLE, _STORE_AWAY)
        if principal is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, _UNKNOWN_KEY)
        return principal


@functools.cache
def admitted_by(method: str) -> frozenset[Role]:
    """The roles an RPC (`/package.Service/Method`) admits, from the `access` option its .proto
    sets (helpline.roles); none for an RPC that sets none."""
    try:
        descriptor = descriptor_pool.Default().FindMethodByName(method.strip("/").replace("/", "."))
    except KeyError:
        return frozenset()
    return admitted(descriptor.GetOptions().Extensions[options_pb2.access])


def _names_agent(request: Any) -> bool:
    """Whether the request is one of an agent's, by an `agent_id` field (a client-streaming call's
    request is an iterator, and names none)."""
    descriptor = getattr(request, "DESCRIPTOR", None)
    return descriptor is not None and "agent_id" in descriptor.fields_by_name


def _rpc_context(principal: Principal, still_valid: Callable[[], bool]) -> contextvars.Context:
    # A fresh copy per RPC: the principal (and log context) set in it never leaks into the pooled
    # worker thread's own context, so the next RPC on that thread starts clean even if this one
    # raised, and a streaming response sees the same values on every step, whichever thread steps it.
    ctx = contextvars.copy_context()
    ctx.run(current_principal.set, principal)
    ctx.run(current_key_check.set, still_valid)
    ctx.run(structlog.contextvars.bind_contextvars, tenant=principal.tenant_id, key_id=principal.key_id)
    return ctx


def _wrap(
    handler: grpc.RpcMethodHandler,  # type: ignore[type-arg]
    authorize: Callable[[Any, grpc.ServicerContext], contextvars.Context],
) -> grpc.RpcMethodHandler:  # type: ignore[type-arg]
    def unary_response(behavior: Behaviour) -> Behaviour:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            ctx = authorize(request, context)
            return ctx.run(behavior, request, context)

        return call

    def streaming_response(behavior: StreamingBehaviour) -> StreamingBehaviour:
        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            ctx = authorize(request, context)
            return _PrincipalIterator(ctx, ctx.run(behavior, request, context))

        return call

    return _with_behaviours(handler, unary_response, streaming_response)


def _with_behaviours(
    handler: grpc.RpcMethodHandler,  # type: ignore[type-arg]
    unary_response: Callable[[Behaviour], Behaviour],
    streaming_response: Callable[[StreamingBehaviour], StreamingBehaviour],
) -> grpc.RpcMethodHandler:  # type: ignore[type-arg]
    """The same kind of handler, its behaviour wrapped by the function for its response shape."""
    serde = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(unary_response(handler.unary_unary), **serde)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(streaming_response(handler.unary_stream), **serde)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(unary_response(handler.stream_unary), **serde)
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(streaming_response(handler.stream_stream), **serde)
    raise TypeError(f"method handler with no behaviour: {handler!r}")


# -- bounded requests, and outages as UNAVAILABLE ------------------------------------------------------

# How long a client is asked to wait before retrying a call a dependency outage refused.
RETRY_AFTER_S = 1


# Unary RPCs named so only read: the rest write, and answer only past the replica barrier.
_READ_PREFIXES = ("Get", "List")
# Refusals of a write that say nothing of the data it would change: they need not wait for it.
_STATELESS_REFUSALS = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


class GuardInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Holds every request to helpline.limits before its handler runs (INVALID_ARGUMENT naming the
    field), answers a transient failure (helpline.failures: Redis or Kafka away, a full pool)
    with UNAVAILABLE, which clients retry, instead of UNKNOWN, and answers a write (its OK, or a
    refusal that reports the data's state) only once `barrier` passed (helpline.durability: its
    replicas hold it)."""

    def __init__(self, barrier: Callable[[], None] = lambda: None) -> None:
        self._barrier = barrier

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],  # type: ignore[type-arg]
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:  # type: ignore[type-arg]
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(_EXEMPT_PREFIXES):
            return handler

        writes = not handler_call_details.method.rsplit("/", 1)[-1].startswith(_READ_PREFIXES)

        def unary_response(behavior: Behaviour) -> Behaviour:
            def call(request: Any, context: grpc.ServicerContext) -> Any:
                with _answering_failures(context):
                    _check_request(request)
                    if not writes:
                        return behavior(request, context)
                    try:
                        response = behavior(request, context)
                    except Exception as exc:
                        # The stubs lack ServicerContext.code(), which grpcio has had since 1.38.
                        code = context.code()  # type: ignore[attr-defined]
                        if not is_transient(exc) and code not in _STATELESS_REFUSALS:
                            # A refusal reports state ("already accepted", "not found") that a
                            # failover could still take back, as an OK does: it waits as well.
                            self._barrier()
                        raise
                    self._barrier()
                    return response

            return call

        def streaming_response(behavior: StreamingBehaviour) -> StreamingBehaviour:
            def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                with _answering_failures(context):
                    _check_request(request)
                    return _GuardedStream(behavior(request, context), context)

            return call

        return _with_behaviours(handler, unary_response, streaming_response)


def _check_request(request: Any) -> None:
    # Client-streaming calls hand over an iterator, not a message: none of Helpline's APIs has one.
    if isinstance(request, Message):
        validate(request)


@contextlib.contextmanager
def _answering_failures(context: grpc.ServicerContext) -> Iterator[None]:
    try:
        yield
    except LimitError as exc:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{exc.rule}: {exc.message}")
    except Exception as exc:
        if not is_transient(exc):
            raise
        log.warning("call refused: a dependency is unavailable", error=repr(exc))
        context.set_trailing_metadata((("retry-after", str(RETRY_AFTER_S)),))
        context.abort(
            grpc.StatusCode.UNAVAILABLE,
            f"unavailable: a dependency is unavailable ({type(exc).__name__}); retry",
        )


class _GuardedStream(Iterator[T]):
    """A streaming response whose steps answer failures as the call's start does."""

    def __init__(self, inner: Iterator[T], context: grpc.ServicerContext) -> None:
        self._inner = inner
        self._context = context

    def __iter__(self) -> _GuardedStream[T]:
        return self

    def __next__(self) -> T:
        with _answering_failures(self._context):
            return next(self._inner)

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()


# -- request latency -----------------------------------------------------------------------------------


class GrpcMetrics:
    """gRPC server metrics; the registry is injected so tests stay isolated."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.request_duration = Histogram(
            "helpline_grpc_request_duration_seconds",
            "gRPC request latency (to the end of the stream for streaming responses), by service, "
            "method and status code.",
            ["grpc_service", "grpc_method", "grpc_code"],
            registry=registry,
        )


def _final_code(context: grpc.ServicerContext, default: grpc.StatusCode) -> grpc.StatusCode:
    if not context.is_active():
        # The client cancelled, or its deadline passed: the handler's answer never reaches it.
        return grpc.StatusCode.CANCELLED
    # abort() and set_code() decide the status grpc sends; without them it is `default`. The stubs
    # lack ServicerContext.code(), which grpc has had since 1.38.
    code: grpc.StatusCode | None = context.code()  # type: ignore[attr-defined]
    return code or default


class _CallTimer:
    """One RPC's clock, observed once: a stream can end by exhaustion, by an error, or by the client
    going away, and the last is reported by grpc's callback on its own thread."""

    def __init__(self, histogram: Histogram, service: str, method: str) -> None:
        self._histogram = histogram
        self._service = service
        self._method = method
        self._start = time.perf_counter()
        self._pending = threading.Lock()

    def finish(self, context: grpc.ServicerContext, default: grpc.StatusCode) -> None:
        # A non-blocking acquire is an atomic test-and-set: the first end to arrive is the one recorded.
        if not self._pending.acquire(blocking=False):
            return
        code = _final_code(context, default)
        self._histogram.labels(self._service, self._method, code.name).observe(
            time.perf_counter() - self._start
        )


class _TimedStream(Iterator[T]):
    """A streaming response that ends the call's timer when the stream ends, however it ends."""

    def __init__(self, inner: Iterator[T], context: grpc.ServicerContext, timer: _CallTimer) -> None:
        self._inner = inner
        self._context = context
        self._timer = timer
        # grpc stops stepping a stream whose client has gone, without closing it; only this callback
        # tells us it ended.
        context.add_callback(functools.partial(timer.finish, context, grpc.StatusCode.CANCELLED))

    def __iter__(self) -> _TimedStream[T]:
        return self

    def __next__(self) -> T:
        try:
            return next(self._inner)
        except StopIteration:
            self._timer.finish(self._context, grpc.StatusCode.OK)
            raise
        except Exception:
            self._timer.finish(self._context, grpc.StatusCode.UNKNOWN)
            raise

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()


class LatencyInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Times every RPC to its status code, aborted, refused and failed calls included.

    Only methods with a registered handler are timed: grpc answers an unknown method UNIMPLEMENTED
    without it, so a caller cannot mint label values.
    """

    def __init__(self, metrics: GrpcMetrics) -> None:
        self._histogram = metrics.request_duration

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],  # type: ignore[type-arg]
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:  # type: ignore[type-arg]
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        service, _, method = handler_call_details.method.removeprefix("/").partition("/")
        # Started on arrival, so time spent waiting for a free worker thread counts.
        timer = _CallTimer(self._histogram, service, method)

        def unary_response(behavior: Behaviour) -> Behaviour:
            def call(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    response = behavior(request, context)
                except Exception:
                    timer.finish(context, grpc.StatusCode.UNKNOWN)
                    raise
                timer.finish(context, grpc.StatusCode.OK)
                return response

            return call

        def streaming_response(behavior: StreamingBehaviour) -> StreamingBehaviour:
            def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                try:
                    responses = behavior(request, context)
                except Exception:
                    timer.finish(context, grpc.StatusCode.UNKNOWN)
                    raise
                return _TimedStream(responses, context, timer)

            return call

        return _with_behaviours(handler, unary_response, streaming_response)


# Seconds between the server's pings of a connection, and how long it waits for the answer.
KEEPALIVE_S, KEEPALIVE_TIMEOUT_S = 30, 10
# Calls waiting for a thread at most: a burst of desktops' calls waits a moment rather than fails.
MAX_QUEUED_CALLS = 1000


def build_grpc_server(
    *,
    port: int,
    services: Sequence[str],
    auth: ApiKeyStore | None,
    register: Sequence[Register] = (),
    max_workers: int = 16,
    host: str = "127.0.0.1",
    registry: CollectorRegistry | None = None,
    max_message_bytes: int = 1_048_576,
    barrier: Callable[[], None] = lambda: None,
    undescribed: Mapping[str, Access] | None = None,
    reflection_enabled: bool = True,
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.Server, int, health.HealthServicer]:
    """A server (not started) with health, reflection (unless `reflection_enabled` is false), and,
    given a store, API-key auth; TLS only, given `credentials`.

    `services` are the full names of the services `register` adds (e.g. `helpline.v1.TicketService`); each
    is marked SERVING in the health service and listed by reflection. Returns the server, the bound
    port (`port=0` picks a free one) and the health servicer, for `stop_grpc_server`. `auth=None`
    serves without authentication: only for tests and tools, never a deployed service. Given a
    `registry` (the service's own), every RPC's latency is recorded in it. `undescribed` gives the
    class of access of RPCs no .proto describes (`/package.Service/Method`, for generic handlers).
    """
    interceptors: list[grpc.ServerInterceptor] = []  # type: ignore[type-arg]
    if registry is not None:
        # First, so it is outermost and times the calls the API-key check refuses.
        interceptors.append(LatencyInterceptor(GrpcMetrics(registry)))
    if auth is not None:
        interceptors.append(ApiKeyInterceptor(auth, undescribed))
    else:
        log.warning("gRPC server without authentication", services=list(services))
    interceptors.append(GuardInterceptor(barrier))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        interceptors=interceptors,
        options=[
            # grpc turns SO_REUSEPORT on by default, which lets a second process bind the same port
            # and silently take half the calls; a port clash must fail loudly instead.
            ("grpc.so_reuseport", 0),
            # A request larger than this is refused (RESOURCE_EXHAUSTED) before it is read whole.
            ("grpc.max_receive_message_length", max_message_bytes),
            # A peer that went away without a word (a desktop's laptop closed, a NAT that dropped
            # the connection) is found by a ping unanswered, and its streams end.
            ("grpc.keepalive_time_ms", KEEPALIVE_S * 1000),
            ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_S * 1000),
        ],
        # Calls past the threads wait in a queue of MAX_QUEUED_CALLS, and past that are refused
        # (RESOURCE_EXHAUSTED) rather than queued without end behind held streams.
        maximum_concurrent_rpcs=max_workers + MAX_QUEUED_CALLS,
    )
    for add in register:
        add(server)

    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *services):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    if reflection_enabled:
        reflection.enable_server_reflection([*services, HEALTH_SERVICE, REFLECTION_SERVICE], server)

    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        if credentials is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, credentials)
    except RuntimeError as exc:
        raise RuntimeError(f"could not bind the gRPC server to {address}: {exc}") from exc
    if bound == 0:
        raise RuntimeError(f"could not bind the gRPC server to {address}")
    return server, bound, health_servicer


def mark_not_serving(health_servicer: health.HealthServicer) -> None:
    """Every service (and the overall status) answers NOT_SERVING from now on, permanently."""
    health_servicer.enter_graceful_shutdown()


def stop_grpc_server(server: grpc.Server, health_servicer: health.HealthServicer, grace: float = 5.0) -> None:
    """Fail health checks first, so balancers stop sending calls, then let in-flight calls finish."""
    mark_not_serving(health_servicer)
    server.stop(grace).wait()
    log.info("gRPC server stopped")


# -- refusals as status codes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """How an RPC answers an exception raised on purpose: a status code, and the stable rule that
    starts its details, so clients branch on the rule, not on the wording."""

    code: grpc.StatusCode
    rule: str
    message: str


_S = TypeVar("_S")
_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")
Rpc = Callable[[_S, _Req, grpc.ServicerContext], _Resp]


def answers_refusals(
    refusal_of: Callable[[Exception], Refusal | None],
) -> Callable[[Rpc[_S, _Req, _Resp]], Rpc[_S, _Req, _Resp]]:
    """A decorator for a servicer's unary RPCs: an exception `refusal_of` names (or a missing API
    key) aborts the call with its status; anything else (a bug, an outage) propagates, and gRPC
    reports UNKNOWN with the exception logged."""

    def refusal(exc: Exception) -> Refusal | None:
        if isinstance(exc, NotAuthenticatedError):
            return Refusal(grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", str(exc))
        return refusal_of(exc)

    def decorate(rpc: Rpc[_S, _Req, _Resp]) -> Rpc[_S, _Req, _Resp]:
        @functools.wraps(rpc)
        def call(self: _S, request: _Req, context: grpc.ServicerContext) -> _Resp:
            try:
                return rpc(self, request, context)
            except Exception as exc:
                found = refusal(exc)
                if found is None:
                    raise
                context.abort(found.code, f"{found.rule}: {found.message}")

        return call

    return decorate
