"""Matching both ways, on the indexes: a waiting contact takes the first eligible agent of its
ready set; an agent who becomes free pulls the best head of the waiting sets they may serve.

Each decision reads O(1) sets of O(log n) each (routing.choose_agent and choose_contact say why
that suffices) and commits the offer with both versions checked, so two replicas deciding at
once cannot offer one contact twice or one agent two contacts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from math import ceil

from helpline.domain import new_id
from helpline.optimistic import ContendedError
from services.router.domain import offers
from services.router.domain.contact_proto import offer_message
from services.router.domain.errors import DomainError
from services.router.domain.model import Queue
from services.router.domain.routing import (
    CONTACT_BANDS,
    QueueHead,
    band_range,
    capacity_refusal,
    choose_agent,
    choose_contact,
    meets,
    offer_made,
    readiness_refusal,
)
from services.router.storage.indexes import (
    agent_slots,
    is_routable,
    parse_signature,
    routing_signature,
    waiting_of,
)
from services.router.storage.records import AgentRecord, ContactRecord, PendingOffer
from services.router.storage.store import ConflictError, Keys, Tx
from services.router.usecases.staging import Staging

# Entries read past the ones a decision can skip for sure (declined agents): head room for an
# entry whose record moved on between the read and the decision.
SLACK = 2
HEADS_PER_BAND = 3


@dataclass(frozen=True)
class Offered:
    contact_id: str
    agent_id: str
    offer_id: str


class Matcher:
    """Offers contacts to agents: `route_contact` when a contact starts waiting, `pull` when an
    agent has room. Every use case that frees a contact or an agent ends by calling one of these,
    so matching is decided in one place."""

    def __init__(self, core: Staging) -> None:
        self.core = core
        self.store = core.store

    def route_contact(
        self, tenant: str, contact_id: str, fresh: tuple[ContactRecord, Queue] | None = None
    ) -> Offered | None:
        """Offer a waiting contact to the best eligible agent, if one is ready. `fresh` is the
        contact's record as its caller just committed it, with its queue: the first attempt
        decides on them instead of reading both back (a stale one loses the commit's version
        check, and the next attempt reads)."""

        def attempt() -> Offered | None:
            nonlocal fresh
            now = self.core.now()
            record, queue = fresh if fresh is not None else self._read(tenant, contact_id)
            fresh = None
            if record is None or queue is None or not is_routable(record.contact, now):
                return None
            signature = routing_signature(record, queue, now)
            if signature.startswith("@"):
                ids = [signature[1:]]
            else:
                key = Keys(tenant).ready(queue.queue_id, record.contact.channel, signature)
                ids = self.store.first(key, len(record.contact.declined_by) + 1 + SLACK)
            candidates = {r.agent.agent_id: r for r in self.store.agents(tenant, ids)}
            chosen = choose_agent(queue, waiting_of(record), [r.agent for r in candidates.values()], now)
            if chosen is None:
                return None
            return self._offer(record, candidates[chosen.agent_id], queue, now)

        return self._settle(f"contact {contact_id}", attempt)

    def _read(self, tenant: str, contact_id: str) -> tuple[ContactRecord | None, Queue | None]:
        record = self.store.contact(tenant, contact_id)
        return record, self.core.queue_of(record.contact) if record is not None else None

    def pull(self, tenant: str, agent_id: str) -> Offered | None:
        """An agent who may take more work pulls the best contact waiting in their queues."""

        def attempt() -> Offered | None:
            now = self.core.now()
            agent_record = self.store.agent(tenant, agent_id)
            if agent_record is None or readiness_refusal(agent_record.agent) is not None:
                return None
            agent = agent_record.agent
            keys = Keys(tenant)
            queues = self.core.profile_queues(agent)
            slots = [slot for slot in agent_slots(agent, queues) if capacity_refusal(agent, slot[1]) is None]
            registry = self.store.signatures(keys, slots)
            ranges: list[tuple[str, int, int]] = []
            for queue_id, channel in slots:
                signatures = [s for s in registry[(queue_id, channel)] if meets(agent, parse_signature(s))]
                for signature in [*sorted(signatures), f"@{agent_id}"]:
                    key = keys.waiting(queue_id, channel, signature)
                    ranges.extend((key, *band_range(band)) for band in range(CONTACT_BANDS))
            found = {cid for heads in self.store.heads(ranges, HEADS_PER_BAND) for cid in heads}
            records = {r.contact.contact_id: r for r in self.store.contacts(tenant, sorted(found))}
            heads = [
                QueueHead(queues[r.contact.queue_id], waiting_of(r))
                for r in records.values()
                if is_routable(r.contact, now) and r.contact.queue_id in queues
            ]
            head = choose_contact(agent, heads, now)
            if head is None:
                return None
            return self._offer(records[head.contact.contact_id], agent_record, head.queue, now)

        return self._settle(f"agent {agent_id}", attempt)

    def _settle(self, what: str, attempt: Callable[[], Offered | None]) -> Offered | None:
        """The offer `attempt` makes, deciding again on a lost race. One that loses every race
        offers nothing, as when no one is ready: the contact keeps waiting for the next match."""
        try:
            return self.core.retry(what, attempt)
        except ContendedError:
            return None

    def _offer(
        self, record: ContactRecord, agent_record: AgentRecord, queue: Queue, now: datetime
    ) -> Offered | None:
        offer_id = new_id()
        try:
            outcome = offers.offer(
                record.contact,
                agent_record.agent.agent_id,
                now,
                offer_id=offer_id,
                offer_timeout=queue.offer_timeout,
            )
            agent = offer_made(agent_record.agent, queue.queue_id, now)
        except DomainError:
            # The state moved between the read and the decision; the next attempt sees it.
            raise ConflictError(f"contact {record.contact.contact_id}") from None
        tx = Tx(Keys(record.contact.tenant_id))
        contact = self.core.stage_contact(tx, record, outcome.contact, queue, now, outcome.events).contact
        self.core.stage_agent(
            tx,
            agent_record,
            agent,
            now,
            contact_id=contact.contact_id,
            offer=PendingOffer(contact.contact_id, offer_id),
        )
        # Answerable until the offer ends, then for the contact's retention (Staging.stage_contact).
        lifetime = self.store.retention.contact_s + ceil(queue.offer_timeout.total_seconds())
        tx.set(tx.keys.offer(offer_id), contact.contact_id, ttl_s=lifetime)
        tx.desk(agent.agent_id, "offer", offer_message(contact, queue, now))
        self.store.commit(tx)
        return Offered(contact.contact_id, agent.agent_id, offer_id)
