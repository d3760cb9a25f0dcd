"""How far consumer groups are behind: per group, the events between its committed offsets and the
end of the topics it reads, from the broker (kafka-python's admin client), as a service's own lag
gauge would say but for groups whose members are other processes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import OffsetSpec


class ConsumerLag:
    def __init__(self, bootstrap: str, groups: Mapping[str, tuple[str, Sequence[str]]]) -> None:
        """`groups`: a name of one's own for each (group id, topics it reads)."""
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-consumer-lag")
        probe = KafkaConsumer(bootstrap_servers=bootstrap, client_id="bench-consumer-lag")
        try:
            self.groups = {
                name: (
                    group,
                    [
                        TopicPartition(topic, p)
                        for topic in topics
                        for p in sorted(probe.partitions_for_topic(topic) or ())
                    ],
                )
                for name, (group, topics) in groups.items()
            }
        finally:
            probe.close()
        self.partitions = sorted({tp for _, partitions in self.groups.values() for tp in partitions})

    def behind(self) -> dict[str, int]:
        """Per name, the events its group has not committed yet (a partition it never committed
        counts from its start)."""
        committed = self.admin.list_group_offsets(dict(self.groups.values()))
        ends = self.admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in self.partitions})
        starts = self.admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in self.partitions})
        lag = {}
        for name, (group, partitions) in self.groups.items():
            done = {tp: at.offset for tp, at in committed.get(group, {}).items() if at.offset >= 0}
            lag[name] = sum(max(0, ends[tp].offset - done.get(tp, starts[tp].offset)) for tp in partitions)
        return lag

    def close(self) -> None:
        self.admin.close()
