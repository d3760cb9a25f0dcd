"""The metrics service's retentions come from its settings, and the first-contact solve is never
forgotten inside the FCR window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.metrics.app import MetricsSettings
from services.metrics.domain.kpis import FCR_REOPEN_WINDOW
from services.metrics.state import Retention


def test_the_defaults_are_the_documented_retentions() -> None:
    assert MetricsSettings().retention() == Retention(
        answered=timedelta(days=1),
        closed_ticket=timedelta(days=30),
        first_contact_solve=timedelta(days=8),
        removed_agent=timedelta(days=7),
        delivered=timedelta(hours=1),
    )


def test_each_retention_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_ANSWER_MARKER_RETENTION_SECONDS", "3600")
    monkeypatch.setenv("HELPLINE_CLOSED_TICKET_MARKER_RETENTION_SECONDS", "86400")
    monkeypatch.setenv("HELPLINE_FCR_MARKER_RETENTION_SECONDS", "864000")
    monkeypatch.setenv("HELPLINE_REMOVED_AGENT_MARKER_RETENTION_SECONDS", "60.5")
    monkeypatch.setenv("HELPLINE_DELIVERY_MARKER_RETENTION_SECONDS", "7200")
    assert MetricsSettings().retention() == Retention(
        answered=timedelta(hours=1),
        closed_ticket=timedelta(days=1),
        first_contact_solve=timedelta(days=10),
        removed_agent=timedelta(seconds=60.5),
        delivered=timedelta(hours=2),
    )


def test_a_first_contact_solve_is_kept_for_the_fcr_window_at_least() -> None:
    assert MetricsSettings().fcr_reopen_window_seconds == FCR_REOPEN_WINDOW.total_seconds()
    MetricsSettings(fcr_marker_retention_seconds=FCR_REOPEN_WINDOW.total_seconds())
    with pytest.raises(ValidationError, match="fcr_marker_retention_seconds"):
        MetricsSettings(fcr_marker_retention_seconds=FCR_REOPEN_WINDOW.total_seconds() - 1)


def test_a_shorter_fcr_window_lets_the_solve_be_forgotten_sooner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_FCR_REOPEN_WINDOW_SECONDS", "3600")
    monkeypatch.setenv("HELPLINE_FCR_MARKER_RETENTION_SECONDS", "3600")
    assert MetricsSettings().retention().first_contact_solve == timedelta(hours=1)
    with pytest.raises(ValidationError, match=r"under fcr_reopen_window_seconds \(3600\)"):
        MetricsSettings(fcr_marker_retention_seconds=3599)


@pytest.mark.parametrize(
    "name",
    [
        "answer_marker_retention_seconds",
        "closed_ticket_marker_retention_seconds",
        "removed_agent_marker_retention_seconds",
        "delivery_marker_retention_seconds",
        "fcr_reopen_window_seconds",
    ],
)
def test_a_retention_is_positive(name: str) -> None:
    values: dict[str, Any] = {name: 0}
    with pytest.raises(ValidationError, match=name):
        MetricsSettings(**values)
