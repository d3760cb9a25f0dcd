"""A real gRPC server: health and reflection answer without a key, every other RPC needs one,
handlers see the caller's tenant, and every call is timed to its status code."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
import redis
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from prometheus_client import CollectorRegistry

from devstack.local_stack import free_port
from helpline.auth import ApiKeyStore, current_principal, current_tenant
from helpline.durability import ReplicaLagError
from helpline.grpc import build_grpc_server, mark_not_serving, stop_grpc_server
from helpline.roles import Access
from tests.integration.helpers import wait_until

ECHO = "test.Echo"
LATENCY = "helpline_grpc_request_duration_seconds"
# The echo service has no .proto to name its RPCs' class of access.
ECHO_ACCESS = {
    f"/{ECHO}/{name}": Access.READ for name in ("Who", "Count", "Fail", "GetWho", "Taken", "Malformed")
}


def _who(request: bytes, context: grpc.ServicerContext) -> bytes:
    return current_tenant().encode()


def _count(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    # Each step runs in the RPC's context, including the steps after the first yield.
    for i in range(int(request or b"3")):
        log_context = structlog.contextvars.get_contextvars()
        yield f"{i}:{current_tenant()}:{log_context.get('tenant')}".encode()


def _fail(request: bytes, context: grpc.ServicerContext) -> bytes:
    if request == b"abort":
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    if request == b"set-code":
        context.set_code(grpc.StatusCode.INVALID_ARGUMENT)
        return b""
    raise RuntimeError("a bug")


def _register_echo(server: grpc.Server) -> None:
    identity = lambda data: data  # noqa: E731 -- raw bytes on the wire, no protobuf needed
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                ECHO,
                {
                    "Who": grpc.unary_unary_rpc_method_handler(_who, identity, identity),
                    "Count": grpc.unary_stream_rpc_method_handler(_count, identity, identity),
                    "Fail": grpc.unary_unary_rpc_method_handler(_fail, identity, identity),
                },
            ),
        )
    )


@pytest.fixture
def store(redis_client: redis.Redis, unique: str) -> ApiKeyStore:
    return ApiKeyStore(redis_client, pepper="test-pepper", namespace=f"auth-{unique}")


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def channel(store: ApiKeyStore, registry: CollectorRegistry) -> Iterator[grpc.Channel]:
    server, port, health = build_grpc_server(
        port=0,
        services=[ECHO],
        auth=store,
        register=[_register_echo],
        registry=registry,
        undescribed=ECHO_ACCESS,
    )
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield channel
    channel.close()
    stop_grpc_server(server, health, grace=1.0)


def _who_call(channel: grpc.Channel) -> grpc.UnaryUnaryMultiCallable:  # type: ignore[type-arg]
    return channel.unary_unary(f"/{ECHO}/Who", None, None)


def _timed(registry: CollectorRegistry, method: str, code: str, service: str = ECHO) -> float:
    labels = {"grpc_service": service, "grpc_method": method, "grpc_code": code}
    return registry.get_sample_value(f"{LATENCY}_count", labels) or 0.0


def test_health_answers_without_a_key(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", ECHO):
        response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as unknown:
        stub.Check(health_pb2.HealthCheckRequest(service="no.Such"), timeout=5)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_services_without_a_key(channel: grpc.Channel) -> None:
    services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert services == {ECHO, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}


def test_calls_without_a_valid_key_are_unauthenticated(
    channel: grpc.Channel, store: ApiKeyStore, unique: str
) -> None:
    who = _who_call(channel)
    cases: list[tuple[tuple[tuple[str, str | bytes], ...], str]] = [
        ((), "missing API key"),
        ((("x-api-key", "hlk_" + "A" * 43),), "unknown or revoked API key"),
        ((("authorization", "Bearer not-even-a-key"),), "unknown or revoked API key"),
        ((("authorization", "Basic dXNlcjpwYXNz"),), "missing API key"),
    ]
    key_id, key = store.create(f"acme-{unique}", "crm")
    assert store.revoke(key_id)
    cases.append(((("x-api-key", key),), "unknown or revoked API key"))
    for metadata, message in cases:
        with pytest.raises(grpc.RpcError) as failure:
            who(b"", metadata=metadata, timeout=5)
        assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED, metadata
        assert message in (failure.value.details() or ""), metadata
        # The key itself is never echoed back.
        assert key not in (failure.value.details() or "")


def test_a_good_key_reaches_the_handler_with_its_tenant(
    channel: grpc.Channel, store: ApiKeyStore, unique: str
) -> None:
    who = _who_call(channel)
    _acme_id, acme_key = store.create(f"acme-{unique}", "crm")
    _globex_id, globex_key = store.create(f"globex-{unique}", "crm")

    assert who(b"", metadata=(("x-api-key", acme_key),), timeout=5) == f"acme-{unique}".encode()
    assert who(b"", metadata=(("authorization", f"Bearer {globex_key}"),), timeout=5) == (
        f"globex-{unique}".encode()
    )
    # Many calls over the pool's reused threads: each sees its own tenant, never a previous one.
    for i in range(40):
        key, tenant = (acme_key, f"acme-{unique}") if i % 2 else (globex_key, f"globex-{unique}")
        assert who(b"", metadata=(("x-api-key", key),), timeout=5) == tenant.encode()


def test_server_streaming_with_a_good_key(channel: grpc.Channel, store: ApiKeyStore, unique: str) -> None:
    count = channel.unary_stream(f"/{ECHO}/Count", None, None)
    _key_id, key = store.create(f"acme-{unique}", "desk")
    tenant = f"acme-{unique}"

    replies = list(count(b"4", metadata=(("x-api-key", key),), timeout=5))
    assert replies == [f"{i}:{tenant}:{tenant}".encode() for i in range(4)]

    with pytest.raises(grpc.RpcError) as failure:
        list(count(b"4", timeout=5))
    assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # The test thread (the client) never saw a principal.
    assert current_principal.get() is None


def test_store_down_is_unavailable_not_unauthenticated(unique: str) -> None:
    dead = redis.Redis(port=free_port(), socket_connect_timeout=1)
    store = ApiKeyStore(dead, pepper="p", namespace=f"auth-{unique}")
    server, port, health = build_grpc_server(port=0, services=[ECHO], auth=store, register=[_register_echo])
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.RpcError) as failure:
            _who_call(channel)(b"", metadata=(("x-api-key", "hlk_" + "A" * 43),), timeout=5)
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        stop_grpc_server(server, health, grace=1.0)
        dead.close()


def test_shutdown_flips_health_to_not_serving(store: ApiKeyStore) -> None:
    server, port, health = build_grpc_server(port=0, services=[ECHO], auth=store)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            mark_not_serving(health)
            for service in ("", ECHO):
                response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
                assert response.status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        stop_grpc_server(server, health, grace=1.0)


def test_a_taken_port_fails_loudly(store: ApiKeyStore) -> None:
    server, port, health = build_grpc_server(port=0, services=[], auth=store)
    server.start()
    try:
        with pytest.raises(RuntimeError, match="could not bind"):
            build_grpc_server(port=port, services=[], auth=store)
    finally:
        stop_grpc_server(server, health, grace=0.5)


def test_calls_are_timed_by_method_and_status_code(
    channel: grpc.Channel, store: ApiKeyStore, registry: CollectorRegistry, unique: str
) -> None:
    _key_id, key = store.create(f"acme-{unique}", "crm")
    with_key = (("x-api-key", key),)
    who = _who_call(channel)
    fail = channel.unary_unary(f"/{ECHO}/Fail", None, None)

    who(b"", metadata=with_key, timeout=5)
    who(b"", metadata=with_key, timeout=5)
    for request, code in (
        (b"abort", grpc.StatusCode.NOT_FOUND),
        (b"set-code", grpc.StatusCode.INVALID_ARGUMENT),
        (b"raise", grpc.StatusCode.UNKNOWN),
    ):
        with pytest.raises(grpc.RpcError) as failure:
            fail(request, metadata=with_key, timeout=5)
        assert failure.value.code() == code
    with pytest.raises(grpc.RpcError):
        who(b"", timeout=5)

    assert _timed(registry, "Who", "OK") == 2
    assert _timed(registry, "Fail", "NOT_FOUND") == 1
    assert _timed(registry, "Fail", "INVALID_ARGUMENT") == 1
    assert _timed(registry, "Fail", "UNKNOWN") == 1
    # Refused by the API-key check before the handler ran.
    assert _timed(registry, "Who", "UNAUTHENTICATED") == 1
    assert _timed(registry, "Fail", "OK") == 0
    labels = {"grpc_service": ECHO, "grpc_method": "Who", "grpc_code": "OK"}
    assert (registry.get_sample_value(f"{LATENCY}_sum", labels) or 0.0) > 0

    # Health and reflection are timed too, without a key.
    health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert _timed(registry, "Check", "OK", service="grpc.health.v1.Health") == 1


def test_streaming_calls_are_timed_to_the_end_of_the_stream(
    channel: grpc.Channel, store: ApiKeyStore, registry: CollectorRegistry, unique: str
) -> None:
    count = channel.unary_stream(f"/{ECHO}/Count", None, None)
    _key_id, key = store.create(f"acme-{unique}", "desk")

    assert len(list(count(b"4", metadata=(("x-api-key", key),), timeout=5))) == 4
    assert _timed(registry, "Count", "OK") == 1
    with pytest.raises(grpc.RpcError):
        list(count(b"4", timeout=5))
    assert _timed(registry, "Count", "UNAUTHENTICATED") == 1

    # A stream the client walks away from never ends on the server: grpc's termination callback
    # reports it.
    endless = count(b"1000000000", metadata=(("x-api-key", key),), timeout=30)
    next(endless)  # type: ignore[call-overload]  # grpc-stubs' CallIterator has no __next__
    endless.cancel()  # type: ignore[no-untyped-call]  # untyped in grpc-stubs
    wait_until(lambda: _timed(registry, "Count", "CANCELLED") == 1, what="the cancelled stream")
    assert _timed(registry, "Count", "OK") == 1


def test_unknown_methods_mint_no_label_values(channel: grpc.Channel, registry: CollectorRegistry) -> None:
    for method in (f"/{ECHO}/Nope", "/no.Such/Thing"):
        with pytest.raises(grpc.RpcError) as failure:
            channel.unary_unary(method, None, None)(b"", timeout=5)
        assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED
    methods = {
        sample.labels["grpc_method"]
        for family in registry.collect()
        if family.name == LATENCY
        for sample in family.samples
    }
    assert "Nope" not in methods
    assert "Thing" not in methods


def test_a_write_is_answered_ok_only_past_the_replica_barrier(store: ApiKeyStore, unique: str) -> None:
    """A unary call not named Get or List writes: its OK, or its refusal for the data's state, waits
    for the barrier, and a barrier that refuses (the replicas lag) makes it UNAVAILABLE; reads and
    refusals of malformed requests never wait."""
    calls: list[str] = []

    def lagging() -> None:
        calls.append("barrier")
        raise ReplicaLagError("0 of 1 Redis replicas acknowledged within 10 ms")

    key = store.create(f"t{unique}", "barrier")[1]
    server, port, health = build_grpc_server(
        port=0,
        services=[ECHO],
        auth=store,
        register=[_register_echo, _register_reader],
        barrier=lagging,
        undescribed=ECHO_ACCESS,
    )
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.RpcError) as refused:
                _who_call(channel)(b"", metadata=(("x-api-key", key),), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert calls == ["barrier"]
            read = channel.unary_unary(f"/{ECHO}/GetWho", None, None)
            assert read(b"", metadata=(("x-api-key", key),), timeout=5) == f"t{unique}".encode()
            assert calls == ["barrier"]
            # A refusal for the data's state ("taken") waits too; one of a malformed request does not.
            with pytest.raises(grpc.RpcError) as taken:
                channel.unary_unary(f"/{ECHO}/Taken", None, None)(
                    b"", metadata=(("x-api-key", key),), timeout=5
                )
            assert taken.value.code() == grpc.StatusCode.UNAVAILABLE
            assert calls == ["barrier", "barrier"]
            with pytest.raises(grpc.RpcError) as malformed:
                channel.unary_unary(f"/{ECHO}/Malformed", None, None)(
                    b"", metadata=(("x-api-key", key),), timeout=5
                )
            assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert calls == ["barrier", "barrier"]
    finally:
        stop_grpc_server(server, health, grace=1.0)


def _taken(request: bytes, context: grpc.ServicerContext) -> bytes:
    context.abort(grpc.StatusCode.FAILED_PRECONDITION, "taken: a thing of that name exists")
    raise AssertionError("abort raises")


def _malformed(request: bytes, context: grpc.ServicerContext) -> bytes:
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "name: required")
    raise AssertionError("abort raises")


def _register_reader(server: grpc.Server) -> None:
    identity = lambda data: data  # noqa: E731 -- raw bytes on the wire, no protobuf needed
    handlers = {
        "GetWho": grpc.unary_unary_rpc_method_handler(_who, identity, identity),
        "Taken": grpc.unary_unary_rpc_method_handler(_taken, identity, identity),
        "Malformed": grpc.unary_unary_rpc_method_handler(_malformed, identity, identity),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(ECHO, handlers),))


def test_an_rpc_that_names_no_class_of_access_admits_no_key(store: ApiKeyStore, unique: str) -> None:
    key = store.create(f"t{unique}", "admin")[1]
    server, port, health = build_grpc_server(port=0, services=[ECHO], auth=store, register=[_register_echo])
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.RpcError) as refused:
            _who_call(channel)(b"", metadata=(("x-api-key", key),), timeout=5)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert refused.value.details() == "a key of role admin cannot call Who; it takes no role"
    finally:
        stop_grpc_server(server, health, grace=1.0)
