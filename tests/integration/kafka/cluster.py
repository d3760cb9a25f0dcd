"""A Kafka cluster of a test's own: three brokers of the local stack (devstack.local_stack), each also
a controller of a static quorum, on free loopback ports, to kill one of under load."""

from __future__ import annotations

from pathlib import Path

from confluent_kafka.admin import AdminClient, PartitionMetadata  # type: ignore[attr-defined]  # re-exported without __all__

from devstack.local_stack import KafkaNode, LocalStack, StackConfig, free_port
from tests.integration.private_stack import Signalled


class KafkaCluster(Signalled):
    """`brokers` Kafka processes under `directory`, signalled by their own pids (Signalled)."""

    def __init__(self, directory: Path, brokers: int = 3) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.cfg = StackConfig(
            var_dir=directory,
            kafka_port=free_port(),
            controller_port=free_port(),
            sasl_port=free_port(),
            kafka_brokers=brokers,
            kafka_other_ports=tuple((free_port(), free_port(), free_port()) for _ in range(brokers - 1)),
            # Three brokers beside the session's: small heaps are plenty for one test's records.
            kafka_heap="-Xms128m -Xmx384m",
        )
        self.stack = LocalStack(self.cfg)

    @property
    def bootstrap(self) -> str:
        return self.cfg.kafka_bootstrap

    def node(self, broker_id: int) -> KafkaNode:
        return self.cfg.kafka_nodes[broker_id - 1]

    def start(self) -> None:
        """Every broker, ready once each lists all of them: the quorum has a leader."""
        self.stack.start_together(self.stack.kafka_components())

    def restart(self, broker_id: int) -> None:
        self.stack.start(self.stack.kafka(broker_id))

    def partition(self, topic: str, partition: int) -> PartitionMetadata:
        """Its leader, replicas and in-sync replicas, as a running broker sees them now."""
        running = [n for n in self.cfg.kafka_nodes if self.stack.running_pid(n.name) is not None]
        admin = AdminClient({"bootstrap.servers": ",".join(f"127.0.0.1:{n.port}" for n in running)})
        return admin.list_topics(topic, timeout=10).topics[topic].partitions[partition]

    def down(self) -> None:
        self.stack.down()
