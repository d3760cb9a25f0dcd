"""Erlang C staffing per queue and channel, worked out when Prometheus scrapes: the offered load
(arrivals per second x AHT, in Erlangs) over the recent window and the fewest agents that meet the
queue's service-level goal under it (DOMAIN.md, KPIs), beside `helpline_queue_staffed_agents`.

Both come from the workload and goals every replica shares in Redis, so every replica exports the
same figure: rules aggregate them with `max without(instance)`.

Erlang C assumes one contact per agent at a time and callers who never abandon: it fits voice
exactly, errs towards more agents where callers abandon, and for channels an agent works several
at once (chat, email) it is an upper bound of the agents needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from helpline.logging import get_logger
from services.metrics.domain import erlang
from services.metrics.domain.errors import KpiError
from services.metrics.state import AnswerTarget, MetricsState
from services.metrics.workload import QueueKey, QueueWorkload, Workload

log = get_logger(__name__)

Samples = Iterable[tuple[QueueKey, float]]


@dataclass(frozen=True)
class QueueStaffing:
    workload: QueueWorkload
    state: MetricsState
    # A cap on the occupancy the staffing may plan for; None plans by service level alone.
    max_occupancy: float | None = None

    def offered_load(self) -> Samples:
        return [
            (key, erlang.traffic(seen.arrivals, seen.covered, aht) if _busy(seen, aht) else 0.0)
            for key, seen in self.workload.read().items()
            if (aht := seen.average_handle_time) is not None
        ]

    def required_agents(self) -> Samples:
        goals = self.state.answer_targets()
        samples = []
        for key, seen in self.workload.read().items():
            tenant_id, queue_id, _ = key
            goal = goals.get((tenant_id, queue_id))
            aht = seen.average_handle_time
            if goal is None or aht is None:
                continue
            agents = self._required(key, seen, aht, goal) if _busy(seen, aht) else 0
            if agents is not None:
                samples.append((key, float(agents)))
        return samples

    def _required(self, key: QueueKey, seen: Workload, aht: timedelta, goal: AnswerTarget) -> int | None:
        try:
            staffing = erlang.required_agents(
                seen.arrivals, seen.covered, aht, goal.threshold, goal.share, self.max_occupancy
            )
        except KpiError as exc:
            # One queue's odd goal must not fail the scrape of every other series.
            log.warning("no staffing for a queue", queue=key, rule=exc.rule, error=str(exc))
            return None
        return staffing.agents


def _busy(seen: Workload, aht: timedelta) -> bool:
    """Whether the queue had any load: no contacts, or contacts that took no time, need nobody."""
    return seen.arrivals > 0 and aht > timedelta(0)
