"""The long tests that `make test` keeps to one pytest-xdist worker are named by existing modules: a
module renamed and not renamed in tests/conftest.py would run beside the others again."""

from __future__ import annotations

from tests.conftest import HEAVY_MODULES, TESTS


def test_every_heavy_module_exists() -> None:
    assert sorted(m for m in HEAVY_MODULES if not (TESTS / m).is_file()) == []
