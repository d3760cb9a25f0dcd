"""Random command sequences on one contact. Invariants: the contact is never with two agents; no
duration in any event is negative; a finished contact never changes; every change is a move the
lifecycle table allows and raises the version by exactly one; and every command applied again with
the same inputs changes nothing or is refused (consumers see redeliveries)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from helpline.v1 import contact_events_pb2 as ev
from services.router.domain import arrival, conversation, moves, offers
from services.router.domain.contact import ALLOWED, FINAL, Contact, ContactStatus, EntryReason
from services.router.domain.errors import DomainError
from services.router.domain.model import Channel, Department, TimeoutAction
from services.router.domain.outcome import Outcome
from tests.unit.router.contacts import OFFER_TIMEOUT, RESUME_WINDOW, T0, WRAP_UP, received

S = ContactStatus
AGENTS = st.sampled_from(["a-1", "a-2", "a-3"])
QUEUES = st.sampled_from(["q-1", "q-2"])
SECONDS = st.integers(min_value=0, max_value=40)
WITH_AGENT = frozenset({S.ACCEPTED, S.CONNECTED, S.HELD, S.AFTER_CONTACT_WORK})


def _durations(message: Message) -> list[timedelta]:
    found = []
    for field, value in message.ListFields():
        if isinstance(value, Duration):
            found.append(value.ToTimedelta())
        elif field.message_type is not None and isinstance(value, Message):
            found.extend(_durations(value))
    return found


class ContactLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.contact = received()
        self.offers = 0
        self.callbacks = 0
        # Agents holding the contact, as the events tell it.
        self.holders: set[str] = set()

    @initialize(channel=st.sampled_from([Channel.VOICE, Channel.CHAT, Channel.EMAIL]))
    def start(self, channel: Channel) -> None:
        self.contact = received(channel)

    def _apply(self, command: Callable[[Contact], Outcome]) -> None:
        before = self.contact
        try:
            outcome = command(before)
        except DomainError:
            return
        assert before.status not in FINAL, "a finished contact changed"
        after = outcome.contact
        if after is before:
            assert outcome.events == ()
        else:
            assert after.version == before.version + 1
            assert after.status is before.status or after.status in ALLOWED[before.status]
        for event in outcome.events:
            assert all(length >= timedelta(0) for length in _durations(event)), event
            self._follow(event)
        try:
            again = command(after)
        except DomainError:
            pass
        else:
            assert again.contact is after, "a redelivery changed the contact"
            assert again.events == ()
        self.contact = after

    def _follow(self, event: Message) -> None:
        if isinstance(event, ev.ContactAccepted):
            self.holders.add(event.agent_id)
        elif isinstance(event, ev.ContactTransferred):
            self.holders.discard(event.from_agent_id)
            if event.to_agent_id and self.contact.consult_agent_id == event.to_agent_id:
                self.holders.add(event.to_agent_id)
        elif isinstance(event, ev.ContactHandedOff | ev.ContactCompleted):
            self.holders.clear()

    def _id(self, prefix: str) -> str:
        self.offers += 1
        return f"{prefix}-{self.offers}"

    @rule(seconds=SECONDS)
    def tick(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(queue=QUEUES, reason=st.sampled_from([EntryReason.NEW, EntryReason.OVERFLOW, EntryReason.REQUEUE]))
    def enqueue(self, queue: str, reason: EntryReason) -> None:
        self._apply(lambda c: arrival.enqueue(c, queue, self.now, reason=reason))

    @rule()
    def self_serve(self) -> None:
        self._apply(lambda c: arrival.self_serve(c, self.now, resolution_code="order_status"))

    @rule(agent=AGENTS)
    def offer(self, agent: str) -> None:
        offer_id = self._id("o")
        self._apply(
            lambda c: offers.offer(c, agent, self.now, offer_id=offer_id, offer_timeout=OFFER_TIMEOUT)
        )

    @rule(agent=AGENTS, own_offer=st.booleans())
    def accept(self, agent: str, own_offer: bool) -> None:
        offer_id = self.contact.offer_id if own_offer else "o-stale"
        self._apply(lambda c: offers.accept(c, agent, offer_id, self.now))

    @rule(agent=AGENTS)
    def reject(self, agent: str) -> None:
        offer_id = self.contact.offer_id
        self._apply(lambda c: offers.reject(c, agent, offer_id, self.now))

    @rule()
    def offer_times_out(self) -> None:
        offer_id = self.contact.offer_id
        self._apply(
            lambda c: offers.time_out_offer(c, offer_id, self.now, consecutive_misses=1, max_no_answer=3)
        )

    @rule(agent=AGENTS)
    def connect(self, agent: str) -> None:
        self._apply(lambda c: conversation.connect(c, agent, self.now))

    @rule(agent=AGENTS)
    def hold(self, agent: str) -> None:
        self._apply(lambda c: conversation.hold(c, agent, self.now))

    @rule(agent=AGENTS)
    def resume(self, agent: str) -> None:
        self._apply(lambda c: conversation.resume(c, agent, self.now))

    @rule(agent=AGENTS, queue=QUEUES, to_agent=st.sampled_from(["", "a-1", "a-2", "a-3"]))
    def transfer(self, agent: str, queue: str, to_agent: str) -> None:
        self._apply(lambda c: moves.transfer(c, agent, self.now, to_queue_id=queue, to_agent_id=to_agent))

    @rule(agent=AGENTS, to_agent=AGENTS)
    def consult(self, agent: str, to_agent: str) -> None:
        self._apply(lambda c: moves.start_consult(c, agent, to_agent, self.now))

    @rule(agent=AGENTS)
    def cancel_consult(self, agent: str) -> None:
        self._apply(lambda c: moves.cancel_consult(c, agent, self.now))

    @rule(agent=AGENTS)
    def warm_transfer(self, agent: str) -> None:
        self._apply(lambda c: moves.complete_warm_transfer(c, agent, self.now))

    @rule(agent=st.sampled_from(["", "a-1", "a-2"]), department=st.sampled_from(list(Department)))
    def hand_off(self, agent: str, department: Department) -> None:
        self._apply(
            lambda c: moves.hand_off(c, self.now, to_queue_id="q-h", to_department=department, agent_id=agent)
        )

    @rule()
    def hang_up(self) -> None:
        self._apply(lambda c: conversation.hang_up(c, self.now, wrap_up_timeout=WRAP_UP))

    @rule(agent=AGENTS)
    def complete(self, agent: str) -> None:
        self._apply(lambda c: conversation.complete(c, agent, self.now, disposition_code="done"))

    @rule()
    def wrap_up_times_out(self) -> None:
        self._apply(lambda c: conversation.wrap_up_timed_out(c, self.now))

    @rule()
    def abandon(self) -> None:
        self._apply(lambda c: moves.abandon(c, self.now, resume_window=RESUME_WINDOW))

    @rule()
    def callback(self) -> None:
        callback_id = self._id("k")
        self._apply(lambda c: moves.schedule_callback(c, self.now, callback_contact_id=callback_id))

    @rule(action=st.sampled_from(list(TimeoutAction)))
    def time_out(self, action: TimeoutAction) -> None:
        callback_id = self._id("k")
        self._apply(
            lambda c: moves.time_out(
                c, self.now, max_wait=timedelta(minutes=1), action=action, callback_contact_id=callback_id
            )
        )

    @invariant()
    def never_with_two_agents(self) -> None:
        contact = self.contact
        assert len(self.holders) <= 1
        if contact.status in WITH_AGENT:
            assert contact.agent_id
            assert self.holders == {contact.agent_id}
            assert contact.consult_agent_id != contact.agent_id
        elif contact.status is S.COMPLETED:
            # The agent who handled it stays on the record: ContactCompleted names them.
            assert contact.agent_id
        elif contact.status is not S.OFFERED:
            assert contact.agent_id == ""
            assert not self.holders

    @invariant()
    def times_add_up(self) -> None:
        contact = self.contact
        assert contact.hold_total >= timedelta(0)
        assert contact.waited >= timedelta(0)
        if contact.enqueued_since is not None and contact.queued_at is not None:
            assert contact.enqueued_since <= contact.queued_at
        if contact.status is S.HELD:
            assert contact.hold_started_at is not None
        if contact.channel is Channel.EMAIL:
            assert contact.status is not S.ABANDONED


ContactLifecycle.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestContactLifecycle = ContactLifecycle.TestCase
