"""The one interface Helpline has to Kafka: what its producer, consumers and topic admin do, in
Helpline's terms, whichever client library a backend wraps (helpline.kafka.confluent, the default;
helpline.kafka.kafka_python).

Errors come out as KafkaError, marked `permanent` when the same call can never pass as it is, so
helpline.failures classifies them without knowing a client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple, Protocol

from helpline.records import Header, Record


class KafkaError(Exception):
    """A Kafka call failed: `permanent` when it never can as it is (a record too large or invalid, a
    fatal client state), else the cluster was away, slow or not ready and the same call can pass later.
    `code` is the client's own error code, where it has one."""

    def __init__(self, message: str, *, code: int | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent


class ProduceError(KafkaError):
    """A record not written."""


class DeliveryError(ProduceError):
    """The broker refused a record, or the client gave up on it (its delivery timeout)."""


class ProduceTimeoutError(ProduceError):
    """No ack, or no room in the local queue, in time: the cluster is away or slow."""


@dataclass(frozen=True)
class Delivered:
    """Where the broker put a record."""

    topic: str
    partition: int
    offset: int


class Delivery(Protocol):
    """A record's outcome, once the broker answers."""

    @property
    def done(self) -> bool:
        """The broker answered, either way: `get` returns at once."""

    @property
    def succeeded(self) -> bool:
        """The broker acked the record."""

    def get(self, timeout: float = 30.0) -> Delivered:
        """Wait for the broker's ack; raises DeliveryError or ProduceTimeoutError."""


class Producer(Protocol):
    """Thread-safe; idempotent with acks from all in-sync replicas, so a partition keeps the order
    records were sent in even when a request is retried."""

    def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Sequence[Header] = ()
    ) -> Delivery:
        """Queue a record; the returned Delivery says when it is durable. Raises ProduceError at once
        for a record the client refuses itself (larger than it sends)."""

    def prepare(self, topic: str, timeout: float = 10.0) -> None:
        """Connect and learn the topic's partitions now, so the first send does not wait for them."""

    def flush(self, timeout: float = 30.0) -> None:
        """Send everything queued now and wait for the acks; raises ProduceTimeoutError."""

    def close(self, timeout: float = 10.0) -> None:
        """Flush and let the client go."""


class TopicPartition(NamedTuple):
    topic: str
    partition: int


class Start(Enum):
    """Where an assigned partition is read from."""

    BEGINNING = "beginning"
    END = "end"


Partitions = Callable[[list[TopicPartition]], None]


class Consumer(Protocol):
    """A consumer that commits only when told. Transient fetch errors are the client's to retry; it
    logs them. Rebalance callbacks run on the thread that polls, inside `poll`."""

    def subscribe(
        self, topics: Sequence[str], *, on_assign: Partitions, on_revoke: Partitions, on_lost: Partitions
    ) -> None:
        """Join the group for `topics`; the callbacks hear of partitions assigned, revoked (commit
        now) and lost (another member has them already). Every partition assigned is fetched from
        the group's committed offset, one revoked and assigned again in the same rebalance too."""

    def partitions_of(self, topic: str, timeout: float = 10.0) -> list[int]:
        """The topic's partitions; none when it does not exist."""

    def assign(self, partitions: Sequence[TopicPartition], start: Start) -> None:
        """Read these partitions without a group, from their beginning or end."""

    def poll(self, timeout_s: float, max_records: int) -> list[Record]:
        """The first record as soon as one comes, then those already fetched behind it, up to
        `max_records`; none after `timeout_s`. Raises KafkaError when the client cannot go on."""

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit the next offsets to read, synchronously; raises KafkaError (a rebalance, the
        coordinator away)."""

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Fetch `partition` again from `offset`."""

    def pause(self) -> None:
        """Stop fetching every assigned partition, staying in the group."""

    def resume(self) -> None:
        """Fetch every assigned partition again, from the position after the last record polled."""

    def beginning_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The first offset each partition still holds."""

    def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The offset the next record written to each partition gets."""

    def committed(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The consumer's group's committed offsets; 0 where it committed none."""

    def lag(self) -> dict[str, int]:
        """Records behind the end of the log by topic, summed over the assigned partitions whose end
        is known from a fetch."""

    def close(self) -> None:
        """Leave the group, so the partitions move at once."""


@dataclass(frozen=True)
class NewTopic:
    name: str
    partitions: int
    # -1: the broker's default.
    replication_factor: int = -1
    configs: Mapping[str, str] = field(default_factory=dict)


class Admin(Protocol):
    """The cluster's topics and brokers."""

    def topics(self) -> dict[str, int]:
        """Every topic on the cluster with its partition count: one metadata request."""

    def create_topics(self, topics: Sequence[NewTopic], timeout: float = 30.0) -> list[str]:
        """Create `topics` and wait until the cluster's metadata has them; returns those created. One
        that exists already (another process created it first) is not an error."""

    def configs(self, topic: str) -> dict[str, str]:
        """The topic's configuration as the broker applies it, its defaults included."""

    def brokers(self) -> int:
        """The brokers the cluster's metadata lists: registered with the controller and unfenced."""

    def close(self) -> None: ...
