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

A busy worker makes one round trip to Redis per attempt: the script that records an outcome also
claims the worker's next lane and returns its head.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urlsplit, urlunsplit

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from helpline.clock import Clock
from helpline.logging import get_logger
from helpline.polling import PollingWorker, Wake
from services.notify.domain import signing
from services.notify.domain.delivery import CONTENT_TYPE, Delivery, Status, bounded_error
from services.notify.domain.schedule import RetrySchedule, should_disable
from services.notify.domain.targets import IPAddress, TargetError, check_resolved, literal_address
from services.notify.facts import dead_lettered, subscription_disabled
from services.notify.store import STALE, Claimed, NotifyStore, from_ms

log = get_logger(__name__)

USER_AGENT = "Helpline-Webhooks/1"
# The most of an answer's body read (and dropped): a receiver's answer is a status, its body unused.
MAX_ANSWER_BYTES = 64 * 1024

Resolve = Callable[[str, int], list[IPAddress]]


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


# Lanes one round attempts back to back before it refreshes the backlog gauge and starts again.
CHAIN_MAX = 100

# Gauges are scraped every few seconds: refreshing them more often only costs round trips.
REPORT_INTERVAL_S = 1.0


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry, backlog: Callable[[], int]) -> None:
        self.deliveries = Counter(
            "helpline_webhook_deliveries",
            "Webhook delivery attempts by outcome: delivered (2xx), failed (retried later), "
            "dead_lettered (the last attempt failed, or the delivery was refused on arrival for a "
            "full backlog).",
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
        self.timeout_s = timeout_s
        # No redirects (a 3xx is a failure: following one would reach a target nobody checked), no
        # proxy or netrc from the environment, and no cookies: httpx keeps a cookie a target sets and
        # sends it on to every target at that address, another tenant's too. A policy allowing no
        # domain takes none.
        self.client = httpx.Client(
            timeout=timeout_s,
            follow_redirects=False,
            trust_env=False,
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
        )

    def close(self) -> None:
        self.client.close()

    def post(self, url: str, delivery_id: str, body: bytes, secret: str, now: datetime) -> Attempt:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            # An IP literal is its own only address: no lookup to pay on every attempt.
            given = literal_address(host)
            found = [given] if given is not None else self.resolver(host, port)
            address = check_resolved(host, found, allow_private=self.allow_private)
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
            with self.client.stream(
                "POST", pinned, content=body, headers=headers, extensions=extensions
            ) as answer:
                code = answer.status_code
                self._drain(answer)
        except httpx.HTTPError as exc:
            return Attempt(0, f"{type(exc).__name__}: {exc}")
        return Attempt(code, "" if 200 <= code < 300 else f"HTTP {code}")

    def _drain(self, answer: httpx.Response) -> None:
        """Read the answer's body to its end, so its connection goes back to the pool for the next
        attempt (one left unread is closed, and every delivery would pay a new connection), but
        only up to MAX_ANSWER_BYTES and for the attempt's timeout in all: a target cannot make the
        worker hold a large answer or trickle one forever. Past either, the connection is closed."""
        deadline = time.monotonic() + self.timeout_s
        read = 0
        try:
            for chunk in answer.iter_raw():
                read += len(chunk)
                if read > MAX_ANSWER_BYTES or time.monotonic() > deadline:
                    return
        except httpx.HTTPError:
            # The status already answered the attempt; a body cut short only costs the connection.
            return


class DeliveryWorker(PollingWorker):
    def __init__(
        self,
        name: str,
        open_store: Callable[[], NotifyStore],
        sender: Sender,
        clock: Clock,
        schedule: RetrySchedule,
        *,
        disable_after: timedelta,
        retention: timedelta,
        lease_seconds: float,
        poll_seconds: float,
        metrics: DeliveryMetrics,
        wake: Wake,
    ) -> None:
        super().__init__(name, poll_seconds, again_when_busy=True, wake=wake)
        self.open_store = open_store
        self._store: NotifyStore | None = None
        self.sender = sender
        self.clock = clock
        self.schedule = schedule
        self.disable_after = disable_after
        self.retention_ms = int(retention.total_seconds() * 1000)
        # Longer than an attempt (the HTTP timeout): a lane is not attempted by two replicas at once.
        self.lease_ms = int(lease_seconds * 1000)
        self.metrics = metrics
        # Bound once: a labelled child is looked up under a lock on every call otherwise.
        self._delivered = metrics.deliveries.labels("delivered")
        self._failed = metrics.deliveries.labels("failed")
        self._dead = metrics.deliveries.labels("dead_lettered")

    @property
    def store(self) -> NotifyStore:
        """The worker's own store, on a Redis connection no other thread uses: a round trip then
        skips the pool's checkout and its probe of the socket, and the worker pays one round trip
        an attempt and no more. Opened at the first round, not before, so the process starts while
        Redis is away."""
        if self._store is None:
            self._store = self.open_store()
        return self._store

    def run(self) -> None:
        try:
            super().run()
        except BaseException:
            # The runtime starts a worker that failed again: on a connection taken from the pool
            # anew, as only a checkout asks the Sentinels for the primary (a Sentinel-managed
            # connection kept reconnects to the address it had, the dead primary's after a failover).
            self._close_store()
            raise
        if self.stopping:
            self._close_store()

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def run_once(self) -> int:
        """Attempt lane after lane while lanes are due, each next one claimed on the round trip that
        records the last attempt's outcome, up to CHAIN_MAX; how many were attempted."""
        self.metrics.report()
        claimed = self.store.claim(self.clock.now(), self.lease_ms)
        attempted = 0
        while claimed is not None:
            attempted += 1
            more = attempted < CHAIN_MAX and not self.stopping
            claimed = self.attempt(claimed, claim_next=more)
        return attempted

    def attempt(self, claimed: Claimed, *, claim_next: bool) -> Claimed | None:
        """Attempt the claimed lane's head once and record the outcome; the next lane claimed with
        it when `claim_next`."""
        stored, delivery, lane = claimed.stored, claimed.delivery, claimed.lane
        if stored is None:
            self.store.park(lane)
            return None
        sub = stored.subscription
        now = self.clock.now()
        result = self.sender.post(sub.url, delivery.id, claimed.body, sub.secret, now)
        done = self.clock.now()
        lease_ms = self.lease_ms if claim_next else 0
        if result.ok:
            delivered = delivery.delivered(done, result.status_code)
            _, following = self._record(delivery, delivered, done, lease_ms)
            self._delivered.inc()
            self.metrics.latency.observe(max(0.0, (done - delivery.event_time).total_seconds()))
            return following
        after = delivery.failed(
            done, result.status_code, result.error, self.schedule.after_failure(delivery.attempts + 1, done)
        )
        failing, following = self._record(delivery, after, done, lease_ms)
        dead = after.status is Status.DEAD
        (self._dead if dead else self._failed).inc()
        log.info(
            "webhook attempt failed",
            subscription_id=sub.id,
            delivery_id=delivery.id,
            attempts=after.attempts,
            status_code=result.status_code,
            error=bounded_error(result.error),
            dead=dead,
        )
        if failing not in (0, STALE) and should_disable(from_ms(failing), done, self.disable_after):
            record = subscription_disabled(lane.tenant_id, sub.id, from_ms(failing), done, after.last_error)
            reason = f"failing since {from_ms(failing).isoformat()}: {after.last_error}"
            if self.store.disable(lane.tenant_id, sub.id, failing, bounded_error(reason), record):
                self.metrics.disabled.inc()
                log.warning("webhook subscription disabled", subscription_id=sub.id, reason=reason)
        return following

    def _record(
        self, before: Delivery, after: Delivery, now: datetime, lease_ms: int
    ) -> tuple[int, Claimed | None]:
        outcome = {Status.DELIVERED: "delivered", Status.DEAD: "dead"}.get(after.status, "retry")
        records = [dead_lettered(after, now)] if outcome == "dead" else []
        return self.store.outcome(
            before, after, outcome, now, self.retention_ms, records, claim_lease_ms=lease_ms
        )
