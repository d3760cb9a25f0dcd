"""The simulated floor as the simulator sees it while it runs: who is waiting, who has been picked
up, what each agent is doing. The customers' and agents' coroutines share it; it decides the races
between them (a customer hanging up while an agent picks up) the one way both sides then act on,
and it feeds the live view. No I/O: the runner does the talking to the platform."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum

from simulator.plan import PlannedContact
from simulator.truth import Ledger


class Wait(Enum):
    WAITING = "waiting"
    # An agent's accept is on its way: the customer stays, whatever their patience says.
    PICKING_UP = "picking up"
    ANSWERED = "answered"
    GONE = "gone"


class AgentActivity(Enum):
    OFF_SHIFT = "off shift"
    AVAILABLE = "available"
    BUSY = "busy"
    WRAP_UP = "wrap-up"
    # On a break, or logging out once the contacts in hand are done.
    AWAY = "away"


@dataclass
class Caller:
    contact: PlannedContact
    state: Wait = Wait.WAITING
    # Patience ran out while an agent was picking up: leave if the pick-up fails.
    impatient: bool = False
    transfers: int = 0


@dataclass
class Floor:
    ledger: Ledger = field(default_factory=Ledger)
    callers: dict[str, Caller] = field(default_factory=dict)
    agents: dict[str, AgentActivity] = field(default_factory=dict)
    planned: int = 0
    arrived: int = 0
    # Survey requests the platform sent (repeats dropped), and those the customers answered.
    surveys_requested: int = 0
    surveys: int = 0
    rejected: int = 0
    transfers: int = 0
    callbacks: int = 0
    missed: int = 0
    finished: int = 0

    def queue(self, contact: PlannedContact) -> Caller:
        caller = Caller(contact)
        self.callers[contact.contact_id] = caller
        return caller

    def pick_up(self, contact_id: str) -> bool:
        """An agent starts accepting an offer; False when the customer has already gone."""
        caller = self.callers.get(contact_id)
        if caller is None or caller.state is not Wait.WAITING:
            return False
        caller.state = Wait.PICKING_UP
        return True

    def picked_up(self, contact_id: str, at: float) -> None:
        self.ledger.answered(contact_id, at)
        self.callers[contact_id].state = Wait.ANSWERED

    def pick_up_failed(self, contact_id: str) -> bool:
        """The accept was refused (the offer had expired): the customer waits on, or leaves now if
        their patience ran out meanwhile; True when they leave."""
        caller = self.callers[contact_id]
        caller.state = Wait.WAITING
        return caller.impatient

    def called_back(self, contact_id: str, callback: PlannedContact, at: float) -> None:
        """The caller took a callback: their call ends, and the callback waits in their place."""
        self.ledger.called_back(contact_id, callback.contact_id, at)
        self.callers[contact_id].state = Wait.GONE
        self.callers[callback.contact_id] = Caller(callback)

    def callback_due(self, callback: PlannedContact) -> None:
        """A callback the queue's closed action made for the next opening: it waits as a caller."""
        self.callers[callback.contact_id] = Caller(callback)

    def left_unanswered(self, contact_id: str) -> None:
        """The run ended with the contact still queued; the ledger keeps it waiting."""
        self.callers[contact_id].state = Wait.GONE

    def transferred(self, contact_id: str, to_queue: str, at: float) -> None:
        """Sent on by an agent: the customer waits again, as long as it takes."""
        self.ledger.transferred(contact_id, to_queue, at)
        caller = self.callers[contact_id]
        caller.state = Wait.WAITING
        caller.transfers += 1

    def out_of_patience(self, contact_id: str) -> bool:
        """True when the customer hangs up now; while an agent picks up, they hold on to see."""
        caller = self.callers[contact_id]
        if caller.state is Wait.PICKING_UP:
            caller.impatient = True
            return False
        return caller.state is Wait.WAITING

    def closed_out(self, contact_id: str) -> bool | None:
        """The queue's closed action took the customer: True when they were waiting, and are gone
        now; None while an agent picks up (gone once the pick-up fails); False when they had been
        answered or had gone already."""
        caller = self.callers[contact_id]
        if caller.state is Wait.PICKING_UP:
            return None
        if caller.state is not Wait.WAITING:
            return False
        caller.state = Wait.GONE
        return True

    def left(self, contact_id: str, at: float) -> None:
        self.ledger.abandoned(contact_id, at)
        self.callers[contact_id].state = Wait.GONE

    def waiting(self) -> list[str]:
        return [c for c, caller in self.callers.items() if caller.state is Wait.WAITING]

    def waiting_by_queue(self) -> Counter[tuple[str, str]]:
        counted: Counter[tuple[str, str]] = Counter()
        for caller in self.callers.values():
            if caller.state in (Wait.WAITING, Wait.PICKING_UP):
                truth = self.ledger.contacts[caller.contact.contact_id]
                counted[(truth.queue_id, truth.channel)] += 1
        return counted

    def agent_activity(self, agent_id: str, activity: AgentActivity, at: float) -> None:
        self.agents[agent_id] = activity
        self.ledger.agent_activity(agent_id, activity.value, at)

    def agents_by_activity(self) -> Counter[AgentActivity]:
        return Counter(self.agents.values())
