"""Settings come from HELPLINE_* variables, and the README documents every one of them."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from helpline.local_stack import REPO_ROOT
from helpline.settings import Settings, load_settings


def test_environment_is_read_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_KAFKA_BOOTSTRAP", "broker-1:9092,broker-2:9092")
    monkeypatch.setenv("HELPLINE_CONSUMER_MAX_RETRIES", "7")
    settings = load_settings()
    assert settings.kafka_bootstrap == "broker-1:9092,broker-2:9092"
    assert settings.consumer_max_retries == 7


def test_overrides_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_SERVICE_NAME", "from-env")
    assert load_settings(service_name="router").service_name == "router"


def test_bad_values_are_refused_with_the_field_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_HTTP_PORT", "70000")
    with pytest.raises(ValidationError, match="http_port"):
        load_settings()


def test_readme_documents_every_setting() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `(HELPLINE_[A-Z_]+)` \|", readme, flags=re.MULTILINE))
    expected = {f"HELPLINE_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected
