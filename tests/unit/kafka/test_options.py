"""kafka-python's option names, as the settings give them, to librdkafka's for its clients."""

from __future__ import annotations

import pytest

from helpline.bus import ConsumerLoop
from helpline.kafka import clients
from helpline.kafka.options import translate
from helpline.settings import load_settings


def test_the_security_settings_translate() -> None:
    settings = load_settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="helpline",
        kafka_sasl_password="secret",
        kafka_ssl_cafile="/etc/ca.pem",
    )
    assert translate(settings.kafka_options()) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": settings.kafka_sasl_mechanism,
        "sasl.username": "helpline",
        "sasl.password": "secret",
        "ssl.ca.location": "/etc/ca.pem",
    }


def test_an_unknown_option_is_refused_by_name_before_any_client_exists() -> None:
    with pytest.raises(ValueError, match=r"'batch_size'.*'security_protocol'"):
        translate({"security_protocol": "PLAINTEXT", "batch_size": 1})
    with pytest.raises(ValueError, match="'session_timeout_ms'"):
        ConsumerLoop(
            bootstrap="b:9092",
            group_id="g",
            topics=["t"],
            handler=lambda record: None,
            dlq_producer=clients.producer("127.0.0.1:1", "test"),
            session_timeout_ms=1000,
        )
