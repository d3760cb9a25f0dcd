"""A service's readiness: the checks of its dependencies (Redis, Kafka) and the probe that runs them,
each with a timeout, so a stuck one answers 503 instead of hanging. Liveness (/healthz) needs none
of this: it stays cheap, with no I/O, so a slow dependency does not get the process restarted."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from concurrent import futures
from typing import Any

import redis

from helpline.kafka import clients
from helpline.kafka.port import Admin
from helpline.logging import get_logger

log = get_logger(__name__)

Check = Callable[[], bool]

DEFAULT_CHECK_TIMEOUT_S = 2.0


class Readiness:
    """Runs the checks in a small pool with a deadline.

    A check still running from an earlier probe is awaited again rather than started twice, so a
    hung dependency holds at most one thread per check however often the probe comes. The mapping
    is kept, not copied: a part of the service built after the app adds its own check to it.
    """

    def __init__(self, checks: Mapping[str, Check], timeout_s: float) -> None:
        self._checks = checks
        self._timeout_s = timeout_s
        self._pool: futures.ThreadPoolExecutor | None = None
        self._in_flight: dict[str, futures.Future[bool]] = {}
        self._last_ok: dict[str, bool] = {}
        self._lock = threading.Lock()

    def _future(self, name: str) -> futures.Future[bool]:
        with self._lock:
            running = self._in_flight.get(name)
            if running is None or running.done():
                if self._pool is None:
                    # Built on first use (and again after close), not when the app is assembled.
                    self._pool = futures.ThreadPoolExecutor(
                        max_workers=max(1, len(self._checks)), thread_name_prefix="readyz"
                    )
                running = self._pool.submit(self._checks[name])
                self._in_flight[name] = running
            return running

    async def run(self) -> dict[str, dict[str, Any]]:
        pending = {name: asyncio.wrap_future(self._future(name)) for name in self._checks}
        if pending:
            await asyncio.wait(pending.values(), timeout=self._timeout_s)
        results: dict[str, dict[str, Any]] = {}
        for name, fut in pending.items():
            if not fut.done():
                # Drops only this probe's wrapper (a running check cannot be interrupted; the next probe
                # awaits it again), so its late outcome is not reported as never retrieved.
                fut.cancel()
                results[name] = {"ok": False, "error": f"timed out after {self._timeout_s:g} s"}
            elif fut.cancelled():
                results[name] = {"ok": False, "error": "cancelled before it ran"}
            elif fut.exception() is not None:
                results[name] = {"ok": False, "error": _describe(fut.exception())}
            elif fut.result() is not True:
                results[name] = {"ok": False, "error": "check returned false"}
            else:
                results[name] = {"ok": True}
            self._log_change(name, results[name])
        return results

    def _log_change(self, name: str, result: dict[str, Any]) -> None:
        # Probes come every few seconds; log transitions, not every answer.
        ok = bool(result["ok"])
        if self._last_ok.get(name) != ok:
            self._last_ok[name] = ok
            if ok:
                log.info("readiness check passing", check=name)
            else:
                log.warning("readiness check failing", check=name, error=result.get("error"))

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            self._in_flight.clear()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        for check in self._checks.values():
            close = getattr(check, "close", None)
            if callable(close):
                close()


def _describe(exc: BaseException | None) -> str:
    text = str(exc)
    name = type(exc).__name__
    # Some libraries (kafka-python) already start their message with the class name.
    return text if text.startswith(name) else f"{name}: {text}"


def redis_check(client: redis.Redis) -> Check:
    """PING on the service's own client, so readiness tests the connection pool the service uses."""

    def check() -> bool:
        return bool(client.ping())

    return check


class KafkaCheck:
    """A metadata request to the cluster, through one admin client built on first use and reused."""

    def __init__(
        self,
        bootstrap: str,
        timeout_s: float = DEFAULT_CHECK_TIMEOUT_S,
        kafka_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._options = dict(kafka_options or {})
        self._timeout_s = timeout_s
        self._admin: Admin | None = None
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        with self._lock:
            try:
                if self._admin is None:
                    self._admin = clients.admin(
                        self._bootstrap, "helpline-readiness", self._timeout_s, **self._options
                    )
                self._admin.topics()
            except Exception:
                # A client that failed may be left half-connected; start afresh on the next probe.
                self._close_admin()
                raise
            return True

    def _close_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                admin.close()
            except Exception as exc:  # closing a broken client is best effort
                log.debug("closing kafka admin client failed", error=str(exc))

    def close(self) -> None:
        with self._lock:
            self._close_admin()


def kafka_check(
    bootstrap: str,
    timeout_s: float = DEFAULT_CHECK_TIMEOUT_S,
    kafka_options: Mapping[str, Any] | None = None,
) -> KafkaCheck:
    return KafkaCheck(bootstrap, timeout_s, kafka_options)
