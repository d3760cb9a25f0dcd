"""Optimistic writes: read, decide, commit only if nothing changed meanwhile, and on a lost race
decide again on fresh state. Every service's read-decide-commit loop is this one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from helpline.failures import TransientError

T = TypeVar("T")

# Each attempt decides again on state read afresh, so losing this often means a livelock with
# other writers of the same record rather than bad luck; the caller hears so and may try later.
ATTEMPTS = 8


class ContendedError(TransientError):
    """Every attempt lost a race; the caller may try again."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is changing too fast; try again")


def retry_on_conflict(
    attempt: Callable[[], T],
    what: str,
    *,
    conflict: type[Exception] | tuple[type[Exception], ...],
    attempts: int = ATTEMPTS,
) -> T:
    """`attempt()` again while it raises `conflict` (its store's lost-race error); past `attempts`
    losses, ContendedError naming `what`, caused by the last loss."""
    lost: Exception | None = None
    for _ in range(attempts):
        try:
            return attempt()
        except conflict as exc:
            lost = exc
    raise ContendedError(what) from lost
