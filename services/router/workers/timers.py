"""The durable timers: offer timeouts, after-contact work, overflow steps and preferred-agent
windows, maximum waits, callbacks coming due and queues closing (hours of operation). They live in
one sorted set per tenant, written by the same script as the change that sets them, so a restart
loses none. Every replica polls; a timer two replicas fire at once is applied once, since both
commit against the same version and the loser finds nothing left to do."""

from __future__ import annotations

from collections.abc import Callable

from helpline.clock import Clock
from helpline.domain import NotFoundError
from helpline.logging import get_logger
from helpline.polling import PollingWorker
from services.router.domain.errors import DomainError
from services.router.storage.indexes import CALLBACK_DUE, HOURS, MAX_WAIT, OFFER, OVERFLOW, WRAP_UP, ms
from services.router.storage.store import Store
from services.router.storage.tenants import TenantRegistry
from services.router.usecases.answers import Answers
from services.router.usecases.conversation import Conversations
from services.router.usecases.waiting import Waiting

log = get_logger(__name__)

# A timer whose handler failed unexpectedly is tried again this much later, not in a hot loop.
RETRY_MS = 5_000
BATCH = 200


class TimerWorker(PollingWorker):
    """Fires the timers due in every tenant: each kind of timer is one contact use case (an offer
    timing out, wrap-up ending, an overflow step or callback coming due, the maximum wait)."""

    def __init__(
        self,
        store: Store,
        registry: TenantRegistry,
        clock: Clock,
        *,
        answers: Answers,
        conversations: Conversations,
        waiting: Waiting,
        poll_seconds: float = 0.2,
    ) -> None:
        super().__init__("router timers", poll_seconds, again_when_busy=True)
        self.store = store
        self.registry = registry
        self.clock = clock
        self.answers = answers
        self.conversations = conversations
        self.waiting = waiting

    def run_once(self) -> int:
        """Fire every timer due now; returns how many fired."""
        fired = 0
        now_ms = ms(self.clock.now())
        for tenant in self.registry.tenants():
            for member in self.store.due_timers(tenant, now_ms, BATCH):
                self.fire(tenant, member)
                fired += 1
        return fired

    def fire(self, tenant: str, member: str) -> None:
        kind, _, rest = member.partition("|")
        contact_id, _, offer_id = rest.partition("|")
        handlers: dict[str, Callable[[], object]] = {
            OFFER: lambda: self.answers.offer_expired(tenant, contact_id, offer_id),
            WRAP_UP: lambda: self.conversations.wrap_up_expired(tenant, contact_id),
            OVERFLOW: lambda: self.waiting.requirements_due(tenant, contact_id),
            MAX_WAIT: lambda: self.waiting.max_wait_reached(tenant, contact_id),
            CALLBACK_DUE: lambda: self._callback_due(tenant, contact_id),
            HOURS: lambda: self.waiting.hours_due(tenant, contact_id),
        }
        handler = handlers.get(kind)
        if handler is None:
            log.warning("unknown timer dropped", tenant=tenant, timer=member)
            self.store.drop_timer(tenant, member)
            return
        try:
            handler()
            if self.store.timer_due_ms(tenant, member) is not None:
                # The handler found nothing to change, so nothing replaced the timer: done with it.
                self.store.drop_timer_if_due(tenant, member, ms(self.clock.now()))
        except (DomainError, NotFoundError) as refused:
            # The contact moved on (answered, abandoned...) and the change that did it will have
            # replaced this timer; one left over is dropped.
            log.info("timer has nothing to do", tenant=tenant, timer=member, reason=str(refused))
            self.store.drop_timer(tenant, member)
        except Exception:
            log.exception("timer failed; retrying later", tenant=tenant, timer=member)
            self.store.postpone_timer(tenant, member, ms(self.clock.now()) + RETRY_MS)

    def _callback_due(self, tenant: str, contact_id: str) -> None:
        self.waiting.requirements_due(tenant, contact_id)
