"""Progress lines on the terminal, past pytest's output capture, for the suites whose runs take
minutes (tests/compose, tests/kube): their steps say what they wait for."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Protocol

import pytest


class Reporter(Protocol):
    """A module that reports its progress through `progress_sink`, `_print` when nothing is set."""

    progress_sink: Callable[[str], None]

    def _print(self, line: str) -> None: ...


def on_the_terminal(pytestconfig: pytest.Config, reporter: Reporter) -> Iterator[None]:
    """Send the reporter's lines to the terminal for the session; its own printer afterwards."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")

    def show(line: str) -> None:
        with capture.global_and_fixture_disabled():
            sys.stderr.write(f"\n{line}")
            sys.stderr.flush()

    reporter.progress_sink = show
    yield
    reporter.progress_sink = reporter._print
