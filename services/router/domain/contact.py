"""A contact as the router follows it, and the moves its lifecycle allows (DOMAIN.md, Channels and
contacts; the comment of contact_events.proto).

    received  -> self_served | queued | after_hours
    queued    -> offered | abandoned | timed_out | called_back | after_hours
                 | queued (overflow, requeue, hand-off)
    offered   -> accepted | queued (rejected, offer timed out) | abandoned | called_back
    accepted  -> connected
    connected -> held | after_contact_work (hang-up) | queued (blind transfer, hand-off)
                 | connected (warm transfer: the consulted agent takes over)
    held      -> connected (resumed) | after_contact_work | queued | connected (warm transfer)
    after_contact_work -> completed

`self_served`, `completed`, `abandoned`, `timed_out`, `called_back` (a voice call replaced by a
callback contact) and `after_hours` (its queue was closed: the closed action took over) are final.
"Transferred" is a move, not a place to stay: a transferred contact is queued again, or connected
to the agent it was handed to.

Time in queue is kept across transfers, callbacks and returns: `waited` freezes the effective wait
when the contact is answered, and every later queue entry starts its effective age that much
earlier (`enqueued_since`), so a transferred caller is not sent to the back. Talk, hold and
wrap-up durations belong to the agent who has the contact now (ContactCompleted: "the completing
agent's"), so a warm transfer starts them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from services.router.domain.errors import RoutingRefused
from services.router.domain.model import Channel, Department, Priority, SkillRequirement, WaitingContact


class ContactStatus(StrEnum):
    RECEIVED = "received"
    SELF_SERVED = "self_served"
    QUEUED = "queued"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    CONNECTED = "connected"
    HELD = "held"
    AFTER_CONTACT_WORK = "after_contact_work"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    TIMED_OUT = "timed_out"
    CALLED_BACK = "called_back"
    AFTER_HOURS = "after_hours"


class EntryReason(StrEnum):
    """Why the contact entered its queue (QueueEntryReason)."""

    NEW = "new"
    TRANSFER = "transfer"
    OVERFLOW = "overflow"
    CALLBACK = "callback"
    RETURN = "return"
    HAND_OFF = "hand_off"
    REQUEUE = "requeue"


S = ContactStatus
FINAL = frozenset({S.SELF_SERVED, S.COMPLETED, S.ABANDONED, S.TIMED_OUT, S.CALLED_BACK, S.AFTER_HOURS})
WAITING = frozenset({S.QUEUED, S.OFFERED})
# With an agent and the customer on the line (or the chat open).
IN_CONVERSATION = frozenset({S.CONNECTED, S.HELD})
# Voice carries the customer's audio, so only it can be held; a callback is a voice call.
HOLDABLE_CHANNELS = frozenset({Channel.VOICE, Channel.CALLBACK})
# A customer can only walk away from a live wait; written channels wait in a mailbox.
ABANDONABLE_CHANNELS = frozenset({Channel.VOICE, Channel.CHAT})

ALLOWED: Mapping[ContactStatus, frozenset[ContactStatus]] = {
    S.RECEIVED: frozenset({S.SELF_SERVED, S.QUEUED, S.AFTER_HOURS}),
    S.QUEUED: frozenset({S.OFFERED, S.ABANDONED, S.TIMED_OUT, S.CALLED_BACK, S.AFTER_HOURS, S.QUEUED}),
    S.OFFERED: frozenset({S.ACCEPTED, S.QUEUED, S.ABANDONED, S.CALLED_BACK}),
    S.ACCEPTED: frozenset({S.CONNECTED}),
    S.CONNECTED: frozenset({S.HELD, S.AFTER_CONTACT_WORK, S.QUEUED, S.CONNECTED}),
    S.HELD: frozenset({S.CONNECTED, S.AFTER_CONTACT_WORK, S.QUEUED}),
    S.AFTER_CONTACT_WORK: frozenset({S.COMPLETED}),
    **{final: frozenset() for final in FINAL},
}


@dataclass(frozen=True)
class ContactContext:
    """What the contact carries through routing, transfers and hand-offs (ContactContext)."""

    customer_id: str = ""
    language: str = ""
    intent: str = ""
    priority: Priority = Priority.NORMAL
    vip: bool = False
    required_skills: tuple[SkillRequirement, ...] = ()
    ticket_id: str = ""
    bot_transcript_summary: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    customer_address: str = ""


@dataclass(frozen=True)
class Contact:
    contact_id: str
    tenant_id: str
    channel: Channel
    department: Department
    received_at: datetime
    context: ContactContext = ContactContext()
    entry_point: str = ""
    # The abandoned call a returning caller regains, or the voice call a callback replaces.
    related_contact_id: str = ""
    # The callback that replaced this call: a repeated request for it answers with this one.
    callback_contact_id: str = ""
    status: ContactStatus = S.RECEIVED
    queue_id: str = ""
    # The effective priority: the context's, or raised by an escalation.
    priority: Priority = Priority.NORMAL
    entry_reason: EntryReason | None = None
    first_enqueued_at: datetime | None = None
    queued_at: datetime | None = None
    enqueued_since: datetime | None = None
    # Effective time in queue, frozen when answered; later queue entries start this much earlier.
    waited: timedelta = timedelta(0)
    # A callback is not offered before this.
    scheduled_for: datetime | None = None
    # The agent a blind transfer named: nobody else may be offered the contact.
    reserved_for: str = ""
    offer_id: str = ""
    offered_at: datetime | None = None
    offer_expires_at: datetime | None = None
    attempts: int = 0
    agent_id: str = ""
    # Agents that rejected the contact or let its offer time out, in order; the routing core
    # prefers others.
    declined_by: tuple[str, ...] = ()
    accepted_at: datetime | None = None
    connected_at: datetime | None = None
    hold_started_at: datetime | None = None
    hold_total: timedelta = timedelta(0)
    # The agent consulted for a warm transfer, while the consult lasts.
    consult_agent_id: str = ""
    ended_at: datetime | None = None
    wrap_up_until: datetime | None = None
    finished_at: datetime | None = None
    disposition_code: str = ""
    transfer_count: int = 0
    version: int = 1

    def evolve(self, **changes: Any) -> Contact:
        """The next version of this contact, with `changes` applied."""
        return replace(self, version=self.version + 1, **changes)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    def wait_at(self, now: datetime) -> timedelta:
        """Effective time in queue at `now`: still counting while waiting, frozen once answered."""
        if self.status in WAITING or self.status is S.ACCEPTED:
            assert self.enqueued_since is not None  # set by every queue entry
            return max(now - self.enqueued_since, timedelta(0))
        return self.waited

    def hold_at(self, now: datetime) -> timedelta:
        """Hold time of the current agent up to `now`, the hold in progress included."""
        open_hold = now - self.hold_started_at if self.hold_started_at else timedelta(0)
        return self.hold_total + open_hold


def refuse_if_final(contact: Contact) -> None:
    """Nothing moves a finished contact; the rule names how it finished (`already_completed`...)."""
    if contact.is_final:
        raise RoutingRefused(
            f"already_{contact.status.value}",
            f"contact {contact.contact_id} is {contact.status.value}; it cannot change",
            status=contact.status.value,
        )


def require(contact: Contact, allowed: frozenset[ContactStatus], rule: str, doing: str) -> None:
    """Refuse `doing` unless the contact is in one of `allowed` (finished contacts say how)."""
    refuse_if_final(contact)
    if contact.status not in allowed:
        raise RoutingRefused(
            rule,
            f"contact {contact.contact_id} is {contact.status.value}; cannot {doing}",
            status=contact.status.value,
        )


def require_agent(contact: Contact, agent_id: str, doing: str) -> None:
    """Only the agent who has the contact may act on it."""
    if agent_id != contact.agent_id:
        raise RoutingRefused(
            "not_the_contacts_agent",
            f"contact {contact.contact_id} is with agent {contact.agent_id or 'nobody'}; "
            f"{agent_id} cannot {doing}",
            agent_id=agent_id,
        )


def waiting_contact(
    contact: Contact, *, preferred_agent_id: str = "", overflow_step: int = 0
) -> WaitingContact:
    """What routing needs of a queued contact, with its effective enqueue time."""
    require(contact, WAITING, "not_waiting", "wait for an agent")
    assert contact.enqueued_since is not None  # every queue entry sets it
    return WaitingContact(
        contact_id=contact.contact_id,
        tenant_id=contact.tenant_id,
        queue_id=contact.queue_id,
        channel=contact.channel,
        enqueued_at=contact.enqueued_since,
        priority=contact.priority,
        vip=contact.context.vip,
        required_skills=contact.context.required_skills,
        preferred_agent_id=preferred_agent_id,
        overflow_step=overflow_step,
        declined_by=frozenset(contact.declined_by),
    )
