"""Ticket metrics, applied: each ticket event moves the ticket's SLA state through the engine and
commits it with its timers and events in one script; a timer coming due fires through the engine
the same way. A race with another replica on the same ticket is lost by one commit, which reads
again and decides again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from helpline.codec import Codec
from helpline.events import new_event, to_record
from helpline.logging import get_logger
from helpline.optimistic import retry_on_conflict
from services.sla.config import SlaConfig
from services.sla.domain import engine
from services.sla.domain.convert import notification_events, output_event
from services.sla.domain.engine import Fact, TicketSla, Transition
from services.sla.domain.model import Trigger
from services.sla.domain.outputs import Breached, Warned
from services.sla.store import ConflictError, SlaStore, Subject, TimerKey
from services.sla.watches import SOURCE, TOPIC

log = get_logger(__name__)

RECORDS = Codec(TicketSla)
# A closed ticket's SLA is kept this long by default (docs/sla.md, Retention).
CLOSED_RETENTION = timedelta(days=7)


class TicketSlas:
    def __init__(
        self, store: SlaStore, config: SlaConfig, closed_retention: timedelta = CLOSED_RETENTION
    ) -> None:
        self.store = store
        self.config = config
        self.closed_retention = closed_retention

    def get(self, tenant_id: str, ticket_id: str) -> TicketSla | None:
        loaded = self.store.load(tenant_id, Subject.TICKET, ticket_id)
        return None if loaded.data is None else RECORDS.loads(loaded.data)

    def apply(
        self, tenant_id: str, ticket_id: str, fact_of: Callable[[TicketSla | None], Fact | None]
    ) -> None:
        """Apply the fact a ticket event gives, read against the current state (a hand-off needs
        the ticket's other fields); `fact_of` returns None for an event that changes nothing."""

        def decide(sla: TicketSla | None) -> Transition | None:
            fact = fact_of(sla)
            if fact is None:
                return None
            policies = self.config.policies(tenant_id)
            return engine.apply(sla, fact, policies, self.config.calendars(tenant_id))

        self._change(tenant_id, ticket_id, decide)

    def fire(self, timer: TimerKey, now: datetime) -> None:
        def decide(sla: TicketSla | None) -> Transition | None:
            if sla is None:
                return None
            return engine.fire(
                sla, timer.instance_id, Trigger(timer.trigger), now, self.config.policies(timer.tenant_id)
            )

        self._change(timer.tenant_id, timer.subject_id, decide, claimed=timer)

    def _change(
        self,
        tenant_id: str,
        ticket_id: str,
        decide: Callable[[TicketSla | None], Transition | None],
        claimed: TimerKey | None = None,
    ) -> None:
        def attempt() -> None:
            loaded = self.store.load(tenant_id, Subject.TICKET, ticket_id)
            before = None if loaded.data is None else RECORDS.loads(loaded.data)
            transition = decide(before)
            after = transition.sla if transition is not None else None
            if after is None:
                if claimed is not None:
                    # A timer of a ticket this service no longer holds: drop it.
                    self.store.commit(
                        tenant_id, Subject.TICKET, ticket_id, loaded.revision, None, remove=[claimed]
                    )
                return
            if after == before and claimed is None:
                return
            old = _timer_keys(tenant_id, before)
            new = _timer_keys(tenant_id, after)
            records = []
            for output in transition.outputs if transition else ():
                envelope = new_event(output_event(tenant_id, after, output), source=SOURCE, subject=ticket_id)
                records.append(to_record(envelope, TOPIC))
                # In the same commit as their warning or breach: requested once, as it fires once.
                records.extend(
                    to_record(new_event(message, source=SOURCE, subject=ticket_id), TOPIC)
                    for message in notification_events(tenant_id, after, output, envelope.id)
                )
            self.store.commit(
                tenant_id,
                Subject.TICKET,
                ticket_id,
                loaded.revision,
                RECORDS.dumps(after),
                kept=engine.lifetime(after, self.closed_retention),
                remove=(old.keys() | ({claimed} if claimed else set())) - new.keys(),
                add=new,
                records=records,
            )
            for output in transition.outputs if transition else ():
                if isinstance(output, Warned | Breached):
                    log.info(
                        "sla " + ("breach" if isinstance(output, Breached) else "warning"),
                        ticket_id=ticket_id,
                        metric=output.instance.metric,
                        instance_id=output.instance.instance_id,
                    )

        retry_on_conflict(attempt, f"ticket {ticket_id}", conflict=ConflictError)


def _timer_keys(tenant_id: str, sla: TicketSla | None) -> dict[TimerKey, datetime]:
    if sla is None:
        return {}
    return {
        TimerKey(tenant_id, Subject.TICKET, sla.ticket_id, instance_id, trigger): due
        for instance_id, trigger, due in engine.timers(sla)
    }
