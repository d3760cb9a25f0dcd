"""The conversation an agent has with a contact: hold and resume, the end of it and the
after-contact work that follows (completed with a disposition, or timed out), and the agent handing
it on: a blind transfer or hand-off, or a warm transfer through a consult."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from google.protobuf.message import Message

from helpline.domain import NotFoundError
from services.router.domain import conversation, moves
from services.router.domain.contact import ContactStatus, require_agent
from services.router.domain.errors import InvalidConfiguration
from services.router.domain.model import Agent, AgentState, Department, Queue
from services.router.domain.outcome import Outcome
from services.router.domain.routing import contact_released, transfer_taken, wrap_up_ended
from services.router.storage.records import AgentRecord, ContactRecord
from services.router.usecases.contact_steps import Applied, ContactSteps, Step
from services.router.usecases.placement import entry_placement
from services.router.usecases.staging import Staging, require_id


class Conversations:
    """The use cases of a contact an agent has: each frees or moves the agent with the contact, in
    the same commit."""

    def __init__(self, core: Staging, steps: ContactSteps) -> None:
        self.core = core
        self.store = core.store
        self.steps = steps

    def hold(self, tenant: str, contact_id: str, agent_id: str) -> Applied:
        return self.steps.apply(
            tenant,
            contact_id,
            lambda record, agent, queue, now: Step(conversation.hold(record.contact, agent_id, now)),
            agent_id="",
        )

    def resume(self, tenant: str, contact_id: str, agent_id: str) -> Applied:
        return self.steps.apply(
            tenant,
            contact_id,
            lambda record, agent, queue, now: Step(conversation.resume(record.contact, agent_id, now)),
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
            ended = conversation.hang_up(record.contact, now, wrap_up_timeout=timeout)
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
                ended = conversation.hang_up(contact, now, wrap_up_timeout=timedelta(0))
                contact, events = ended.contact, ended.events
                if released is not None:
                    released = contact_released(released, contact.channel, now, wrap_up=False)
            done = conversation.complete(
                contact, agent_id, now, disposition_code=disposition_code, ticket_id=ticket_id
            )
            return _finished(record, agent, released, Outcome(done.contact, (*events, *done.events)), now)

        return self.steps.apply(tenant, contact_id, decide)

    def wrap_up_expired(self, tenant: str, contact_id: str) -> Applied:
        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            done = conversation.wrap_up_timed_out(record.contact, now)
            return _finished(record, agent, agent.agent if agent else None, done, now)

        return self.steps.apply(tenant, contact_id, decide)

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
            placement = entry_placement(self.store, destination, contact.channel, now, now - contact.waited)
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
