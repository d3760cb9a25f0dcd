"""The timer worker: every replica claims due warnings and breaches from the shared sorted set and
fires them. Nothing waits in process memory: a timer is in Redis from the change that set it until
the change that fired or dropped it, so a restart or a crash in the middle loses none (a claimed
timer whose replica died comes due again when its lease runs out)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, Histogram

from helpline.clock import Clock
from helpline.logging import get_logger
from helpline.polling import PollingWorker
from services.sla.store import SlaStore, Subject, TimerKey

log = get_logger(__name__)

BATCH = 500

Fire = Callable[[TimerKey, datetime], None]


class TimerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.lag = Histogram(
            "helpline_sla_timer_lag_seconds",
            "From a warning's or breach's due instant to the replica firing it.",
            ["subject", "trigger"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=registry,
        )


class TimerWorker(PollingWorker):
    def __init__(
        self,
        store: SlaStore,
        clock: Clock,
        handlers: Mapping[Subject, Fire],
        *,
        poll_seconds: float = 0.1,
        lease_seconds: float = 30.0,
        metrics: TimerMetrics | None = None,
    ) -> None:
        super().__init__("sla timers", poll_seconds, again_when_busy=True)
        self.store = store
        self.clock = clock
        self.handlers = handlers
        # Long enough to fire a batch; a replica that dies holding one, or a timer whose handler
        # failed, comes due again this much later.
        self.lease_ms = int(lease_seconds * 1000)
        self.metrics = metrics

    def run_once(self) -> int:
        """Claim and fire what is due now; returns how many were claimed."""
        now = self.clock.now()
        claimed = self.store.claim(now, BATCH, self.lease_ms)
        for timer, due in claimed:
            if self.stopping:
                # Left claimed: they come due again when the lease runs out.
                break
            self._fire(timer, due)
        return len(claimed)

    def _fire(self, timer: TimerKey, due: datetime) -> None:
        try:
            self.handlers[timer.subject](timer, self.clock.now())
        except Exception:  # one bad timer must not stop the others; its lease brings it back
            log.exception("timer failed; tried again when its claim runs out", timer=timer.member)
            return
        if self.metrics:
            lag = max(0.0, (self.clock.now() - due).total_seconds())
            self.metrics.lag.labels(timer.subject, timer.trigger).observe(lag)
