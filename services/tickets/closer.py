"""The auto-close worker: a solved ticket closes `close_after` after its solve (DOMAIN.md, Tickets:
after N days solved, default 4).

The schedule is durable, not a sleep: the script that solves a ticket puts it in the store's due
set, scored by its close time, and the script that reopens or closes it takes it out. The worker
polls the set and closes what is due through the use cases, so a restart or a new replica picks
up exactly where the last one was.

Several replicas may poll at once. The store's version check lets one close win; the loser's use
case decides again on the fresh ticket, finds it closed, and the refusal is skipped. A ticket
reopened between the poll and the close is refused (`not_solved`) and skipped the same way; its
reopen already took it out of the due set, so no poll finds it again.
"""

from __future__ import annotations

from helpline.domain import NotFoundError
from helpline.logging import get_logger
from helpline.optimistic import ContendedError
from helpline.polling import PollingWorker
from services.tickets.domain import commands
from services.tickets.domain.errors import DomainError
from services.tickets.usecases import Tickets

log = get_logger(__name__)


class AutoCloser(PollingWorker):
    """Polls every `interval_s` seconds, at most `batch` due tickets per tenant a round; the clock
    (and `close_after`) are the use cases', so the poll and the domain agree on what is due."""

    def __init__(self, tickets: Tickets, *, interval_s: float = 5.0, batch: int = 100) -> None:
        # A ticket closes days after its solve, so seconds do not matter: every round waits its
        # interval, even one that closed a full batch, which keeps the load on the store flat.
        super().__init__("auto-close", interval_s, again_when_busy=False)
        self.tickets = tickets
        self.batch = batch

    def run_once(self) -> int:
        """Close the tickets due now; returns how many this worker closed."""
        closed = 0
        for tenant, ticket_id in self.tickets.store.due_for_close(self.tickets.clock.now(), self.batch):
            if self.stopping:
                break
            closed += self.close(tenant, ticket_id)
        return closed

    def close(self, tenant: str, ticket_id: str) -> bool:
        """Close one due ticket; False when it is no longer there to close."""
        try:
            self.tickets.change(
                tenant,
                ticket_id,
                lambda ticket, now: commands.auto_close(ticket, now, self.tickets.close_after),
            )
        except DomainError as refusal:
            # Reopened, closed by another replica or by an agent, or not yet due by the domain's
            # reckoning: the ticket moved on since the poll, and the store keeps the due set in step.
            log.info("auto-close skipped", tenant=tenant, ticket_id=ticket_id, rule=refusal.rule)
            return False
        except NotFoundError:
            # Only a ticket removed behind the store's back leaves its due entry behind.
            log.warning("due ticket not found", tenant=tenant, ticket_id=ticket_id)
            return False
        except ContendedError:
            # Agents are busy on it; the entry is still due, so the next round tries again.
            log.warning("auto-close contended; retried next round", tenant=tenant, ticket_id=ticket_id)
            return False
        log.info("ticket closed automatically", tenant=tenant, ticket_id=ticket_id)
        return True
