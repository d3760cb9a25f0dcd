"""Progress lines of the kube test on the terminal, past pytest's output capture: the run takes
minutes, and its steps say what they wait for."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kube import cluster
from tests.terminal_progress import on_the_terminal


@pytest.fixture(scope="session", autouse=True)
def _progress_on_the_terminal(pytestconfig: pytest.Config) -> Iterator[None]:
    yield from on_the_terminal(pytestconfig, cluster)
