"""Acknowledge only what a replica holds: a barrier a process passes before it answers a write, commits
a consumed offset or publishes an outbox entry, so a Redis failover cannot take back what a caller
or a downstream service was already told.

Redis replicates asynchronously; its WAIT command blocks until the replicas acknowledged every write
the *calling connection* made. A service's writes come from many pooled connections, so the barrier
writes one tiny key itself (which puts its connection at the primary's current replication offset,
past every write applied before it, from any connection) and WAITs on that same connection in one
pipeline. One round trip covers everything the process wrote before the call.
"""

from __future__ import annotations

import redis

from helpline.failures import TransientError

# One key in each service's database; INCR keeps it a single small integer forever.
BARRIER_KEY = "helpline:replication-barrier"


class ReplicaLagError(TransientError):
    """Fewer replicas than required acknowledged the writes in time: the write may be lost in a
    failover, so it is not acknowledged (503 / UNAVAILABLE, the offset left uncommitted)."""


class ReplicaBarrier:
    """Passes once `replicas` replicas hold every write made before the call; with 0, at once."""

    def __init__(self, client: redis.Redis, replicas: int, timeout_ms: int) -> None:
        self._client = client
        self.replicas = replicas
        self._timeout_ms = timeout_ms

    def __call__(self) -> None:
        if not self.replicas:
            return
        pipe = self._client.pipeline(transaction=False)
        pipe.incr(BARRIER_KEY)
        pipe.wait(self.replicas, self._timeout_ms)
        _, acknowledged = pipe.execute()
        if int(acknowledged) < self.replicas:
            raise ReplicaLagError(
                f"{acknowledged} of {self.replicas} Redis replicas acknowledged within {self._timeout_ms} ms"
            )
