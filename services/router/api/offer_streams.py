"""The offer streams a router replica holds open: at most a set number, so the gRPC threads they
hold always leave some for every other call, and one per agent, a newer one replacing the older
(a desktop reconnecting, or the agent signed in at a second desk).

Each open stream holds a gRPC worker thread for as long as it lasts; without a cap, as many streams
as threads stall every other call of every tenant on the replica.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge


@dataclass(eq=False)
class OfferStream:
    """One open stream: which agent's, and whether a newer one of the agent has replaced it."""

    tenant_id: str
    agent_id: str
    replaced: threading.Event = field(default_factory=threading.Event)


class StreamsFullError(RuntimeError):
    """The replica holds as many streams as it may."""


class OfferStreams:
    def __init__(self, cap: int, registry: CollectorRegistry | None = None) -> None:
        if cap < 1:
            raise ValueError(f"a replica holds at least one offer stream, not {cap}")
        self.cap = cap
        self._lock = threading.Lock()
        self._held = 0
        self._latest: dict[tuple[str, str], OfferStream] = {}
        if registry is not None:
            Gauge(
                "helpline_offer_streams",
                "Offer streams (agent desktops) the replica holds.",
                registry=registry,
            ).set_function(lambda: self.held)
            Gauge(
                "helpline_offer_streams_limit",
                "Offer streams the replica may hold (HELPLINE_MAX_OFFER_STREAMS).",
                registry=registry,
            ).set(cap)

    @property
    def held(self) -> int:
        with self._lock:
            return self._held

    def has_room(self) -> bool:
        """The replica's readiness: full, it raises StreamsFullError, so Kubernetes sends new
        desktops (and every new connection) to replicas with room; the streams it holds, and the
        connections they ride on, go on."""
        held = self.held
        if held >= self.cap:
            raise StreamsFullError(
                f"{held} offer streams open, the replica's most (HELPLINE_MAX_OFFER_STREAMS {self.cap})"
            )
        return True

    def open(self, tenant_id: str, agent_id: str) -> OfferStream:
        """A new stream of the agent's offers, replacing the agent's open one; StreamsFullError when
        the replica holds its cap and the agent had none open (a replacing stream is let in: the
        one it replaces ends within a wait)."""
        key = (tenant_id, agent_id)
        with self._lock:
            older = self._latest.get(key)
            if older is None and self._held >= self.cap:
                raise StreamsFullError(
                    f"this replica holds {self.cap} offer streams, its most; retry, another "
                    "replica may take it"
                )
            stream = OfferStream(tenant_id, agent_id)
            self._latest[key] = stream
            self._held += 1
        if older is not None:
            older.replaced.set()
        return stream

    def close(self, stream: OfferStream) -> None:
        """The stream ended, however it did."""
        key = (stream.tenant_id, stream.agent_id)
        with self._lock:
            self._held -= 1
            if self._latest.get(key) is stream:
                del self._latest[key]
