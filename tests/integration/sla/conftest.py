"""The SLA service's parts on the real Redis, with a clock the tests move, and one tenant each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis

from helpline.clock import FakeClock
from services.sla.store import TIMERS, SlaStore

START = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def store(redis_client: redis.Redis) -> SlaStore:
    # One timer set serves every tenant: a test starts without another test's timers coming due.
    redis_client.delete(TIMERS)
    return SlaStore(redis_client)


@pytest.fixture
def tenant(unique: str) -> str:
    return f"t{unique}"
