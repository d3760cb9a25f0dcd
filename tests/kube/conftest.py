"""Progress lines of the kube test on the terminal, past pytest's output capture: the run takes
minutes, and its steps say what they wait for."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.kube import cluster


@pytest.fixture(scope="session", autouse=True)
def _progress_on_the_terminal(pytestconfig: pytest.Config) -> Iterator[None]:
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")

    def show(line: str) -> None:
        with capture.global_and_fixture_disabled():
            sys.stderr.write(f"\n{line}")
            sys.stderr.flush()

    cluster.progress_sink = show
    yield
    cluster.progress_sink = cluster._print
