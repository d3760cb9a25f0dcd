"""retry_on_conflict: the read-decide-commit loop every service's optimistic writes go through."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from helpline.failures import is_transient
from helpline.optimistic import ATTEMPTS, ContendedError, retry_on_conflict


class LostError(Exception):
    pass


def losing(times: int) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def attempt() -> str:
        calls.append(len(calls))
        if len(calls) <= times:
            raise LostError
        return "committed"

    return calls, attempt


def test_a_lost_race_is_decided_again_until_it_commits() -> None:
    calls, attempt = losing(ATTEMPTS - 1)
    assert retry_on_conflict(attempt, "ticket t1", conflict=LostError) == "committed"
    assert len(calls) == ATTEMPTS


def test_losing_every_race_is_contended_and_transient() -> None:
    calls, attempt = losing(ATTEMPTS)
    with pytest.raises(ContendedError, match="ticket t1 is changing too fast") as raised:
        retry_on_conflict(attempt, "ticket t1", conflict=LostError)
    assert len(calls) == ATTEMPTS
    assert isinstance(raised.value.__cause__, LostError)
    assert is_transient(raised.value)


def test_the_limit_is_the_callers_to_set() -> None:
    calls, attempt = losing(5)
    with pytest.raises(ContendedError):
        retry_on_conflict(attempt, "agent a1", conflict=LostError, attempts=2)
    assert len(calls) == 2


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        raise KeyError("x")

    with pytest.raises(KeyError):
        retry_on_conflict(attempt, "queue q1", conflict=LostError)
    assert calls == [1]
