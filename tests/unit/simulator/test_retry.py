"""The simulated people call again through transient refusals, and only through those: against a
real gRPC server on loopback that refuses a number of times before it answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import grpc
import pytest

from helpline.failures import Backoff
from simulator.retry import RefusedError, answered

QUICK = Backoff(initial_s=0.01, cap_s=0.02)
Answer = tuple[grpc.StatusCode, str] | None


@asynccontextmanager
async def server(
    answers: Sequence[Answer],
) -> AsyncIterator[tuple[Callable[[], grpc.aio.UnaryUnaryCall[bytes, bytes]], list[int]]]:
    """A method answering each call with the next of `answers` (None: OK), then OK; and how many
    calls it took."""
    calls = [0]

    async def call(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        calls[0] += 1
        answer = answers[calls[0] - 1] if calls[0] <= len(answers) else None
        if answer is not None:
            await context.abort(*answer)
        return b"done"

    handler = grpc.method_handlers_generic_handler(
        "test.Flaky", {"Call": grpc.unary_unary_rpc_method_handler(call)}
    )
    srv = grpc.aio.server()
    srv.add_generic_rpc_handlers((handler,))
    port = srv.add_insecure_port("127.0.0.1:0")
    await srv.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            method = channel.unary_unary("/test.Flaky/Call", None, None)
            yield (lambda: method(b"", timeout=5)), calls
    finally:
        await srv.stop(None)


def test_a_call_is_made_again_through_every_transient_refusal_until_it_is_answered() -> None:
    transient = [
        (grpc.StatusCode.UNAVAILABLE, "unavailable: a dependency is unavailable (ConnectionError); retry"),
        (grpc.StatusCode.ABORTED, "contended: every attempt lost a race"),
        (grpc.StatusCode.UNAVAILABLE, "desk_behind: reconnect"),
    ]

    async def scenario() -> tuple[bytes, int]:
        async with server(transient) as (call, calls):
            return await answered(call, QUICK), calls[0]

    assert asyncio.run(scenario()) == (b"done", 4)


def test_a_domain_refusal_is_not_made_again_and_says_whether_a_retry_came_first() -> None:
    refusal = (grpc.StatusCode.FAILED_PRECONDITION, "already_accepted: agent a1 already has contact c1")

    async def scenario(answers: Sequence[Answer]) -> tuple[RefusedError, int]:
        async with server(answers) as (call, calls):
            with pytest.raises(RefusedError) as refused:
                await answered(call, QUICK)
            return refused.value, calls[0]

    first, calls = asyncio.run(scenario([refusal]))
    assert (first.code, calls, first.retried) == (grpc.StatusCode.FAILED_PRECONDITION, 1, False)
    # Refused at once: the platform decided, no earlier attempt can have landed.
    assert not first.landed("already_accepted")

    after, calls = asyncio.run(scenario([(grpc.StatusCode.UNAVAILABLE, "unavailable"), refusal]))
    assert (calls, after.retried) == (2, True)
    # The first attempt was applied and its answer lost: the retry's refusal says it happened.
    assert after.landed("already_accepted")
    # Only the rule of the call's own effect: another refusal of the retry is a refusal.
    assert not after.landed("already_completed")
    assert not after.landed("")


def test_not_found_is_a_refusal_not_a_retry() -> None:
    async def scenario() -> tuple[grpc.StatusCode, int]:
        async with server([(grpc.StatusCode.NOT_FOUND, "agent_not_found: a1")]) as (call, calls):
            with pytest.raises(RefusedError) as refused:
                await answered(call, QUICK)
            return refused.value.code, calls[0]

    assert asyncio.run(scenario()) == (grpc.StatusCode.NOT_FOUND, 1)
