"""What every router use case shares: the store, the clock, new ids, the retry on a lost race,
and staging a changed agent or contact into a transaction with its index entries and timers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from google.protobuf.message import Message

from helpline.business_hours import Calendar
from helpline.clock import Clock
from helpline.domain import NotFoundError
from helpline.optimistic import retry_on_conflict
from services.router.domain import agent_facts
from services.router.domain.contact import WAITING, Contact, ContactStatus
from services.router.domain.errors import InvalidConfiguration
from services.router.domain.model import Agent, Queue
from services.router.domain.routing import readiness_refusal
from services.router.storage.indexes import (
    Registry,
    agent_entries,
    agent_slots,
    contact_entries,
    contact_timers,
    waiting_signature,
)
from services.router.storage.records import AGENTS, CONTACTS, AgentRecord, ContactRecord
from services.router.storage.store import ConflictError, Keys, Store, Tx

T = TypeVar("T")


# Ids end up in Redis keys and in timer members split on "|": a plain alphabet keeps them inert.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~:@+-]{0,127}")


def require_id(kind: str, value: str) -> str:
    if not _ID.fullmatch(value):
        raise InvalidConfiguration(
            "invalid_id",
            f"{kind} id {value!r}: 1 to 128 letters, digits or ._~:@+-, starting with a letter or digit",
            field=f"{kind}_id",
        )
    return value


@dataclass
class Staging:
    """What every router use case stands on: the store and the clock, reads that must find their
    record (`require_*`), the retry on a lost race, and `stage_agent`/`stage_contact`, which put a
    changed record in a `Tx` with its index entries, timers and events. One `Staging` serves all the
    use cases of a `Router`, so a record is always written the same way, whichever use case
    changed it."""

    store: Store
    clock: Clock

    def now(self) -> datetime:
        return self.clock.now()

    def retry(self, what: str, attempt: Callable[[], T]) -> T:
        return retry_on_conflict(attempt, what, conflict=ConflictError)

    def require_agent(self, tenant: str, agent_id: str) -> AgentRecord:
        record = self.store.agent(tenant, agent_id)
        if record is None:
            raise NotFoundError("agent", agent_id)
        return record

    def require_contact(self, tenant: str, contact_id: str) -> ContactRecord:
        record = self.store.contact(tenant, contact_id)
        if record is None:
            raise NotFoundError("contact", contact_id)
        return record

    def require_queue(self, tenant: str, queue_id: str) -> Queue:
        record = self.store.queue(tenant, queue_id)
        if record is None:
            raise NotFoundError("queue", queue_id)
        return record.queue

    def queue_of(self, contact: Contact) -> Queue | None:
        if not contact.queue_id:
            return None
        record = self.store.queue(contact.tenant_id, contact.queue_id)
        return record.queue if record else None

    def hours_of(self, queue: Queue | None) -> Calendar | None:
        """The queue's hours of operation; None for a queue always open. A calendar removed since
        the queue named it (removal refuses while a queue names one) would leave it always open."""
        if queue is None or not queue.calendar_id:
            return None
        record = self.store.calendar(queue.tenant_id, queue.calendar_id)
        return record.calendar if record else None

    def profile_queues(self, agent: Agent) -> dict[str, Queue]:
        records = self.store.queues(agent.tenant_id, [member.queue_id for member in agent.profile.queues])
        return {queue_id: record.queue for queue_id, record in records.items()}

    # -- staging changes --

    def stage_agent(
        self,
        tx: Tx,
        old: AgentRecord,
        agent: Agent,
        now: datetime,
        *,
        contact_id: str = "",
        wrap_up_until: datetime | None = None,
        events: Iterable[Message] = (),
        **changes: Any,
    ) -> AgentRecord:
        """`old` becomes `agent` (and `changes` to the record), re-indexed, with its
        AgentStateChanged when the state or a load moved."""
        queues = self.profile_queues(agent)
        registry: Registry = {}
        keys = Keys(agent.tenant_id)
        if readiness_refusal(agent) is None:
            # The ready sets depend on the registered signatures: pin them for the commit.
            tx.expect_counter(keys.signature_epoch(), self.store.counter(keys.signature_epoch()))
            registry = self.store.signatures(keys, agent_slots(agent, queues))
        entries = agent_entries(agent, queues, registry)
        new = replace(old, version=old.version + 1, agent=agent, entries=entries, **changes)
        key = keys.agent(agent.agent_id)
        tx.expect_version(key, old.version)
        tx.set(key, AGENTS.dumps(new))
        tx.move_entries(agent.agent_id, old.entries, entries)
        changed = agent_facts.state_changed(
            old.agent, agent, now, contact_id=contact_id, after_contact_work_until=wrap_up_until
        )
        tx.emit([*events, *([changed] if changed else [])], agent.agent_id)
        return new

    def stage_contact(
        self,
        tx: Tx,
        old: ContactRecord | None,
        contact: Contact,
        queue: Queue | None,
        now: datetime,
        events: Iterable[Message] = (),
        **changes: Any,
    ) -> ContactRecord:
        """Raises NotFoundError for a contact that would wait in a queue that does not exist."""
        if contact.status in WAITING and queue is None:
            raise NotFoundError("queue", contact.queue_id)
        # The record's version moves on every write, even when the contact's does not (an index
        # move after an overflow step), so a writer that read it before always loses the race.
        base = old if old is not None else ContactRecord(version=0, contact=contact)
        staged = replace(base, version=base.version + 1, contact=contact, **changes)
        entries = contact_entries(staged, queue, now)
        hours = self.hours_of(queue) if contact.status is ContactStatus.QUEUED else None
        timers = contact_timers(staged, queue, now, hours)
        new = replace(staged, entries=entries, timers=timers)
        key = tx.keys.contact(contact.contact_id)
        tx.expect_version(key, old.version if old else 0)
        if entries and queue is not None:
            # Catalog.remove_queue and the signature pruner delete what this contact would join:
            # it joins only while they are there, or decides again.
            tx.expect_exists(tx.keys.queue(queue.queue_id))
            signature = waiting_signature(staged, queue, now)
            if signature is not None:
                tx.expect_member(tx.keys.signatures(queue.queue_id, contact.channel), signature)
        retention = self.store.retention.contact_s
        tx.set(key, CONTACTS.dumps(new), ttl_s=retention if _expires(contact) else 0)
        ended = base.contact.offer_id
        if ended and (ended != contact.offer_id or contact.is_final):
            # Set with the contact's retention plus the offer timeout when made, the offer's id
            # expires `retention` after the offer ended: with its contact at the latest.
            tx.expire(tx.keys.offer(ended), retention)
        tx.move_entries(contact.contact_id, base.entries, entries)
        tx.move_timers(base.timers, timers)
        tx.emit(events, contact.contact_id)
        return new


def _expires(contact: Contact) -> bool:
    """A finished contact is only kept for late questions about it; a received one that no bot or
    self-service outcome ever followed (nothing times it out) is forgotten as late."""
    return contact.is_final or contact.status is ContactStatus.RECEIVED
