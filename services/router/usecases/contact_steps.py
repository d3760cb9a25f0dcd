"""Applying one contact command: read the contact (and its agent), decide with the pure domain,
commit the contact, the agent, a callback contact it spawned and the desk messages in one
script, then route what the step freed: the contact back in a queue, the agent with room."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.message import Message

from helpline.v1 import router_service_pb2
from services.router.domain.contact import ContactStatus
from services.router.domain.estimates import AHT_WEIGHT
from services.router.domain.model import Agent, Queue
from services.router.domain.outcome import Outcome
from services.router.storage.indexes import is_routable, routing_signature
from services.router.storage.records import AgentRecord, ContactRecord
from services.router.storage.store import Keys, Tx
from services.router.usecases.configuration import Catalog
from services.router.usecases.matching import Matcher
from services.router.usecases.staging import Staging


@dataclass(frozen=True)
class Step:
    """What a command decided. `agent` is the agent record's agent after the step (None: the
    agent is untouched), with `agent_changes` to the record and events of the agent's own."""

    outcome: Outcome
    agent: Agent | None = None
    agent_changes: Mapping[str, Any] = field(default_factory=dict)
    agent_events: tuple[Message, ...] = ()
    # The reason an offer in flight was withdrawn, told to the agent's desktop.
    withdrawn: str = ""
    wrap_up_until: datetime | None = None
    record_changes: Mapping[str, Any] = field(default_factory=dict)
    # Write the record even if the contact did not change: its index entries and timers did.
    reindex: bool = False
    # A completed contact's talk, hold and wrap-up: moves the queue's average handle time.
    handle_time: timedelta | None = None
    # A second agent the step moves (the consulted agent of a warm transfer), as read and after.
    other: tuple[AgentRecord, Agent] | None = None
    other_changes: Mapping[str, Any] = field(default_factory=dict)


Decide = Callable[[ContactRecord, AgentRecord | None, Queue | None, datetime], Step]


@dataclass(frozen=True)
class Applied:
    before: ContactRecord
    after: ContactRecord
    step: Step


class ContactSteps:
    """Commits what a contact use case decided, under optimistic concurrency: `apply` reads the
    contact, its queue and the agent it acts for, runs the use case's `Decide` on them, stages every
    change in one `Tx` and commits it, deciding again on fresh state when another writer won the
    race. It exists so the contact use cases (`intake`, `answers`, `conversation`, `waiting`) only
    decide, and reading, committing and routing what a step freed is written once."""

    def __init__(self, core: Staging, catalog: Catalog, matcher: Matcher) -> None:
        self.core = core
        self.store = core.store
        self.catalog = catalog
        self.matcher = matcher

    def apply(self, tenant: str, contact_id: str, decide: Decide, *, agent_id: str | None = None) -> Applied:
        """Run `decide` on fresh state until it commits. `agent_id` names the agent the step
        acts for; by default the contact's current agent."""
        applied = self.core.retry(
            f"contact {contact_id}", lambda: self._attempt(tenant, contact_id, decide, agent_id)
        )
        self.follow_up(tenant, applied)
        return applied

    def _attempt(self, tenant: str, contact_id: str, decide: Decide, agent_id: str | None) -> Applied:
        now = self.core.now()
        record = self.core.require_contact(tenant, contact_id)
        queue = self.core.queue_of(record.contact)
        who = record.contact.agent_id if agent_id is None else agent_id
        agent_record = self.store.agent(tenant, who) if who else None
        step = decide(record, agent_record, queue, now)
        outcome = step.outcome
        if outcome.contact is record.contact and step.agent is None and not step.reindex:
            return Applied(record, record, step)
        tx = Tx(Keys(tenant))
        target = (
            queue
            if outcome.contact.queue_id == record.contact.queue_id
            else self.core.queue_of(outcome.contact)
        )
        if target is not None:
            self.ensure_signature(
                replace(record, contact=outcome.contact, **step.record_changes), target, now
            )
        after = self.core.stage_contact(
            tx, record, outcome.contact, target, now, outcome.events, **step.record_changes
        )
        if step.handle_time is not None and queue is not None:
            handle_ms = step.handle_time // timedelta(milliseconds=1)
            tx.moving_average(tx.keys.queue_stats(queue.queue_id), "aht_ms", handle_ms, AHT_WEIGHT)
        customer = record.contact.context.customer_id
        if step.handle_time is not None and customer and record.contact.agent_id:
            last_agent = self.store.retention.last_agent_s
            tx.set(tx.keys.customer_agent(customer), record.contact.agent_id, ttl_s=last_agent)
        if outcome.spawned is not None:
            spawned_queue = self.core.queue_of(outcome.spawned)
            if spawned_queue is not None:
                self.ensure_signature(ContactRecord(0, outcome.spawned), spawned_queue, now)
            self.core.stage_contact(tx, None, outcome.spawned, spawned_queue, now)
        if step.agent is not None and agent_record is not None:
            changes = dict(step.agent_changes)
            pending = agent_record.offer
            if (
                pending
                and pending.contact_id == contact_id
                and outcome.contact.status is not ContactStatus.OFFERED
            ):
                # The offer ended: the agent's record keeps no id of it, nor of its contact.
                changes["offer"] = None
            self.core.stage_agent(
                tx,
                agent_record,
                step.agent,
                now,
                contact_id=contact_id,
                wrap_up_until=step.wrap_up_until,
                events=step.agent_events,
                **changes,
            )
            if step.withdrawn:
                withdrawn = router_service_pb2.OfferWithdrawn(
                    offer_id=record.contact.offer_id, contact_id=contact_id, reason=step.withdrawn
                )
                tx.desk(agent_record.agent.agent_id, "withdrawn", withdrawn)
        if step.other is not None:
            other_record, other_agent = step.other
            self.core.stage_agent(
                tx, other_record, other_agent, now, contact_id=contact_id, **step.other_changes
            )
        self.store.commit(tx)
        return Applied(record, after, step)

    def ensure_signature(self, record: ContactRecord, queue: Queue, now: datetime) -> None:
        """The ready set the contact will wait on exists before the contact does."""
        if is_routable(record.contact, now):
            self.catalog.ensure_signature(
                queue, record.contact.channel, routing_signature(record, queue, now)
            )

    def follow_up(self, tenant: str, applied: Applied) -> None:
        """Route what the step freed: a contact back in a queue, a callback, an agent with room."""
        after = applied.after.contact
        if after.status is ContactStatus.QUEUED:
            self.matcher.route_contact(tenant, after.contact_id)
        spawned = applied.step.outcome.spawned
        if spawned is not None:
            self.matcher.route_contact(tenant, spawned.contact_id)
        agents = {applied.before.contact.agent_id, after.agent_id}
        if applied.step.agent is not None:
            agents.add(applied.step.agent.agent_id)
        for agent_id in sorted(agent for agent in agents if agent):
            self.matcher.pull(tenant, agent_id)
