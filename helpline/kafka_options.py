"""Kafka client options from kafka-python's names to librdkafka's.

The settings (`Settings.kafka_options`) and callers' overrides use kafka-python's names, which the
admin client and readiness check take as they are; the producer and the consumers, on librdkafka,
take them through here, so one set of settings configures every client of a process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SECURITY = {
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanism",
    "sasl_plain_username": "sasl.username",
    "sasl_plain_password": "sasl.password",
    "ssl_cafile": "ssl.ca.location",
}


def translate(options: Mapping[str, Any], names: Mapping[str, str] = SECURITY) -> dict[str, Any]:
    """`options` under librdkafka's names; one outside `names` is refused, naming the known ones."""
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ValueError(f"unknown Kafka client option {unknown[0]!r}; known: {sorted(names)}")
    return {names[name]: value for name, value in options.items()}
