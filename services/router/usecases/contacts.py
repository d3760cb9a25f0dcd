"""The contact use cases every interface shares (gRPC, the ingress consumer, the timers): arrival,
the agent's answers, the conversation, moves and the end of the wait. Each decides with the pure
commands of `domain.calls` and `domain.moves` and commits through `Steps`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from google.protobuf.message import Message

from helpline.domain import NotFoundError, new_id, timestamp
from helpline.v1 import agent_events_pb2, common_pb2
from services.router.domain import calls, moves
from services.router.domain.calls import Outcome, Placement
from services.router.domain.contact import Contact, ContactContext, ContactStatus, EntryReason, require_agent
from services.router.domain.convert import AGENT_STATUS_TO_PROTO
from services.router.domain.errors import InvalidConfiguration, RoutingRefused
from services.router.domain.estimates import estimated_wait, offers_callback
from services.router.domain.model import (
    CAPACITY_CHANNEL,
    MISSED_REASON,
    Agent,
    AgentState,
    Channel,
    Department,
    Priority,
    Queue,
    Strategy,
)
from services.router.domain.routing import (
    contact_released,
    offer_accepted,
    offer_rejected,
    offer_timed_out,
    offer_withdrawn,
    overflow,
    transfer_taken,
    wrap_up_ended,
)
from services.router.storage.indexes import ms, waiting_of
from services.router.storage.records import AgentRecord, ContactRecord
from services.router.storage.store import ConflictError, Keys, Tx
from services.router.usecases.configuration import Catalog
from services.router.usecases.contact_steps import Applied, Step, Steps
from services.router.usecases.matching import Matcher
from services.router.usecases.staging import Core, require_id

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


class Contacts:
    def __init__(self, core: Core, catalog: Catalog, matcher: Matcher, steps: Steps) -> None:
        self.core = core
        self.store = core.store
        self.catalog = catalog
        self.matcher = matcher
        self.steps = steps

    # -- arrival --

    def submit(self, tenant: str, new: NewContact) -> Placed:
        """A new contact: received, then self-service waits, a bot escalation or any other
        channel enters a queue. Idempotent by contact id: a redelivery returns the contact as it is."""
        contact_id = require_id("contact", new.contact_id) if new.contact_id else new_id()
        existing = self.store.contact(tenant, contact_id)
        if existing is not None:
            if existing.contact.status is ContactStatus.RECEIVED and new.queue_id:
                return self.escalate(tenant, contact_id, new.queue_id, new.context, new.channel)
            return Placed(existing.contact, created=False)
        now = self.core.now()
        received = calls.receive(
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
            placement = self.placement(queue, Channel.CHAT, now)
            outcome = calls.escalate_from_bot(
                received.contact,
                queue.queue_id,
                now,
                intent=new.context.intent,
                transcript_summary=new.context.bot_transcript_summary,
                placement=placement,
            )
        else:
            queue = self._queue_for(tenant, new.queue_id, new.channel, new.department)
            placement = self.placement(queue, new.channel, now)
            outcome = self._first_entry(tenant, received.contact, queue, now, placement)
        entered = Outcome(outcome.contact, (*received.events, *outcome.events))
        callback = self._offers_callback(queue, outcome.contact.channel, placement)
        return self._create(
            entered,
            queue,
            Placed(outcome.contact, placement.position, placement.estimated_wait, offer_callback=callback),
            now,
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
        return calls.enqueue(contact, queue.queue_id, now, placement=placement)

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
        if queue is not None:
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

    def placement(
        self, queue: Queue, channel: Channel, now: datetime, since: datetime | None = None
    ) -> Placement:
        """Where a contact entering now (waiting since `since`) stands, and its EWT. The position
        counts the contacts of the channel that have waited longer, whatever their priority."""
        position, staffed, aht_ms = self.store.placement_counts(
            Keys(queue.tenant_id), queue.queue_id, channel, ms(since or now)
        )
        aht = timedelta(milliseconds=aht_ms) if aht_ms is not None else None
        return Placement(position, estimated_wait(position, staffed, aht))

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
                calls.escalate_from_bot(
                    record.contact,
                    queue_id,
                    now,
                    intent=context.intent,
                    transcript_summary=context.bot_transcript_summary,
                    channel=to_channel,
                    placement=self.placement(target, to_channel or Channel.CHAT, now),
                )
            )

        applied = self.steps.apply(tenant, contact_id, decide, agent_id="")
        return Placed(applied.after.contact)

    def self_served(self, tenant: str, contact_id: str, resolution_code: str) -> Applied:
        return self.steps.apply(
            tenant,
            contact_id,
            lambda record, agent, queue, now: Step(
                calls.self_serve(record.contact, now, resolution_code=resolution_code)
            ),
            agent_id="",
        )

    # -- the agent's answer --

    def _offered_contact(self, tenant: str, offer_id: str) -> str:
        raw = self.store.client.get(Keys(tenant).offer(offer_id))
        if not isinstance(raw, bytes):
            raise NotFoundError("offer", offer_id)
        return raw.decode()

    def accept(self, tenant: str, agent_id: str, offer_id: str) -> Applied:
        """The agent takes the offer: the contact is theirs and connected (the desktop answered)."""
        self.core.require_agent(tenant, agent_id)

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            assert agent is not None
            accepted = calls.accept(record.contact, agent_id, offer_id, now)
            connected = calls.connect(accepted.contact, agent_id, now)
            taken = offer_accepted(agent.agent, record.contact.channel, now)
            return Step(
                Outcome(connected.contact, (*accepted.events, *connected.events)),
                agent=taken,
                agent_changes={"contacts": (*agent.contacts, record.contact.contact_id)},
            )

        return self.steps.apply(tenant, self._offered_contact(tenant, offer_id), decide, agent_id=agent_id)

    def reject(self, tenant: str, agent_id: str, offer_id: str, reason: str = "") -> Applied:
        self.core.require_agent(tenant, agent_id)

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            assert agent is not None
            rejected = calls.reject(record.contact, agent_id, offer_id, now, reason=reason)
            return Step(rejected, agent=offer_rejected(agent.agent))

        return self.steps.apply(tenant, self._offered_contact(tenant, offer_id), decide, agent_id=agent_id)

    def offer_expired(self, tenant: str, contact_id: str, offer_id: str) -> Applied:
        """The offer timer fired: the contact goes to the next agent; the agent may go away missed."""

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            if agent is None or queue is None:
                raise RoutingRefused("offer_not_pending", f"contact {contact_id} has no agent or queue")
            missed = offer_timed_out(agent.agent, queue)
            outcome = calls.time_out_offer(
                record.contact,
                offer_id,
                now,
                consecutive_misses=missed.consecutive_no_answers,
                max_no_answer=queue.max_no_answer,
            )
            events = []
            if missed.status is not agent.agent.status:
                events.append(
                    agent_events_pb2.AgentStatusChanged(
                        tenant_id=tenant,
                        agent_id=missed.agent_id,
                        status=AGENT_STATUS_TO_PROTO[missed.status],
                        previous_status=AGENT_STATUS_TO_PROTO[agent.agent.status],
                        reason_code=MISSED_REASON,
                        changed_by=common_pb2.Actor(type=common_pb2.AUTHOR_TYPE_SYSTEM, id="router"),
                        changed_at=timestamp(now),
                    )
                )
            return Step(outcome, agent=missed, agent_events=tuple(events), withdrawn="expired")

        return self.steps.apply(tenant, contact_id, decide)

    # -- the conversation --

    def hold(self, tenant: str, contact_id: str, agent_id: str) -> Applied:
        return self.steps.apply(
            tenant,
            contact_id,
            lambda record, agent, queue, now: Step(calls.hold(record.contact, agent_id, now)),
            agent_id="",
        )

    def resume(self, tenant: str, contact_id: str, agent_id: str) -> Applied:
        return self.steps.apply(
            tenant,
            contact_id,
            lambda record, agent, queue, now: Step(calls.resume(record.contact, agent_id, now)),
            agent_id="",
        )

    def end(self, tenant: str, contact_id: str, agent_id: str = "") -> Applied:
        """The conversation ended (hang-up, chat closed): after-contact work until the timeout."""

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            if agent_id and agent_id != record.contact.agent_id:
                require_agent(record.contact, agent_id, "end it")
            timeout = queue.after_contact_work_timeout if queue else timedelta(0)
            ended = calls.hang_up(record.contact, now, wrap_up_timeout=timeout)
            if agent is None:
                return Step(ended)
            others = len([c for c in agent.contacts if c != contact_id])
            released = contact_released(
                agent.agent, record.contact.channel, now, wrap_up=others == 0 and timeout > timedelta(0)
            )
            return Step(ended, agent=released, wrap_up_until=ended.contact.wrap_up_until)

        return self.steps.apply(tenant, contact_id, decide)

    def complete(
        self, tenant: str, contact_id: str, agent_id: str, disposition_code: str, ticket_id: str = ""
    ) -> Applied:
        """The agent ends after-contact work with a disposition; a contact still connected ends
        now and completes at once."""

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            contact = record.contact
            released = agent.agent if agent else None
            events: tuple[Message, ...] = ()
            if contact.status in (ContactStatus.CONNECTED, ContactStatus.HELD):
                require_agent(contact, agent_id, "complete it")
                ended = calls.hang_up(contact, now, wrap_up_timeout=timedelta(0))
                contact, events = ended.contact, ended.events
                if released is not None:
                    released = contact_released(released, contact.channel, now, wrap_up=False)
            done = calls.complete(
                contact, agent_id, now, disposition_code=disposition_code, ticket_id=ticket_id
            )
            return _finished(record, agent, released, Outcome(done.contact, (*events, *done.events)), now)

        return self.steps.apply(tenant, contact_id, decide)

    def wrap_up_expired(self, tenant: str, contact_id: str) -> Applied:
        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            done = calls.wrap_up_timed_out(record.contact, now)
            return _finished(record, agent, agent.agent if agent else None, done, now)

        return self.steps.apply(tenant, contact_id, decide)

    # -- moves --

    def transfer(
        self,
        tenant: str,
        contact_id: str,
        agent_id: str,
        *,
        to_queue_id: str = "",
        to_agent_id: str = "",
        to_department: Department | None = None,
        reason: str = "",
    ) -> Applied:
        """Blind transfer to a queue or an agent; to a queue of another department it is a hand-off."""
        if to_agent_id:
            self.core.require_agent(tenant, to_agent_id)
        target = self.core.require_queue(tenant, to_queue_id) if to_queue_id else None

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            contact = record.contact
            destination = target or queue
            if destination is None:
                raise NotFoundError("queue", contact.queue_id)
            department = to_department or destination.department
            placement = self.placement(destination, contact.channel, now, now - contact.waited)
            if department is not contact.department:
                if not to_queue_id:
                    raise InvalidConfiguration(
                        "hand_off_needs_queue", "a hand-off names a queue of the other department"
                    )
                outcome = moves.hand_off(
                    contact,
                    now,
                    to_queue_id=destination.queue_id,
                    to_department=department,
                    agent_id=agent_id,
                    reason=reason,
                    placement=placement,
                )
            else:
                outcome = moves.transfer(
                    contact,
                    agent_id,
                    now,
                    to_queue_id=to_queue_id,
                    to_agent_id=to_agent_id,
                    to_department=department,
                    reason=reason,
                    placement=placement,
                )
            return _released(record, agent, outcome, now)

        return self.steps.apply(tenant, contact_id, decide)

    def start_warm_transfer(self, tenant: str, contact_id: str, agent_id: str, to_agent_id: str) -> Applied:
        """Warm transfer, first half: the agent consults another agent, keeping the customer."""
        self.core.require_agent(tenant, require_id("agent", to_agent_id))
        return self.steps.apply(
            tenant,
            contact_id,
            lambda record, agent, queue, now: Step(
                moves.start_consult(record.contact, agent_id, to_agent_id, now)
            ),
            agent_id="",
        )

    def cancel_warm_transfer(self, tenant: str, contact_id: str, agent_id: str) -> Applied:
        return self.steps.apply(
            tenant,
            contact_id,
            lambda record, agent, queue, now: Step(moves.cancel_consult(record.contact, agent_id, now)),
            agent_id="",
        )

    def complete_warm_transfer(
        self, tenant: str, contact_id: str, agent_id: str, reason: str = ""
    ) -> Applied:
        """Warm transfer, second half: the consulted agent has the customer now, within capacity;
        the first agent is free of it."""

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            consulted = record.contact.consult_agent_id
            outcome = moves.complete_warm_transfer(record.contact, agent_id, now, reason=reason)
            taker = self.core.require_agent(tenant, consulted)
            taken = transfer_taken(taker.agent, record.contact.channel, now)
            released = _released(record, agent, outcome, now)
            return replace(
                released,
                other=(taker, taken),
                other_changes={"contacts": (*taker.contacts, contact_id)},
            )

        return self.steps.apply(tenant, contact_id, decide)

    def hand_off(self, tenant: str, contact_id: str, to_queue_id: str, reason: str = "") -> Applied:
        """A waiting contact moves to a queue of the other department (no agent involved)."""
        target = self.core.require_queue(tenant, to_queue_id)

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            placement = self.placement(target, record.contact.channel, now, record.contact.enqueued_since)
            outcome = moves.hand_off(
                record.contact,
                now,
                to_queue_id=to_queue_id,
                to_department=target.department,
                # No agent: one in a conversation hands it off by `transfer`, which frees the agent.
                agent_id="",
                reason=reason,
                placement=placement,
            )
            return _withdrawn(record, agent, outcome, "handed_off")

        return self.steps.apply(tenant, contact_id, decide)

    def abandon(self, tenant: str, contact_id: str) -> Applied:
        """The customer left while waiting; an offer in flight is withdrawn."""

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            window = queue.resume_window if queue else timedelta(0)
            outcome = moves.abandon(
                record.contact, now, resume_window=window, position=self._position(record, queue)
            )
            return _withdrawn(record, agent, outcome, "abandoned")

        return self.steps.apply(tenant, contact_id, decide)

    def position_of(self, tenant: str, contact_id: str) -> int:
        """Where the contact waits in its queue now; 0 once it waits no more."""
        record = self.store.contact(tenant, contact_id)
        if record is None or record.contact.status is not ContactStatus.QUEUED:
            return 0
        return self._position(record, self.core.queue_of(record.contact))

    def _position(self, record: ContactRecord, queue: Queue | None) -> int:
        since = record.contact.enqueued_since
        if queue is None or since is None or record.contact.channel not in CAPACITY_CHANNEL:
            return 0
        return self.store.position(
            Keys(queue.tenant_id).depth(queue.queue_id, record.contact.channel), ms(since)
        )

    def request_callback(
        self, tenant: str, contact_id: str, callback_number: str = "", scheduled_for: datetime | None = None
    ) -> Applied:
        """A waiting caller hangs up and is called back, keeping the place. Asking again for a call
        already called back changes nothing (`spawned` is None; the contact names its callback):
        a client whose answer was lost retries, and must learn the callback it made."""
        callback_id = new_id()

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            if record.contact.status is ContactStatus.CALLED_BACK and record.contact.callback_contact_id:
                return Step(Outcome(record.contact))
            placement = Placement()
            if queue is not None and record.contact.enqueued_since is not None:
                placement = self.placement(queue, Channel.CALLBACK, now, record.contact.enqueued_since)
            outcome = moves.schedule_callback(
                record.contact,
                now,
                callback_contact_id=callback_id,
                callback_number=callback_number,
                scheduled_for=scheduled_for,
                placement=placement,
            )
            return _withdrawn(record, agent, outcome, "called_back")

        return self.steps.apply(tenant, contact_id, decide)

    def max_wait_reached(self, tenant: str, contact_id: str) -> Applied:
        callback_id = new_id()

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            if queue is None:
                raise NotFoundError("queue", record.contact.queue_id)
            return Step(
                moves.time_out(
                    record.contact,
                    now,
                    max_wait=queue.max_wait,
                    action=queue.timeout_action,
                    callback_contact_id=callback_id,
                )
            )

        return self.steps.apply(tenant, contact_id, decide, agent_id="")

    def requirements_due(self, tenant: str, contact_id: str) -> Applied:
        """An overflow step or the preferred-agent window came due: widen, or move queues."""
        return self._overflow(tenant, contact_id, at_least=0)

    def force_overflow(self, tenant: str, contact_id: str, at_least: int = 1) -> Applied:
        """Apply the queue's first `at_least` overflow steps now (an SLA reaction), without
        waiting for them. Asking for the same count again changes nothing, so a redelivered
        alert does not push the contact further."""
        return self._overflow(tenant, contact_id, at_least=at_least)

    def _overflow(self, tenant: str, contact_id: str, *, at_least: int) -> Applied:
        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            if queue is None or record.contact.status is not ContactStatus.QUEUED:
                return Step(Outcome(record.contact))
            steps = max(
                overflow(queue, waiting_of(record), now).steps_due, min(at_least, len(queue.overflow_steps))
            )
            record = replace(record, overflow_step=steps)
            decision = overflow(queue, waiting_of(record), now)
            if decision.move_to_queue_id:
                target = self.core.require_queue(tenant, decision.move_to_queue_id)
                placement = self.placement(target, record.contact.channel, now, record.contact.enqueued_since)
                moved = calls.enqueue(
                    record.contact, target.queue_id, now, reason=EntryReason.OVERFLOW, placement=placement
                )
                return Step(moved, record_changes={"overflow_step": 0}, reindex=True)
            return Step(Outcome(record.contact), record_changes={"overflow_step": steps}, reindex=True)

        return self.steps.apply(tenant, contact_id, decide, agent_id="")

    def raise_priority(self, tenant: str, contact_id: str, priority: Priority) -> Applied:
        """An SLA warning or breach moves a waiting contact up, keeping its age."""

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            contact = record.contact
            if contact.status is not ContactStatus.QUEUED or _rank(priority) >= _rank(contact.priority):
                return Step(Outcome(contact))
            raised = calls.enqueue(
                contact,
                contact.queue_id,
                now,
                reason=EntryReason.REQUEUE,
                priority=priority,
                placement=self.placement(queue, contact.channel, now, contact.enqueued_since)
                if queue
                else Placement(),
            )
            return Step(raised)

        return self.steps.apply(tenant, contact_id, decide, agent_id="")


_PRIORITY_ORDER = (Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW)


def _rank(priority: Priority) -> int:
    return _PRIORITY_ORDER.index(priority)


def _finished(
    record: ContactRecord, agent: AgentRecord | None, released: Agent | None, done: Outcome, now: datetime
) -> Step:
    """The contact completed: the agent leaves after-contact work once nothing else is in hand,
    the queue's handle-time average moves, and the customer remembers the agent."""
    contact = done.contact
    handle = timedelta(0)
    if contact.connected_at is not None and contact.finished_at is not None:
        handle = contact.finished_at - contact.connected_at
    if agent is None or released is None:
        return Step(done, handle_time=handle)
    remaining = tuple(c for c in agent.contacts if c != contact.contact_id)
    free = released
    if free.state is AgentState.AFTER_CONTACT_WORK and not remaining:
        free = wrap_up_ended(free, now)
    return Step(done, agent=free, agent_changes={"contacts": remaining}, handle_time=handle)


def _released(record: ContactRecord, agent: AgentRecord | None, outcome: Outcome, now: datetime) -> Step:
    """The agent hands the contact on (transfer, hand-off) and is free of it."""
    if agent is None or record.contact.contact_id not in agent.contacts:
        return Step(outcome)
    released = contact_released(agent.agent, record.contact.channel, now, wrap_up=False)
    remaining = tuple(c for c in agent.contacts if c != record.contact.contact_id)
    return Step(outcome, agent=released, agent_changes={"contacts": remaining})


def _withdrawn(record: ContactRecord, agent: AgentRecord | None, outcome: Outcome, reason: str) -> Step:
    """The contact left its wait; an agent it was on offer to is as before the offer."""
    if agent is None or record.contact.status is not ContactStatus.OFFERED:
        return Step(outcome)
    return Step(outcome, agent=offer_withdrawn(agent.agent), withdrawn=reason)
