"""Settings come from HELPLINE_* variables, and the README documents every one of them."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from devstack.local_stack import REPO_ROOT
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


def test_kafka_options_carry_sasl_and_tls_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().kafka_options() == {"client": "confluent", "security_protocol": "PLAINTEXT"}
    monkeypatch.setenv("HELPLINE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("HELPLINE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("HELPLINE_KAFKA_SASL_USERNAME", "helpline")
    monkeypatch.setenv("HELPLINE_KAFKA_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("HELPLINE_KAFKA_SSL_CAFILE", "/etc/kafka/ca.pem")
    settings = load_settings()
    assert settings.kafka_options() == {
        "client": "confluent",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "helpline",
        "sasl_plain_password": "s3cret",
        "ssl_cafile": "/etc/kafka/ca.pem",
    }
    assert "s3cret" not in repr(settings)


def test_a_sasl_protocol_without_a_user_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    with pytest.raises(ValidationError, match="HELPLINE_KAFKA_SASL_USERNAME"):
        load_settings()


def test_more_in_sync_replicas_than_replicas_is_refused() -> None:
    with pytest.raises(ValidationError, match="HELPLINE_TOPIC_MIN_INSYNC_REPLICAS"):
        load_settings(topic_replication_factor=3, topic_min_insync_replicas=4)
    layout = load_settings(topic_replication_factor=3, topic_min_insync_replicas=2).topic_layout()
    assert layout == {"partitions": 0, "replication_factor": 3, "min_insync_replicas": 2}
    # The broker's defaults: nothing to check the in-sync count against.
    assert load_settings(topic_min_insync_replicas=2).topic_replication_factor == -1
