"""Contacts arriving: a gateway's or a bot's new contact received and, unless it is served
without an agent, entered in a queue (`submit`); a bot or IVR handing a received contact to a
queue (`escalate`); a bot or self-service contact resolved without an agent (`self_served`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from helpline.domain import new_id
from services.router.domain import arrival, moves
from services.router.domain.contact import Contact, ContactContext, ContactStatus
from services.router.domain.errors import InvalidConfiguration
from services.router.domain.estimates import offers_callback
from services.router.domain.model import Channel, Department, Queue, Strategy, TimeoutAction
from services.router.domain.outcome import Outcome, Placement
from services.router.storage.records import AgentRecord, ContactRecord
from services.router.storage.store import ConflictError, Keys, Tx
from services.router.usecases.configuration import Catalog
from services.router.usecases.contact_steps import Applied, ContactSteps, Step
from services.router.usecases.matching import Matcher
from services.router.usecases.placement import entry_placement
from services.router.usecases.staging import Staging, require_id

_WITHOUT_AGENT = frozenset({Channel.BOT, Channel.SELF_SERVICE})


@dataclass(frozen=True)
class NewContact:
    channel: Channel
    department: Department = Department.SERVICE
    contact_id: str = ""
    queue_id: str = ""
    context: ContactContext = field(default_factory=ContactContext)
    entry_point: str = ""
    related_contact_id: str = ""


@dataclass(frozen=True)
class Placed:
    contact: Contact
    position: int = 0
    estimated_wait: timedelta | None = None
    created: bool = True
    # The wait is long enough that the caller should be offered a callback (voice only).
    offer_callback: bool = False
    # The queue was closed: the contact got its closed action (the contact's status is
    # after_hours, its callback_contact_id names a callback), and the queue opens at this instant.
    next_opening: datetime | None = None
    closed_action: TimeoutAction | None = None


class Intake:
    """The arrival use cases: every interface that takes a contact in (the ingress consumer, gRPC
    SubmitContact) comes through here, so a contact is created once, whichever delivery of it
    arrives first, and routed as soon as it waits."""

    def __init__(self, core: Staging, catalog: Catalog, matcher: Matcher, steps: ContactSteps) -> None:
        self.core = core
        self.store = core.store
        self.catalog = catalog
        self.matcher = matcher
        self.steps = steps

    def submit(self, tenant: str, new: NewContact) -> Placed:
        """A new contact: received, then self-service waits, a bot escalation or any other
        channel enters a queue. Idempotent by contact id: a redelivery returns the contact as it is."""
        contact_id = require_id("contact", new.contact_id) if new.contact_id else new_id()
        existing = self.store.contact(tenant, contact_id)
        if existing is not None:
            if existing.contact.status is ContactStatus.RECEIVED and new.queue_id:
                return self.escalate(tenant, contact_id, new.queue_id, new.context, new.channel)
            return self._again(existing.contact)
        now = self.core.now()
        received = arrival.receive(
            contact_id=contact_id,
            tenant_id=tenant,
            channel=new.channel,
            department=new.department,
            now=now,
            context=new.context,
            queue_id=new.queue_id,
            entry_point=new.entry_point,
            related_contact_id=new.related_contact_id,
        )
        if new.channel in _WITHOUT_AGENT and not new.queue_id:
            return self._create(received, None, Placed(received.contact), now)
        if new.channel in _WITHOUT_AGENT:
            queue = self._queue_for(tenant, new.queue_id, Channel.CHAT, new.department)
            placement = entry_placement(self.store, queue, Channel.CHAT, now)
            outcome = arrival.escalate_from_bot(
                received.contact,
                queue.queue_id,
                now,
                intent=new.context.intent,
                transcript_summary=new.context.bot_transcript_summary,
                placement=placement,
            )
        else:
            queue = self._queue_for(tenant, new.queue_id, new.channel, new.department)
            hours = self.core.hours_of(queue)
            if hours is not None and not hours.is_open(now):
                return self._after_hours(received, queue, hours.next_opening(now), now)
            placement = entry_placement(self.store, queue, new.channel, now)
            outcome = self._first_entry(tenant, received.contact, queue, now, placement)
        entered = Outcome(outcome.contact, (*received.events, *outcome.events))
        callback = self._offers_callback(queue, outcome.contact.channel, placement)
        return self._create(
            entered,
            queue,
            Placed(outcome.contact, placement.position, placement.estimated_wait, offer_callback=callback),
            now,
        )

    def _after_hours(self, received: Outcome, queue: Queue, opening: datetime, now: datetime) -> Placed:
        """A new contact while its queue is closed: the closed action instead of a place."""
        contact = replace(received.contact, queue_id=queue.queue_id)
        outcome = moves.after_hours(
            contact,
            now,
            action=queue.closed_action,
            next_opening=opening,
            callback_contact_id=new_id(),
            placement=entry_placement(self.store, queue, Channel.CALLBACK, now),
        )
        closed = Outcome(outcome.contact, (*received.events, *outcome.events), outcome.spawned)
        placed = Placed(
            outcome.contact, next_opening=opening, closed_action=_closed_action(outcome.contact, queue)
        )
        return self._create(closed, queue, placed, now)

    def _again(self, contact: Contact) -> Placed:
        """A contact already submitted, as it is: one closed out learns the queue's next opening again."""
        queue = self.core.queue_of(contact) if contact.status is ContactStatus.AFTER_HOURS else None
        if queue is None:
            return Placed(contact, created=False)
        hours = self.core.hours_of(queue)
        opening = hours.next_opening(self.core.now()) if hours is not None else None
        return Placed(
            contact, created=False, next_opening=opening, closed_action=_closed_action(contact, queue)
        )

    def _first_entry(
        self, tenant: str, contact: Contact, queue: Queue, now: datetime, placement: Placement
    ) -> Outcome:
        if contact.related_contact_id:
            abandoned = self.store.contact(tenant, contact.related_contact_id)
            if abandoned is not None and abandoned.contact.status is ContactStatus.ABANDONED:
                origin = self.core.queue_of(abandoned.contact) or queue
                return moves.rejoin(
                    contact,
                    abandoned.contact,
                    now,
                    queue_id=queue.queue_id,
                    resume_window=origin.resume_window,
                    placement=placement,
                )
        return arrival.enqueue(contact, queue.queue_id, now, placement=placement)

    def _create(self, outcome: Outcome, queue: Queue | None, placed: Placed, now: datetime) -> Placed:
        """Write the new contact and, when it entered a queue, route it."""
        contact = outcome.contact
        tenant = contact.tenant_id
        preferred = ""
        if queue is not None and queue.strategy is Strategy.PREFERRED_AGENT and contact.context.customer_id:
            raw = self.store.client.get(Keys(tenant).customer_agent(contact.context.customer_id))
            preferred = raw.decode() if isinstance(raw, bytes) else ""
        record = ContactRecord(0, contact, preferred_agent_id=preferred)

        def attempt() -> ContactRecord | None:
            """The contact as committed, or None when another delivery of it created it first."""
            nonlocal queue
            if queue is not None and contact.status is ContactStatus.QUEUED:
                self.steps.ensure_signature(record, queue, now)
            tx = Tx(Keys(tenant))
            created = self.core.stage_contact(
                tx, None, contact, queue, now, outcome.events, preferred_agent_id=preferred
            )
            if outcome.spawned is not None:
                # A callback for the next opening: not routable before it, so no signature yet.
                self.core.stage_contact(tx, None, outcome.spawned, queue, now)
            try:
                self.store.commit(tx)
            except ConflictError as lost:
                if lost.key == tx.keys.contact(contact.contact_id):
                    return None
                # The queue was removed, or the signature the contact waits on pruned, meanwhile.
                queue = self.core.require_queue(tenant, queue.queue_id) if queue is not None else None
                raise
            return created

        created = self.core.retry(f"contact {contact.contact_id}", attempt)
        if created is None:
            existing = self.core.require_contact(tenant, contact.contact_id)
            return Placed(existing.contact, created=False)
        if queue is not None and contact.status is ContactStatus.QUEUED:
            self.matcher.route_contact(tenant, contact.contact_id, fresh=(created, queue))
        return placed

    def _queue_for(self, tenant: str, queue_id: str, channel: Channel, department: Department) -> Queue:
        if queue_id:
            queue = self.core.require_queue(tenant, queue_id)
        else:
            serving = [
                q
                for q in self.catalog.queues(tenant)
                if channel in q.routed_channels and q.department is department
            ]
            if not serving:
                raise InvalidConfiguration(
                    "no_queue_for_contact",
                    f"no {department.value} queue serves {channel.value}; name a queue_id",
                    channel=channel.value,
                )
            queue = min(serving, key=lambda q: q.queue_id)
        if channel not in queue.routed_channels:
            raise InvalidConfiguration(
                "queue_does_not_serve_channel",
                f"queue {queue.queue_id} does not serve {channel.value}",
                queue_id=queue.queue_id,
                channel=channel.value,
            )
        return queue

    def _offers_callback(self, queue: Queue, channel: Channel, placement: Placement) -> bool:
        if channel is not Channel.VOICE or not queue.callback_threshold:
            return False
        staffed = self.store.set_size(Keys(queue.tenant_id).staffed(queue.queue_id, channel))
        return offers_callback(queue, channel, placement.estimated_wait, staffed)

    def escalate(
        self,
        tenant: str,
        contact_id: str,
        queue_id: str,
        context: ContactContext,
        channel: Channel | None = None,
    ) -> Placed:
        """A bot or IVR hands the contact to a queue, with what it learnt."""

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            target = self.core.require_queue(tenant, queue_id)
            to_channel = channel if channel not in _WITHOUT_AGENT else None
            return Step(
                arrival.escalate_from_bot(
                    record.contact,
                    queue_id,
                    now,
                    intent=context.intent,
                    transcript_summary=context.bot_transcript_summary,
                    channel=to_channel,
                    placement=entry_placement(self.store, target, to_channel or Channel.CHAT, now),
                )
            )

        applied = self.steps.apply(tenant, contact_id, decide, agent_id="")
        return Placed(applied.after.contact)

    def self_served(self, tenant: str, contact_id: str, resolution_code: str) -> Applied:
        return self.steps.apply(
            tenant,
            contact_id,
            lambda record, agent, queue, now: Step(
                arrival.self_serve(record.contact, now, resolution_code=resolution_code)
            ),
            agent_id="",
        )


def _closed_action(contact: Contact, queue: Queue) -> TimeoutAction:
    """The closed action the contact got: a callback only when one was made (callers only)."""
    if contact.callback_contact_id:
        return TimeoutAction.CALLBACK
    return TimeoutAction.TICKET if queue.closed_action is TimeoutAction.CALLBACK else queue.closed_action
