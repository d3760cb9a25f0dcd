"""How far consumer groups are behind: per group, the events between its committed offsets and the
end of the topics it reads, from the broker (through helpline.kafka), as a service's own lag gauge
would say but for groups whose members are other processes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from helpline.kafka import clients
from helpline.kafka.port import Consumer, TopicPartition
from helpline.kafka.reading import partitions


class ConsumerLag:
    def __init__(self, bootstrap: str, groups: Mapping[str, tuple[str, Sequence[str]]]) -> None:
        """`groups`: a name of one's own for each (group id, topics it reads)."""
        self.probe = clients.consumer(bootstrap, "bench-consumer-lag")
        # A consumer with the group's id that never subscribes reads its commits without joining it.
        self.groups: dict[str, tuple[Consumer, list[TopicPartition]]] = {
            name: (clients.consumer(bootstrap, "bench-consumer-lag", group), partitions(self.probe, topics))
            for name, (group, topics) in groups.items()
        }

    def behind(self) -> dict[str, int]:
        """Per name, the events its group has not committed yet (a partition it never committed
        counts from its start)."""
        lag = {}
        for name, (reader, held) in self.groups.items():
            ends = self.probe.end_offsets(held)
            starts = self.probe.beginning_offsets(held)
            done = reader.committed(held)
            lag[name] = sum(max(0, ends[tp] - max(done[tp], starts[tp])) for tp in held)
        return lag

    def close(self) -> None:
        for reader, _ in self.groups.values():
            reader.close()
        self.probe.close()
