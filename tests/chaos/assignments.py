"""The routing invariants a chaos run holds the router to, read from its events alone: pure, no I/O.

- A contact is offered to one agent at a time: no offer while another offer of the contact is
  pending (accepted, rejected, timed out or withdrawn ends one).
- A contact is with one agent at a time: no agent accepts it while another has it (a transfer, a
  hand-off, the completion or the customer leaving ends that).
- No agent is over capacity: the load the router reports with each agent state change stays within
  the capacity the scenario gave the agent, on every channel, and never goes negative.

Events of one contact, and of one agent, are on one partition of their topic (keyed by the contact
and agent id), so each is read in the order the router made them. The relay may publish an event
twice (at-least-once); a repeated event id is the same event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from google.protobuf.message import Message

from helpline.v1 import agent_events_pb2, common_pb2, contact_events_pb2

# Events that end whatever the contact had pending with an agent: an offer, and being with one.
_LEAVES = (
    contact_events_pb2.ContactAbandoned,
    contact_events_pb2.ContactTimedOut,
    contact_events_pb2.ContactCompleted,
    contact_events_pb2.ContactCallbackScheduled,
    contact_events_pb2.ContactHandedOff,
)


@dataclass
class _Contact:
    offer: tuple[str, str] | None = None  # (offer id, agent id)
    agent: str = ""


@dataclass
class AssignmentAudit:
    """Fed the tenant's contact and agent events as read from their topics; `violations` says what
    broke an invariant."""

    # Agent id -> channel name (`voice`...) -> capacity, from the scenario.
    capacity: Mapping[str, Mapping[str, int]]
    violations: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    contacts: dict[str, _Contact] = field(default_factory=dict)
    offers: int = 0
    state_changes: int = 0

    def feed(self, events: Iterable[tuple[str, Message]]) -> None:
        for event_id, event in events:
            if event_id in self.seen:
                continue
            self.seen.add(event_id)
            if isinstance(event, agent_events_pb2.AgentStateChanged):
                self._agent(event)
            elif (contact_id := getattr(event, "contact_id", "")) and not isinstance(
                event, agent_events_pb2.AgentStatusChanged
            ):
                self._contact(self.contacts.setdefault(contact_id, _Contact()), contact_id, event)

    def _contact(self, contact: _Contact, contact_id: str, event: Message) -> None:
        if isinstance(event, contact_events_pb2.ContactOffered):
            self.offers += 1
            if contact.offer is not None:
                self.violations.append(
                    f"{contact_id} offered to {event.agent_id} ({event.offer_id}) while offer "
                    f"{contact.offer[0]} to {contact.offer[1]} was pending"
                )
            contact.offer = (event.offer_id, event.agent_id)
        elif isinstance(
            event,
            contact_events_pb2.ContactAccepted
            | contact_events_pb2.ContactRejected
            | contact_events_pb2.ContactOfferTimedOut,
        ):
            if contact.offer is not None and contact.offer[0] == event.offer_id:
                contact.offer = None
            if isinstance(event, contact_events_pb2.ContactAccepted):
                if contact.agent and contact.agent != event.agent_id:
                    self.violations.append(
                        f"{contact_id} accepted by {event.agent_id} while with {contact.agent}"
                    )
                contact.agent = event.agent_id
        elif isinstance(event, contact_events_pb2.ContactTransferred):
            contact.offer = None
            contact.agent = event.to_agent_id
        elif isinstance(event, _LEAVES):
            contact.offer = None
            contact.agent = ""

    def _agent(self, event: agent_events_pb2.AgentStateChanged) -> None:
        self.state_changes += 1
        limits = self.capacity.get(event.agent_id, {})
        for load in event.loads:
            channel = common_pb2.Channel.Name(load.channel).removeprefix("CHANNEL_").lower()
            if load.active < 0 or load.active > limits.get(channel, 0):
                self.violations.append(
                    f"{event.agent_id} has {load.active} {channel} contacts; capacity "
                    f"{limits.get(channel, 0)} (state {common_pb2.AgentState.Name(event.state)})"
                )
