"""How the simulated people ride out the platform's transient refusals, as a well-behaved client
does. A call the platform cannot serve for now (UNAVAILABLE: a dependency away, or the connection
failed; ABORTED: every attempt lost a race; DEADLINE_EXCEEDED: too slow this time) is sent again
after a capped backoff for as long as that lasts, so the ledger records it once, when it succeeded.
Any other answer is the platform's decision, and the simulation records it as such.

A transient failure can hide a success: the platform applied the call and its answer was lost (a
dependency went away between the write and the reply). The router refuses a command applied
twice with a rule saying so (`already_accepted`...), so such a refusal of a retry is the earlier
attempt's success, not a refusal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from helpline.failures import Backoff

T = TypeVar("T")

RETRIED = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED, grpc.StatusCode.DEADLINE_EXCEEDED})
# Short enough that a recovered platform hears from its clients within a couple of seconds.
BACKOFF = Backoff(initial_s=0.1, cap_s=2.0)


class RefusedError(Exception):
    """The platform's answer to a call, other than a transient failure."""

    def __init__(self, code: grpc.StatusCode, details: str, *, retried: bool) -> None:
        super().__init__(f"{code.name} {details}")
        self.code = code
        self.details = details
        # An earlier attempt failed transiently: it may have been applied.
        self.retried = retried

    def landed(self, done_rule: str) -> bool:
        """The call was refused because an earlier attempt of it was applied: `done_rule` is the
        rule the platform refuses it with once it has happened."""
        return (
            self.retried
            and bool(done_rule)
            and self.code == grpc.StatusCode.FAILED_PRECONDITION
            and self.details.startswith(f"{done_rule}:")
        )


async def answered(call: Callable[[], Awaitable[T]], backoff: Backoff = BACKOFF) -> T:
    """`call()`'s answer, made again after every transient failure until there is one; any other
    failure raises RefusedError."""
    failures = 0
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in RETRIED:
                raise RefusedError(exc.code(), exc.details() or "", retried=failures > 0) from exc
        failures += 1
        await asyncio.sleep(backoff.delay(failures))
