"""When a failed delivery is tried again, when it is dead-lettered, and when a failing subscription
is disabled.

The default schedule follows the Standard Webhooks providers' practice (Svix's among them): a first
attempt at once, then waits that grow from seconds to hours, 22 h 42 min 35 s in all, so a target
down for most of a day still gets every event, in order. After the last attempt fails the delivery
is dead-lettered. A subscription whose deliveries have failed with no success in between for the
disable window (24 h) is disabled: its target is gone for good, or its owner has to act.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from helpline.domain import DomainError

# The wait before each attempt, the first at once.
DEFAULT_SCHEDULE_S: tuple[float, ...] = (0, 5, 30, 120, 600, 1800, 3600, 10800, 21600, 43200)
DEFAULT_DISABLE_AFTER = timedelta(hours=24)
MAX_ATTEMPTS = 50


@dataclass(frozen=True)
class RetrySchedule:
    """`waits[i]` is the wait before attempt i + 1 after attempt i failed (`waits[0]` before the
    first attempt), so there are len(waits) attempts in all."""

    waits: tuple[timedelta, ...]

    @classmethod
    def of_seconds(cls, waits: Sequence[float]) -> RetrySchedule:
        if not 1 <= len(waits) <= MAX_ATTEMPTS:
            raise DomainError(
                "invalid_schedule", f"a schedule has 1 to {MAX_ATTEMPTS} attempts, not {len(waits)}"
            )
        if any(wait < 0 for wait in waits):
            raise DomainError("invalid_schedule", "a schedule's waits may not be negative")
        return cls(tuple(timedelta(seconds=wait) for wait in waits))

    @property
    def attempts(self) -> int:
        return len(self.waits)

    @property
    def first_wait(self) -> timedelta:
        return self.waits[0]

    def after_failure(self, attempts_made: int, now: datetime) -> datetime | None:
        """When the next attempt is due after the `attempts_made`-th failed; None when that was the
        last (the delivery is dead-lettered)."""
        if attempts_made >= self.attempts:
            return None
        return now + self.waits[attempts_made]


def should_disable(failing_since: datetime | None, now: datetime, window: timedelta) -> bool:
    """A subscription is disabled once its deliveries have failed, without a success in between,
    since at least `window` ago. `failing_since` is its first failure after its last success (None
    while it has not failed since)."""
    return failing_since is not None and now - failing_since >= window
