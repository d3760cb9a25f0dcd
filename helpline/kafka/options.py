"""Kafka client options, named as kafka-python names them, and their librdkafka names.

The settings (`Settings.kafka_options`) and callers' overrides use kafka-python's names, so one set
of settings configures every client of a process whichever backend (helpline.kafka) runs it; the
librdkafka backend takes them through `translate`. `client` names the backend.
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


# Which backend runs a client (helpline.kafka.clients): the port's own option, taken by no client.
CLIENT = "client"
BACKENDS = ("confluent", "kafka-python")


def check(options: Mapping[str, Any], names: Mapping[str, str] = SECURITY) -> None:
    """Refuse an option outside `names`, naming the known ones, before any client exists."""
    unknown = sorted(set(options) - set(names) - {CLIENT})
    if unknown:
        raise ValueError(f"unknown Kafka client option {unknown[0]!r}; known: {sorted(names)}")


def translate(options: Mapping[str, Any], names: Mapping[str, str] = SECURITY) -> dict[str, Any]:
    """`options` under librdkafka's names; one outside `names` is refused."""
    check(options, names)
    return {names[name]: value for name, value in options.items() if name != CLIENT}
