"""The delivery workers: each claims a due lane from the set every replica shares, attempts the
lane's head once, records the outcome and moves on. Nothing waits in process memory: a delivery is
in Redis from the event that made it until it is delivered or dead, so a crash loses none (a lane
claimed by a replica that died comes due again when its lease runs out, and its head is attempted
again: at least once, with the same `webhook-id`, so the target drops the repeat).

An attempt resolves the target's host, refuses it if any address it resolves to is private
(DNS rebinding: unless HELPLINE_WEBHOOK_ALLOW_PRIVATE_TARGETS), and connects to the address it
checked, not to a second lookup's. A 2xx answer delivers; any other answer (redirects are not
followed), a timeout or a network error is a failed attempt, tried again on the schedule and
dead-lettered after its last. Redis away is ridden out by the service runtime: the worker is
started again after a backoff, and the lane, still claimed, comes due again.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from helpline.clock import Clock
from helpline.logging import get_logger
from helpline.polling import PollingWorker
from services.notify.domain import signing
from services.notify.domain.delivery import CONTENT_TYPE, Delivery, bounded_error
from services.notify.domain.schedule import RetrySchedule, should_disable
from services.notify.domain.targets import IPAddress, TargetError, check_resolved
from services.notify.facts import dead_lettered, subscription_disabled
from services.notify.store import STALE, LaneKey, NotifyStore, from_ms

log = get_logger(__name__)

USER_AGENT = "Helpline-Webhooks/1"

Resolve = Callable[[str, int], list[IPAddress]]


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


# Gauges are scraped every few seconds: refreshing them more often only costs round trips.
REPORT_INTERVAL_S = 1.0


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry, backlog: Callable[[], int]) -> None:
        self.deliveries = Counter(
            "helpline_webhook_deliveries",
            "Webhook delivery attempts by outcome: delivered (2xx), failed (retried later), "
            "dead_lettered (the last attempt failed).",
            ["outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "helpline_webhook_delivery_latency_seconds",
            "From an event's time to its delivery's 2xx answer.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400),
            registry=registry,
        )
        self.disabled = Counter(
            "helpline_webhook_subscriptions_disabled",
            "Subscriptions disabled after failing for the disable window.",
            registry=registry,
        )
        self.backlog = Gauge(
            "helpline_webhook_backlog",
            "Deliveries waiting to be delivered or dead-lettered, every tenant's.",
            registry=registry,
        )
        self._read_backlog = backlog
        self._reported_at = 0.0

    def report(self) -> None:
        """Refresh the backlog from Redis, at most every REPORT_INTERVAL_S whichever worker asks.
        Read by the workers, not at scrape time, so /metrics answers while Redis is away."""
        now = time.monotonic()
        if now - self._reported_at < REPORT_INTERVAL_S:
            return
        self._reported_at = now
        self.backlog.set(self._read_backlog())


class Attempt:
    """One POST of a delivery: its status code (0 without an answer) and its error ("" on 2xx)."""

    def __init__(self, status_code: int, error: str) -> None:
        self.status_code = status_code
        self.error = error

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


class Sender:
    """POSTs a signed CloudEvent to a target, pinned to the address it checked."""

    def __init__(self, *, timeout_s: float, allow_private: bool, resolver: Resolve = resolve) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        # No redirects (a 3xx is a failure: following one would reach a target nobody checked), no
        # proxy or netrc from the environment, no cookies kept between tenants.
        self.client = httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self.client.close()

    def post(self, url: str, delivery_id: str, body: bytes, secret: str, now: datetime) -> Attempt:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            address = check_resolved(host, self.resolver(host, port), allow_private=self.allow_private)
        except TargetError as exc:
            return Attempt(0, exc.message)
        except (OSError, UnicodeError) as exc:
            return Attempt(0, f"{host} does not resolve: {exc}")
        literal = f"[{address}]" if address.version == 6 else str(address)
        pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        headers = {
            "content-type": CONTENT_TYPE,
            "host": parts.netloc,
            "user-agent": USER_AGENT,
            **signing.headers(secret, delivery_id, int(now.timestamp()), body),
        }
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        try:
            # The answer's body is never read: a target cannot make the worker hold a large one.
            with self.client.stream(
                "POST", pinned, content=body, headers=headers, extensions=extensions
            ) as answer:
                code = answer.status_code
        except httpx.HTTPError as exc:
            return Attempt(0, f"{type(exc).__name__}: {exc}")
        return Attempt(code, "" if 200 <= code < 300 else f"HTTP {code}")


class DeliveryWorker(PollingWorker):
    def __init__(
        self,
        name: str,
        store: NotifyStore,
        sender: Sender,
        clock: Clock,
        schedule: RetrySchedule,
        *,
        disable_after: timedelta,
        retention: timedelta,
        lease_seconds: float,
        poll_seconds: float,
        metrics: DeliveryMetrics,
    ) -> None:
        super().__init__(name, poll_seconds, again_when_busy=True)
        self.store = store
        self.sender = sender
        self.clock = clock
        self.schedule = schedule
        self.disable_after = disable_after
        self.retention_ms = int(retention.total_seconds() * 1000)
        # Longer than an attempt (the HTTP timeout): a lane is not attempted by two replicas at once.
        self.lease_ms = int(lease_seconds * 1000)
        self.metrics = metrics

    def run_once(self) -> int:
        self.metrics.report()
        claimed = self.store.claim(self.clock.now(), 1, self.lease_ms)
        for lane in claimed:
            self.attempt(lane)
        return len(claimed)

    def attempt(self, lane: LaneKey) -> None:
        stored, head = self.store.next_attempt(lane)
        if stored is None or not stored.subscription.enabled or head is None:
            self.store.park(lane)
            return
        delivery, body = head
        now = self.clock.now()
        sub = stored.subscription
        result = self.sender.post(sub.url, delivery.id, body, sub.secret, now)
        done = self.clock.now()
        if result.ok:
            self._record(delivery, delivery.delivered(done, result.status_code), "delivered", done)
            self.metrics.deliveries.labels("delivered").inc()
            self.metrics.latency.observe(max(0.0, (done - delivery.event_time).total_seconds()))
            return
        after = delivery.failed(
            done, result.status_code, result.error, self.schedule.after_failure(delivery.attempts + 1, done)
        )
        outcome = "retry" if after.next_attempt_at is not None else "dead"
        failing = self._record(delivery, after, outcome, done)
        self.metrics.deliveries.labels("failed" if outcome == "retry" else "dead_lettered").inc()
        log.info(
            "webhook attempt failed",
            subscription_id=sub.id,
            delivery_id=delivery.id,
            attempts=after.attempts,
            status_code=result.status_code,
            error=bounded_error(result.error),
            dead=outcome == "dead",
        )
        if failing not in (0, STALE) and should_disable(from_ms(failing), done, self.disable_after):
            record = subscription_disabled(lane.tenant_id, sub.id, from_ms(failing), done, after.last_error)
            reason = f"failing since {from_ms(failing).isoformat()}: {after.last_error}"
            if self.store.disable(lane.tenant_id, sub.id, failing, bounded_error(reason), record):
                self.metrics.disabled.inc()
                log.warning("webhook subscription disabled", subscription_id=sub.id, reason=reason)

    def _record(self, before: Delivery, after: Delivery, outcome: str, now: datetime) -> int:
        records = [dead_lettered(after, now)] if outcome == "dead" else []
        return self.store.outcome(before, after, outcome, now, self.retention_ms, records)
