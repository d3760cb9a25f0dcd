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


class PollingWorker(ABC):
    """`run_once` every `interval_s` seconds, from `run` until `stop`. With `again_when_busy` a
    round that found work is followed at once by the next, so a backlog drains at full speed and
    only an idle poller waits. With `wait_first` the first round comes one interval after `run`
    starts rather than at once: for a rare, heavy round that every replica need not run at each
    start (or restart after a failure)."""

    def __init__(
        self, name: str, interval_s: float, *, again_when_busy: bool, wait_first: bool = False
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self.again_when_busy = again_when_busy
        self.wait_first = wait_first
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

    def run(self) -> None:
        log.info(f"{self.name} running", interval_s=self.interval_s)
        if self.wait_first:
            self._stop.wait(self.interval_s)
        while not self._stop.is_set():
            busy = self.run_once()
            if not (busy and self.again_when_busy):
                self._stop.wait(self.interval_s)
        log.info(f"{self.name} stopped")
