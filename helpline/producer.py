"""The Kafka producer every Helpline process writes with: librdkafka, through confluent-kafka.

The consumers (helpline.bus) are librdkafka's too; the topic admin and readiness check stay on
kafka-python. Relaying a routing decision's events through kafka-python's sender (pure Python, on
its own thread) cost about 2.5 ms of CPU a contact, a quarter of the router's, and that thread's
hold on the interpreter delayed the next contact (bench/router_latency). librdkafka batches,
sends and retries in C.

Options take kafka-python's names (helpline.kafka_options).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import confluent_kafka

from helpline.kafka_options import SECURITY, translate

Header = tuple[str, bytes]

# How long `send` waits for room in a full local queue before giving up, as kafka-python's
# max_block_ms did.
MAX_BLOCK_S = 60.0

# The largest record the producer sends (librdkafka's `message.max.bytes`): above the topics'
# `max.message.bytes` (helpline.topics), so the broker, whose limit is the topic's, is the one that
# refuses, and room for a dead-lettered record's extra headers.
MESSAGE_MAX_BYTES = 1_200_000

_K = confluent_kafka.KafkaError
# What the broker or librdkafka answers for a record that can never be written as it is. Anything
# else (no leader, not enough in-sync replicas, a timeout, no authorization yet) can pass once the
# cluster or its configuration is mended, so it is retried rather than given up on.
PERMANENT_CODES = frozenset(
    {
        _K.MSG_SIZE_TOO_LARGE,
        _K.RECORD_LIST_TOO_LARGE,
        _K.INVALID_MSG,
        _K.INVALID_MSG_SIZE,
        _K.INVALID_RECORD,
        _K.INVALID_TIMESTAMP,
        _K._INVALID_ARG,
        _K._BAD_MSG,
    }
)


def librdkafka_config(bootstrap: str, client_id: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Helpline's producer configuration with `options` (kafka-python's names) on top."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": 120_000,
        # Through Python's logging (JSON, levels) instead of librdkafka's own lines on stderr.
        "logger": logging.getLogger("helpline.producer.librdkafka"),
        # kafka-python's and the Java client's key hash: a key lands on the same partition whoever
        # writes it (librdkafka's own default hashes with CRC32).
        "partitioner": "murmur2_random",
        "message.max.bytes": MESSAGE_MAX_BYTES,
    }
    return config | translate(options, SECURITY | {"linger_ms": "linger.ms"})


class ProduceError(Exception):
    """A record not written: `permanent` when it never can be as it is (too large, invalid), else
    the cluster was away or slow and the same record can be sent again."""

    def __init__(self, message: str, *, code: int | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent

    @classmethod
    def of(cls, error: confluent_kafka.KafkaError | None, fallback: str) -> ProduceError:
        if error is None:
            return cls(fallback)
        return cls(
            f"{error.name()}: {error.str()}", code=error.code(), permanent=error.code() in PERMANENT_CODES
        )


class DeliveryError(ProduceError):
    """The broker refused a record, or librdkafka gave up on it (message.timeout.ms)."""


class ProduceTimeoutError(ProduceError):
    """No ack, or no room in the local queue, in time: the cluster is away or slow."""


@dataclass(frozen=True)
class Delivered:
    """Where the broker put a record."""

    topic: str
    partition: int
    offset: int


class Delivery:
    """A record's outcome. librdkafka reports it to whichever thread serves the producer's
    callbacks; `get` serves them itself while it waits."""

    def __init__(self, producer: confluent_kafka.Producer) -> None:
        self._producer = producer
        self._done = threading.Event()
        self._error: confluent_kafka.KafkaError | None = None
        self._delivered: Delivered | None = None

    def _report(self, error: confluent_kafka.KafkaError | None, message: confluent_kafka.Message) -> None:
        self._error = error
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if error is None and topic is not None and partition is not None and offset is not None:
            self._delivered = Delivered(topic, partition, offset)
        self._done.set()

    @property
    def done(self) -> bool:
        """The broker answered, either way: `get` returns at once."""
        return self._done.is_set()

    @property
    def succeeded(self) -> bool:
        """The broker acked the record."""
        return self._delivered is not None

    def get(self, timeout: float = 30.0) -> Delivered:
        """Wait for the broker's ack; raises DeliveryError or ProduceTimeoutError."""
        deadline = time.monotonic() + timeout
        while not self._done.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProduceTimeoutError(f"no ack from Kafka within {timeout} s")
            self._producer.poll(min(left, 0.1))
        if self._delivered is None:
            failed = ProduceError.of(self._error, "no delivery report")
            raise DeliveryError(str(failed), code=failed.code, permanent=failed.permanent)
        return self._delivered


class Producer:
    """Thread-safe; idempotent with acks from all in-sync replicas, so a partition keeps the order
    records were sent in even when a request is retried."""

    def __init__(self, bootstrap: str, client_id: str, **options: Any) -> None:
        self._producer = confluent_kafka.Producer(librdkafka_config(bootstrap, client_id, options))

    def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Sequence[Header] = ()
    ) -> Delivery:
        """Queue a record for sending; the returned Delivery says when it is durable. Raises
        ProduceError at once for a record librdkafka refuses itself (larger than it sends)."""
        delivery = Delivery(self._producer)
        deadline = time.monotonic() + MAX_BLOCK_S
        while True:
            try:
                self._producer.produce(
                    topic, value, key, headers=list(headers) or None, on_delivery=delivery._report
                )
                break
            except BufferError:
                # The local queue is full: serve acks to make room, as kafka-python's send blocked.
                if time.monotonic() > deadline:
                    raise ProduceTimeoutError(
                        f"the producer's queue stayed full for {MAX_BLOCK_S} s"
                    ) from None
                self._producer.poll(0.1)
            except confluent_kafka.KafkaException as exc:
                raise ProduceError.of(exc.args[0] if exc.args else None, str(exc)) from exc
        # Serves the callbacks of records acked meanwhile, so their Deliveries complete.
        self._producer.poll(0)
        return delivery

    def prepare(self, topic: str, timeout: float = 10.0) -> None:
        """Connect and learn the topic's partitions now, so the first send does not wait for them."""
        self._producer.list_topics(topic, timeout)

    def flush(self, timeout: float = 30.0) -> None:
        """Send everything queued now (linger ignored) and wait for the acks."""
        left = self._producer.flush(timeout)
        if left:
            raise ProduceTimeoutError(f"{left} records not acked within {timeout} s")

    def close(self, timeout: float = 10.0) -> None:
        """Flush; librdkafka's threads end when the producer is collected."""
        self.flush(timeout)
