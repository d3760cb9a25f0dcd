"""The run's two clocks: simulated seconds, which the plan and the scenario speak, and the wall
clock the platform keeps, `speed` times slower. The ledger records wall-clock seconds since the
start, as the platform measures them."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime


class SimClock:
    def __init__(self, speed: float, started_at: datetime | None = None) -> None:
        """A clock started now, or at the wall-clock instant `started_at` (the queues' hours are
        laid on the wall clock from it): read on the monotonic clock from then on."""
        if speed <= 0:
            raise ValueError(f"a speed is positive, not {speed}")
        self.speed = speed
        ahead_s = 0.0 if started_at is None else (started_at - self.wall()).total_seconds()
        self._started = time.monotonic() + ahead_s

    def now(self) -> float:
        """Wall-clock seconds since the run started (negative before a start to come)."""
        return time.monotonic() - self._started

    def simulated(self) -> float:
        """Simulated seconds since the run started."""
        return self.now() * self.speed

    def between(self, sent: float) -> float:
        """When the platform acted on a call sent at `sent` and answered now: halfway between."""
        return (sent + self.now()) / 2

    def real(self, simulated_s: float) -> float:
        return simulated_s / self.speed

    async def until(self, simulated_s: float) -> None:
        await asyncio.sleep(max(0.0, self.real(simulated_s) - self.now()))

    async def pause(self, simulated_s: float) -> None:
        await asyncio.sleep(self.real(simulated_s))

    @staticmethod
    def wall() -> datetime:
        """The timestamp events carry."""
        return datetime.now(UTC)
