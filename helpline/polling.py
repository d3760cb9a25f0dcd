"""The loop of a worker that polls: a round every few seconds until stopped. The router's and the
SLA's timers, the router's queue snapshots and signature pruning, and the tickets' auto-close run
on it, each supplying its round. A round that fails
raises out of `run`: the service runtime (helpline.service, add_worker) backs off and starts the
worker again when the failure is a dependency's, and stops the process on any other."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

from helpline.logging import get_logger

log = get_logger(__name__)


class Wake:
    """What lets a producer of work wake pollers idle between rounds, so work found by another part
    of the process waits for no interval: `nudge(n)` sends up to n of the pollers idle on it round
    at once. A nudge while no poller is idle does nothing (a busy poller goes round anyway), and
    one that slips in just before a poller starts to idle is lost: that poller waits its interval,
    as it would without a Wake."""

    def __init__(self) -> None:
        self._idle = threading.Condition()

    def nudge(self, pollers: int = 1) -> None:
        with self._idle:
            self._idle.notify(pollers)

    def idle(self, seconds: float, stop: threading.Event) -> None:
        """Wait `seconds`, or until nudged or `stop` is set (checked under the lock `release`
        takes, so a stop is never missed)."""
        with self._idle:
            if not stop.is_set():
                self._idle.wait(seconds)

    def release(self) -> None:
        """End every poller's idle wait: one of them is stopping."""
        with self._idle:
            self._idle.notify_all()


class PollingWorker(ABC):
    """`run_once` every `interval_s` seconds, from `run` until `stop`. With `again_when_busy` a
    round that found work is followed at once by the next, so a backlog drains at full speed and
    only an idle poller waits. With `wait_first` the first round comes one interval after `run`
    starts rather than at once: for a rare, heavy round that every replica need not run at each
    start (or restart after a failure). With a `wake`, an idle poller also goes round as soon as
    the producer of its work nudges it."""

    def __init__(
        self,
        name: str,
        interval_s: float,
        *,
        again_when_busy: bool,
        wait_first: bool = False,
        wake: Wake | None = None,
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self.again_when_busy = again_when_busy
        self.wait_first = wait_first
        self.wake = wake
        self._stop = threading.Event()

    @abstractmethod
    def run_once(self) -> int:
        """One round; returns how much it found to do."""

    @property
    def stopping(self) -> bool:
        """True once `stop` was called: a long round checks it between items and returns early."""
        return self._stop.is_set()

    def pause(self, seconds: float) -> bool:
        """Wait `seconds` inside a round, or less if `stop` comes meanwhile; True when stopping."""
        return self._stop.wait(seconds)

    def stop(self) -> None:
        """Let the round in hand finish its item and return from `run`; safe from any thread."""
        self._stop.set()
        if self.wake is not None:
            self.wake.release()

    def run(self) -> None:
        log.info(f"{self.name} running", interval_s=self.interval_s)
        if self.wait_first:
            self._stop.wait(self.interval_s)
        while not self._stop.is_set():
            busy = self.run_once()
            if busy and self.again_when_busy:
                continue
            if self.wake is None:
                self._stop.wait(self.interval_s)
            else:
                self.wake.idle(self.interval_s, self._stop)
        log.info(f"{self.name} stopped")
