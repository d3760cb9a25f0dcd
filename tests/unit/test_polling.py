"""PollingWorker: the loop the router's and the SLA's timers and the tickets' auto-close run on."""

from __future__ import annotations

import threading
import time

import pytest

from helpline.polling import PollingWorker, Wake


class Rounds(PollingWorker):
    """Finds `backlog` items of work, one a round, then none; stops itself after `rounds` rounds."""

    def __init__(
        self,
        *,
        backlog: int,
        rounds: int,
        again_when_busy: bool,
        interval_s: float = 0.5,
        wake: Wake | None = None,
    ) -> None:
        super().__init__("test rounds", interval_s, again_when_busy=again_when_busy, wake=wake)
        self.backlog = backlog
        self.rounds = rounds
        self.times: list[float] = []

    def run_once(self) -> int:
        self.times.append(time.monotonic())
        if len(self.times) >= self.rounds:
            self.stop()
        found = 1 if self.backlog else 0
        self.backlog -= found
        return found


def gaps(worker: Rounds) -> list[float]:
    return [later - earlier for earlier, later in zip(worker.times, worker.times[1:], strict=False)]


def test_a_busy_round_is_followed_at_once_and_an_idle_one_waits() -> None:
    worker = Rounds(backlog=3, rounds=5, again_when_busy=True)
    worker.run()
    busy, idle = gaps(worker)[:3], gaps(worker)[3:]
    assert all(gap < 0.25 for gap in busy)
    assert all(gap >= 0.5 for gap in idle)


def test_without_again_when_busy_every_round_waits() -> None:
    worker = Rounds(backlog=3, rounds=3, again_when_busy=False)
    worker.run()
    assert all(gap >= 0.5 for gap in gaps(worker))


def test_stop_ends_the_wait_at_once() -> None:
    worker = Rounds(backlog=0, rounds=1_000, again_when_busy=True, interval_s=60)
    thread = threading.Thread(target=worker.run)
    thread.start()
    while not worker.times:
        time.sleep(0.01)
    started = time.monotonic()
    worker.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1
    assert worker.stopping


def test_a_failed_round_raises_out_of_run_for_the_runtime_to_handle() -> None:
    class Failing(Rounds):
        def run_once(self) -> int:
            raise ConnectionError("redis away")

    with pytest.raises(ConnectionError):
        Failing(backlog=0, rounds=1, again_when_busy=True).run()


def test_wait_first_puts_the_first_round_one_interval_after_the_start() -> None:
    class Once(Rounds):
        def __init__(self) -> None:
            PollingWorker.__init__(self, "test once", 0.3, again_when_busy=False, wait_first=True)
            self.backlog = 0
            self.rounds = 1
            self.times = []

    worker = Once()
    started = time.monotonic()
    worker.run()
    assert worker.times[0] - started >= 0.3


def test_a_pause_inside_a_round_ends_when_stopped() -> None:
    worker = Rounds(backlog=0, rounds=1, again_when_busy=False)
    assert not worker.pause(0.01)
    threading.Timer(0.05, worker.stop).start()
    started = time.monotonic()
    assert worker.pause(60)
    assert time.monotonic() - started < 5


def _idle_pollers(wake: Wake, count: int) -> tuple[list[Rounds], list[threading.Thread]]:
    """`count` pollers with nothing to do and a minute's interval, each idle after its first round."""
    pollers = [
        Rounds(backlog=0, rounds=1_000, again_when_busy=True, interval_s=60, wake=wake) for _ in range(count)
    ]
    threads = [threading.Thread(target=p.run) for p in pollers]
    for thread in threads:
        thread.start()
    while not all(p.times for p in pollers):
        time.sleep(0.01)
    time.sleep(0.1)
    return pollers, threads


def test_a_nudge_sends_as_many_idle_pollers_round_at_once_as_it_names() -> None:
    wake = Wake()
    pollers, threads = _idle_pollers(wake, 3)
    wake.nudge(2)
    deadline = time.monotonic() + 5
    while sum(len(p.times) for p in pollers) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert sorted(len(p.times) for p in pollers) == [1, 2, 2]
    started = time.monotonic()
    pollers[0].stop()
    for poller in pollers[1:]:
        poller.stop()
    for thread in threads:
        thread.join(timeout=5)
    # Stopping ends every idle wait at once, a minute's interval or not.
    assert time.monotonic() - started < 1
    assert not any(thread.is_alive() for thread in threads)
