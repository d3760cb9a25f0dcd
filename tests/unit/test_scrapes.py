"""Scrapes: when /metrics was served, for a stopping process to wait for one more."""

from __future__ import annotations

import threading

from helpline.http_shell.metrics import Scrapes


def test_a_process_never_scraped_says_so() -> None:
    scrapes = Scrapes()
    assert not scrapes.any
    scrapes.served()
    assert scrapes.any


def test_the_wait_ends_with_the_next_scrape_and_not_with_an_earlier_one() -> None:
    scrapes = Scrapes()
    scrapes.served()
    assert not scrapes.wait_for_one(0.05)
    timer = threading.Timer(0.1, scrapes.served)
    timer.start()
    try:
        assert scrapes.wait_for_one(10)
    finally:
        timer.join()
