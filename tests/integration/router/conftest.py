"""The router's use cases on the real Redis, with a clock the tests move, and one tenant each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis

from helpline.clock import FakeClock
from services.router.composition import Router

START = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def router(redis_client: redis.Redis, clock: FakeClock) -> Router:
    return Router(redis_client, clock)


@pytest.fixture
def tenant(unique: str) -> str:
    return f"t{unique}"
