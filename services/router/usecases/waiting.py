"""A contact's wait in its queue: where it stands, what moves it up or on (an overflow step or
preferred-agent window coming due, an SLA reaction, a hand-off to the other department), and how
it leaves without an agent (the customer abandons, asks for a callback, or waits the maximum)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from helpline.business_hours import Calendar
from helpline.domain import NotFoundError, new_id
from services.router.domain import arrival, moves
from services.router.domain.contact import ContactStatus, EntryReason
from services.router.domain.model import Channel, Priority, Queue
from services.router.domain.outcome import Outcome, Placement
from services.router.domain.routing import offer_withdrawn, overflow
from services.router.storage.indexes import waiting_of
from services.router.storage.records import AgentRecord, ContactRecord
from services.router.usecases.contact_steps import Applied, ContactSteps, Step
from services.router.usecases.placement import entry_placement, queue_position
from services.router.usecases.staging import Staging


class Waiting:
    """The use cases of a waiting contact that no agent takes part in; an offer in flight when the
    contact leaves is withdrawn from the agent's desktop."""

    def __init__(self, core: Staging, steps: ContactSteps) -> None:
        self.core = core
        self.store = core.store
        self.steps = steps

    def hand_off(self, tenant: str, contact_id: str, to_queue_id: str, reason: str = "") -> Applied:
        """A waiting contact moves to a queue of the other department (no agent involved)."""
        target = self.core.require_queue(tenant, to_queue_id)

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            placement = entry_placement(
                self.store, target, record.contact.channel, now, record.contact.enqueued_since
            )
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
                record.contact, now, resume_window=window, position=queue_position(self.store, record, queue)
            )
            return _withdrawn(record, agent, outcome, "abandoned")

        return self.steps.apply(tenant, contact_id, decide)

    def position_of(self, tenant: str, contact_id: str) -> int:
        """Where the contact waits in its queue now; 0 once it waits no more."""
        record = self.store.contact(tenant, contact_id)
        if record is None or record.contact.status is not ContactStatus.QUEUED:
            return 0
        return queue_position(self.store, record, self.core.queue_of(record.contact))

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
            due = _within_hours(self.core.hours_of(queue), scheduled_for, now)
            placement = Placement()
            if queue is not None and record.contact.enqueued_since is not None:
                placement = entry_placement(
                    self.store, queue, Channel.CALLBACK, now, record.contact.enqueued_since
                )
            outcome = moves.schedule_callback(
                record.contact,
                now,
                callback_contact_id=callback_id,
                callback_number=callback_number,
                scheduled_for=due,
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

    def hours_due(self, tenant: str, contact_id: str) -> Applied:
        """The contact's queue may have closed: a waiting contact gets the queue's closed action,
        a callback is put off to the opening (callbacks are only offered while the queue is open).
        While the queue is open the contact only gets its next look at the closing, which follows
        a calendar changed meanwhile."""
        callback_id = new_id()

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            contact = record.contact
            if queue is None or contact.status is not ContactStatus.QUEUED:
                return Step(Outcome(contact))
            hours = self.core.hours_of(queue)
            if hours is None or hours.is_open(now):
                return Step(Outcome(contact), reindex=True)
            opening = hours.next_opening(now)
            if contact.channel is Channel.CALLBACK:
                if contact.scheduled_for is not None and contact.scheduled_for >= opening:
                    return Step(Outcome(contact), reindex=True)
                return Step(Outcome(contact.evolve(scheduled_for=opening)))
            placement = entry_placement(self.store, queue, Channel.CALLBACK, now, contact.enqueued_since)
            return Step(
                moves.after_hours(
                    contact,
                    now,
                    action=queue.closed_action,
                    next_opening=opening,
                    callback_contact_id=callback_id,
                    placement=placement,
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
                placement = entry_placement(
                    self.store, target, record.contact.channel, now, record.contact.enqueued_since
                )
                moved = arrival.enqueue(
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
            raised = arrival.enqueue(
                contact,
                contact.queue_id,
                now,
                reason=EntryReason.REQUEUE,
                priority=priority,
                placement=entry_placement(self.store, queue, contact.channel, now, contact.enqueued_since)
                if queue
                else Placement(),
            )
            return Step(raised)

        return self.steps.apply(tenant, contact_id, decide, agent_id="")


def _within_hours(hours: Calendar | None, scheduled_for: datetime | None, now: datetime) -> datetime | None:
    """A callback asked for a time (or now) the queue is closed is due at the next opening."""
    if hours is None or hours.is_open(scheduled_for or now):
        return scheduled_for
    return hours.next_opening(scheduled_for or now)


_PRIORITY_ORDER = (Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW)


def _rank(priority: Priority) -> int:
    return _PRIORITY_ORDER.index(priority)


def _withdrawn(record: ContactRecord, agent: AgentRecord | None, outcome: Outcome, reason: str) -> Step:
    """The contact left its wait; an agent it was on offer to is as before the offer."""
    if agent is None or record.contact.status is not ContactStatus.OFFERED:
        return Step(outcome)
    return Step(outcome, agent=offer_withdrawn(agent.agent), withdrawn=reason)
