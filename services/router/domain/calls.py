"""Contact commands: pure functions from a contact and a request to the next contact and the facts
that describe the change (the messages of contact_events.proto, ready for the outbox).

The caller passes `now`, every new id and the queue's terms (offer timeout, resume window, wrap-up
timeout, maximum wait), so the domain reads no clock, makes no ids and needs no queue model. A
change returns the contact one version higher with its events; a refused command raises a
DomainError naming its rule and changes nothing. Consumers see redeliveries, so each command
applied twice with the same inputs either changes nothing (enqueue, offer, start_consult) or is
refused with a rule that says it already happened (`already_accepted`, `already_completed`...).
Creating a contact (`receive`) is idempotent by its id, which the store checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from google.protobuf.message import Message

from helpline.domain import duration, timestamp
from helpline.v1 import contact_events_pb2 as ev
from services.router.domain.contact import (
    HOLDABLE_CHANNELS,
    IN_CONVERSATION,
    Contact,
    ContactContext,
    ContactStatus,
    EntryReason,
    refuse_if_final,
    require,
    require_agent,
)
from services.router.domain.contact_proto import (
    ENTRY_REASON_TO_PROTO,
    context_to_proto,
)
from services.router.domain.convert import CHANNEL_TO_PROTO, DEPARTMENT_TO_PROTO, PRIORITY_TO_PROTO
from services.router.domain.errors import InvalidConfiguration, RoutingRefused
from services.router.domain.model import Channel, Department, Priority

S = ContactStatus
ZERO = timedelta(0)


@dataclass(frozen=True)
class Outcome:
    """What a command decided: the contact after it (the same object when nothing changed), its
    events, and the callback contact a callback creates."""

    contact: Contact
    events: tuple[Message, ...] = ()
    spawned: Contact | None = None


@dataclass(frozen=True)
class Placement:
    """Where the queue put the contact, as the routing core computed it (ContactQueued)."""

    position: int = 0
    estimated_wait: timedelta | None = None


NOWHERE = Placement()
NO_CONTEXT = ContactContext()


# -- arrival -------------------------------------------------------------------------------------


def receive(
    *,
    contact_id: str,
    tenant_id: str,
    channel: Channel,
    department: Department,
    now: datetime,
    context: ContactContext = NO_CONTEXT,
    queue_id: str = "",
    entry_point: str = "",
    related_contact_id: str = "",
) -> Outcome:
    """A new contact from a gateway, a bot or the API, at version 1. `queue_id` is the queue the
    entry point asked for (empty when the router decides); the contact is not queued yet."""
    require_text(contact_id, "contact_id")
    require_text(tenant_id, "tenant_id")
    contact = Contact(
        contact_id=contact_id,
        tenant_id=tenant_id,
        channel=channel,
        department=department,
        received_at=now,
        context=context,
        entry_point=entry_point,
        related_contact_id=related_contact_id,
        queue_id=queue_id,
        priority=context.priority,
    )
    return Outcome(contact, (received_event(contact),))


def self_serve(contact: Contact, now: datetime, *, resolution_code: str) -> Outcome:
    """Resolved by IVR, bot or web self-service without an agent: counts toward deflection."""
    require(contact, frozenset({S.RECEIVED}), "self_serve_requires_received", "be self-served")
    require_text(resolution_code, "resolution_code")
    after = contact.evolve(status=S.SELF_SERVED, finished_at=now, disposition_code=resolution_code)
    served = ev.ContactSelfServed(
        tenant_id=after.tenant_id,
        contact_id=after.contact_id,
        channel=CHANNEL_TO_PROTO[after.channel],
        department=DEPARTMENT_TO_PROTO[after.department],
        intent=after.context.intent,
        resolution_code=resolution_code,
        handle_duration=duration(now - after.received_at),
        self_served_at=timestamp(now),
    )
    return Outcome(after, (served,))


def escalate_from_bot(
    contact: Contact,
    queue_id: str,
    now: datetime,
    *,
    intent: str,
    transcript_summary: str,
    channel: Channel | None = None,
    placement: Placement = NOWHERE,
) -> Outcome:
    """The bot or IVR could not resolve it: the contact enters a queue carrying what the bot learnt.
    A contact on the `bot` channel continues as a chat unless `channel` says otherwise; one on the
    `self_service` channel must name the channel an agent takes it on."""
    require(contact, frozenset({S.RECEIVED}), "escalation_requires_received", "be escalated")
    to_channel = channel or _AGENT_CHANNEL_AFTER_BOT.get(contact.channel, contact.channel)
    if to_channel in _WITHOUT_AGENT:
        raise InvalidConfiguration(
            "escalation_needs_agent_channel",
            f"contact {contact.contact_id} must name the channel an agent takes it on",
            channel=to_channel.value,
        )
    context = replace(
        contact.context,
        intent=intent or contact.context.intent,
        bot_transcript_summary=transcript_summary or contact.context.bot_transcript_summary,
    )
    moved = replace(contact, channel=to_channel, context=context)
    return enter_queue(moved, queue_id, now, EntryReason.NEW, now, placement)


_WITHOUT_AGENT = frozenset({Channel.BOT, Channel.SELF_SERVICE})
_AGENT_CHANNEL_AFTER_BOT: Mapping[Channel, Channel] = {Channel.BOT: Channel.CHAT}
# The reasons `enqueue` accepts from each status; the others come with their own command.
_ENQUEUE_REASONS: Mapping[ContactStatus, frozenset[EntryReason]] = {
    S.RECEIVED: frozenset({EntryReason.NEW}),
    S.QUEUED: frozenset({EntryReason.OVERFLOW, EntryReason.REQUEUE}),
}


def enqueue(
    contact: Contact,
    queue_id: str,
    now: datetime,
    *,
    reason: EntryReason = EntryReason.NEW,
    priority: Priority | None = None,
    placement: Placement = NOWHERE,
) -> Outcome:
    """Put a received contact in its first queue (`new`), move a queued one to another queue
    (`overflow`) or put it back at its place after every offer failed (`requeue`). The effective
    enqueue time is kept on every move. The same entry delivered twice changes nothing."""
    require_text(queue_id, "queue_id")
    if (
        contact.status is S.QUEUED
        and contact.queue_id == queue_id
        and contact.queued_at == now
        and contact.entry_reason is reason
        and (priority is None or priority is contact.priority)
    ):
        return Outcome(contact)
    require(contact, frozenset(_ENQUEUE_REASONS), "enqueue_requires_received_or_queued", "be queued")
    if reason not in _ENQUEUE_REASONS[contact.status]:
        raise InvalidConfiguration(
            "entry_reason_not_allowed",
            f"a {contact.status.value} contact cannot enter a queue for reason {reason.value}",
            reason=reason.value,
            status=contact.status.value,
        )
    if (reason is EntryReason.OVERFLOW) == (queue_id == contact.queue_id) and contact.status is S.QUEUED:
        rule = "overflow_needs_other_queue" if reason is EntryReason.OVERFLOW else "requeue_stays_in_queue"
        raise InvalidConfiguration(rule, f"{reason.value} of contact {contact.contact_id} to {queue_id}")
    since = now if contact.status is S.RECEIVED else contact.enqueued_since or now
    raised = replace(contact, priority=priority) if priority else contact
    return enter_queue(raised, queue_id, now, reason, since, placement)


# -- offers --------------------------------------------------------------------------------------


def offer(
    contact: Contact, agent_id: str, now: datetime, *, offer_id: str, offer_timeout: timedelta
) -> Outcome:
    """Offer the queued contact to one agent until now + the queue's offer timeout. The same offer
    delivered twice changes nothing; a contact on offer cannot be offered to anyone else."""
    require_text(agent_id, "agent_id")
    require_text(offer_id, "offer_id")
    if contact.status is S.OFFERED and contact.offer_id == offer_id and contact.agent_id == agent_id:
        return Outcome(contact)
    refuse_if_final(contact)
    if contact.status is S.OFFERED:
        raise RoutingRefused(
            "already_offered",
            f"contact {contact.contact_id} is on offer to {contact.agent_id}; one agent at a time",
            agent_id=contact.agent_id,
        )
    require(contact, frozenset({S.QUEUED}), "offer_requires_queued", "be offered")
    if offer_timeout <= ZERO:
        raise InvalidConfiguration("offer_timeout_not_positive", "an offer needs a positive timeout")
    if contact.reserved_for and contact.reserved_for != agent_id:
        raise RoutingRefused(
            "reserved_for_agent",
            f"contact {contact.contact_id} was transferred to agent {contact.reserved_for}",
            agent_id=contact.reserved_for,
        )
    if agent_id in contact.declined_by:
        raise RoutingRefused(
            "agent_declined",
            f"agent {agent_id} already rejected contact {contact.contact_id} or let its offer expire",
            agent_id=agent_id,
        )
    if contact.scheduled_for and now < contact.scheduled_for:
        raise RoutingRefused(
            "callback_not_due",
            f"callback {contact.contact_id} is due at {contact.scheduled_for.isoformat()}",
            due_at=contact.scheduled_for.isoformat(),
        )
    after = contact.evolve(
        status=S.OFFERED,
        agent_id=agent_id,
        offer_id=offer_id,
        offered_at=now,
        offer_expires_at=now + offer_timeout,
        attempts=contact.attempts + 1,
    )
    offered = ev.ContactOffered(
        tenant_id=after.tenant_id,
        contact_id=after.contact_id,
        queue_id=after.queue_id,
        channel=CHANNEL_TO_PROTO[after.channel],
        agent_id=agent_id,
        offer_id=offer_id,
        offered_at=timestamp(now),
        expires_at=timestamp(now + offer_timeout),
        attempt=after.attempts,
        wait_duration=duration(after.wait_at(now)),
        context=context_to_proto(after.context, after.priority),
    )
    return Outcome(after, (offered,))


def accept(contact: Contact, agent_id: str, offer_id: str, now: datetime) -> Outcome:
    """The offered agent takes the contact: it is theirs. Only that agent, only that offer, only
    before it expires, and only once."""
    refuse_if_final(contact)
    if contact.status in _ASSIGNED:
        if contact.agent_id == agent_id:
            raise RoutingRefused(
                "already_accepted", f"agent {agent_id} already has contact {contact.contact_id}"
            )
        raise RoutingRefused(
            "offer_accepted_by_other_agent",
            f"contact {contact.contact_id} was accepted by another agent",
            agent_id=agent_id,
        )
    require(contact, frozenset({S.OFFERED}), "accept_requires_offer", "be accepted")
    _require_pending_offer(contact, agent_id, offer_id)
    assert contact.offer_expires_at is not None  # every offer sets it
    if now >= contact.offer_expires_at:
        raise RoutingRefused(
            "offer_expired",
            f"offer {offer_id} expired at {contact.offer_expires_at.isoformat()}",
            offer_id=offer_id,
        )
    after = contact.evolve(status=S.ACCEPTED, accepted_at=now, reserved_for="")
    accepted = ev.ContactAccepted(
        tenant_id=after.tenant_id,
        contact_id=after.contact_id,
        queue_id=after.queue_id,
        channel=CHANNEL_TO_PROTO[after.channel],
        department=DEPARTMENT_TO_PROTO[after.department],
        agent_id=agent_id,
        offer_id=offer_id,
        accepted_at=timestamp(now),
        wait_duration=duration(after.wait_at(now)),
    )
    return Outcome(after, (accepted,))


_ASSIGNED = frozenset({S.ACCEPTED, S.CONNECTED, S.HELD, S.AFTER_CONTACT_WORK})


def reject(contact: Contact, agent_id: str, offer_id: str, now: datetime, *, reason: str = "") -> Outcome:
    """The offered agent declines: the contact waits at its place for the next best agent."""
    require(contact, frozenset({S.OFFERED}), "reject_requires_offer", "be rejected")
    _require_pending_offer(contact, agent_id, offer_id)
    after = _back_to_queue(contact, agent_id)
    rejected = ev.ContactRejected(
        tenant_id=after.tenant_id,
        contact_id=after.contact_id,
        queue_id=after.queue_id,
        agent_id=agent_id,
        offer_id=offer_id,
        reason=reason,
        rejected_at=timestamp(now),
    )
    return Outcome(after, (rejected,))


def time_out_offer(
    contact: Contact, offer_id: str, now: datetime, *, consecutive_misses: int, max_no_answer: int
) -> Outcome:
    """The offer expired unanswered: the contact waits for the next best agent. The agent's
    consecutive misses are counted by the agent's side; at `max_no_answer` the agent is missed."""
    if contact.status is not S.OFFERED or contact.offer_id != offer_id:
        refuse_if_final(contact)
        raise RoutingRefused(
            "offer_not_pending", f"offer {offer_id} of contact {contact.contact_id} is not pending"
        )
    assert contact.offer_expires_at is not None  # every offer sets it
    if now < contact.offer_expires_at:
        raise RoutingRefused(
            "offer_not_expired",
            f"offer {offer_id} expires at {contact.offer_expires_at.isoformat()}",
            expires_at=contact.offer_expires_at.isoformat(),
        )
    agent_id = contact.agent_id
    after = _back_to_queue(contact, agent_id)
    timed_out = ev.ContactOfferTimedOut(
        tenant_id=after.tenant_id,
        contact_id=after.contact_id,
        queue_id=after.queue_id,
        agent_id=agent_id,
        offer_id=offer_id,
        timed_out_at=timestamp(now),
        consecutive_misses=consecutive_misses,
        agent_missed=max_no_answer > 0 and consecutive_misses >= max_no_answer,
    )
    return Outcome(after, (timed_out,))


# -- the conversation ----------------------------------------------------------------------------


def connect(contact: Contact, agent_id: str, now: datetime) -> Outcome:
    """Customer and agent are connected: the contact is answered and its wait is frozen."""
    refuse_if_final(contact)
    if contact.status in IN_CONVERSATION and contact.agent_id == agent_id:
        raise RoutingRefused("already_connected", f"contact {contact.contact_id} is connected")
    require(contact, frozenset({S.ACCEPTED}), "connect_requires_accept", "be connected")
    require_agent(contact, agent_id, "connect it")
    waited = contact.wait_at(now)
    after = contact.evolve(status=S.CONNECTED, connected_at=now, waited=waited)
    return Outcome(after, (connected_event(after, now),))


def hold(contact: Contact, agent_id: str, now: datetime) -> Outcome:
    """Put the caller on hold (voice only)."""
    _require_holdable(contact)
    refuse_if_final(contact)
    if contact.status is S.HELD:
        raise RoutingRefused("already_held", f"contact {contact.contact_id} is on hold")
    require(contact, frozenset({S.CONNECTED}), "hold_requires_connected", "be held")
    require_agent(contact, agent_id, "hold it")
    after = contact.evolve(status=S.HELD, hold_started_at=now)
    held = ev.ContactHeld(
        tenant_id=after.tenant_id, contact_id=after.contact_id, agent_id=agent_id, held_at=timestamp(now)
    )
    return Outcome(after, (held,))


def resume(contact: Contact, agent_id: str, now: datetime) -> Outcome:
    """Take the caller off hold; the hold's length adds to the agent's hold time."""
    _require_holdable(contact)
    require(contact, frozenset({S.HELD}), "not_held", "be resumed")
    require_agent(contact, agent_id, "resume it")
    length = span(contact.hold_started_at, now)
    after = contact.evolve(status=S.CONNECTED, hold_started_at=None, hold_total=contact.hold_total + length)
    resumed = ev.ContactResumed(
        tenant_id=after.tenant_id,
        contact_id=after.contact_id,
        agent_id=agent_id,
        resumed_at=timestamp(now),
        hold_duration=duration(length),
    )
    return Outcome(after, (resumed,))


def hang_up(contact: Contact, now: datetime, *, wrap_up_timeout: timedelta) -> Outcome:
    """The conversation ended (either side hung up, the chat closed, the reply was sent): the
    agent's after-contact work starts, ending by itself after the queue's wrap-up timeout. A hold
    still open ends here. The contracts have no event for it: the agent's AgentStateChanged to
    after_contact_work tells it."""
    refuse_if_final(contact)
    if contact.status is S.AFTER_CONTACT_WORK:
        raise RoutingRefused("already_ended", f"contact {contact.contact_id} has already ended")
    require(contact, IN_CONVERSATION, "hang_up_requires_connected", "be hung up")
    if wrap_up_timeout < ZERO:
        raise InvalidConfiguration("wrap_up_timeout_negative", "the wrap-up timeout cannot be negative")
    after = contact.evolve(
        status=S.AFTER_CONTACT_WORK,
        ended_at=now,
        wrap_up_until=now + wrap_up_timeout,
        hold_started_at=None,
        hold_total=contact.hold_at(now),
        consult_agent_id="",
    )
    return Outcome(after)


def complete(
    contact: Contact, agent_id: str, now: datetime, *, disposition_code: str, ticket_id: str = ""
) -> Outcome:
    """The agent ends after-contact work with a disposition code (and the ticket it was about,
    if the context had none): the contact is done."""
    require(
        contact, frozenset({S.AFTER_CONTACT_WORK}), "complete_requires_after_contact_work", "be completed"
    )
    require_agent(contact, agent_id, "complete it")
    require_text(disposition_code, "disposition_code")
    return _completed(contact, now, disposition_code, ticket_id)


def wrap_up_timed_out(contact: Contact, now: datetime) -> Outcome:
    """After-contact work reached its timeout: the contact completes without a disposition."""
    require(
        contact, frozenset({S.AFTER_CONTACT_WORK}), "complete_requires_after_contact_work", "be completed"
    )
    assert contact.wrap_up_until is not None  # set by hang_up
    if now < contact.wrap_up_until:
        raise RoutingRefused(
            "wrap_up_not_due",
            f"after-contact work of {contact.contact_id} ends at {contact.wrap_up_until.isoformat()}",
            due_at=contact.wrap_up_until.isoformat(),
        )
    return _completed(contact, now, "", "")


# -- internals -----------------------------------------------------------------------------------


def enter_queue(
    contact: Contact,
    queue_id: str,
    now: datetime,
    reason: EntryReason,
    since: datetime,
    placement: Placement,
    *,
    reserved_for: str = "",
) -> Outcome:
    """Enter `queue_id` with the effective age starting at `since`, leaving any agent behind."""
    require_text(queue_id, "queue_id")
    after = contact.evolve(
        status=S.QUEUED,
        queue_id=queue_id,
        entry_reason=reason,
        queued_at=now,
        first_enqueued_at=contact.first_enqueued_at or now,
        enqueued_since=since,
        reserved_for=reserved_for,
        agent_id="",
        offer_id="",
        offered_at=None,
        offer_expires_at=None,
        attempts=contact.attempts if reason is EntryReason.REQUEUE else 0,
        accepted_at=None,
        connected_at=None,
        hold_started_at=None,
        hold_total=ZERO,
        consult_agent_id="",
    )
    queued = ev.ContactQueued(
        tenant_id=after.tenant_id,
        contact_id=after.contact_id,
        queue_id=queue_id,
        channel=CHANNEL_TO_PROTO[after.channel],
        department=DEPARTMENT_TO_PROTO[after.department],
        context=context_to_proto(after.context, after.priority),
        priority=PRIORITY_TO_PROTO[after.priority],
        reason=ENTRY_REASON_TO_PROTO[reason],
        queued_at=timestamp(now),
        enqueued_since=timestamp(since),
        position=placement.position,
    )
    if placement.estimated_wait is not None:
        queued.estimated_wait.CopyFrom(duration(placement.estimated_wait))
    return Outcome(after, (queued,))


def _back_to_queue(contact: Contact, agent_id: str) -> Contact:
    """The offer ended unanswered: the contact keeps its place and remembers who declined it."""
    return contact.evolve(
        status=S.QUEUED,
        agent_id="",
        offer_id="",
        offered_at=None,
        offer_expires_at=None,
        declined_by=(*contact.declined_by, agent_id),
    )


def _require_pending_offer(contact: Contact, agent_id: str, offer_id: str) -> None:
    if agent_id != contact.agent_id:
        raise RoutingRefused(
            "offer_for_other_agent",
            f"contact {contact.contact_id} is on offer to another agent, not {agent_id}",
            agent_id=agent_id,
        )
    if offer_id != contact.offer_id:
        raise RoutingRefused(
            "offer_superseded", f"offer {offer_id} of contact {contact.contact_id} is no longer pending"
        )


def _require_holdable(contact: Contact) -> None:
    if contact.channel not in HOLDABLE_CHANNELS:
        raise InvalidConfiguration(
            "hold_is_voice_only",
            f"contact {contact.contact_id} is {contact.channel.value}; only calls are held",
            channel=contact.channel.value,
        )


def _completed(contact: Contact, now: datetime, disposition_code: str, ticket_id: str) -> Outcome:
    # hang_up stamps both before after-contact work starts.
    assert contact.connected_at is not None
    assert contact.ended_at is not None
    talk = contact.ended_at - contact.connected_at - contact.hold_total
    ticket = contact.context.ticket_id or ticket_id
    after = contact.evolve(
        status=S.COMPLETED,
        finished_at=now,
        disposition_code=disposition_code,
        context=replace(contact.context, ticket_id=ticket),
    )
    completed = ev.ContactCompleted(
        tenant_id=after.tenant_id,
        contact_id=after.contact_id,
        queue_id=after.queue_id,
        channel=CHANNEL_TO_PROTO[after.channel],
        department=DEPARTMENT_TO_PROTO[after.department],
        agent_id=after.agent_id,
        customer_id=after.context.customer_id,
        talk_duration=duration(max(talk, ZERO)),
        hold_duration=duration(contact.hold_total),
        wrap_up_duration=duration(span(contact.ended_at, now)),
        disposition_code=disposition_code,
        ticket_id=ticket,
        completed_at=timestamp(now),
    )
    return Outcome(after, (completed,))


def connected_event(contact: Contact, now: datetime) -> ev.ContactConnected:
    return ev.ContactConnected(
        tenant_id=contact.tenant_id,
        contact_id=contact.contact_id,
        queue_id=contact.queue_id,
        channel=CHANNEL_TO_PROTO[contact.channel],
        department=DEPARTMENT_TO_PROTO[contact.department],
        agent_id=contact.agent_id,
        connected_at=timestamp(now),
        wait_duration=duration(contact.waited),
    )


def received_event(contact: Contact) -> ev.ContactReceived:
    return ev.ContactReceived(
        tenant_id=contact.tenant_id,
        contact_id=contact.contact_id,
        channel=CHANNEL_TO_PROTO[contact.channel],
        department=DEPARTMENT_TO_PROTO[contact.department],
        queue_id=contact.queue_id,
        context=context_to_proto(contact.context, contact.priority),
        received_at=timestamp(contact.received_at),
        entry_point=contact.entry_point,
        related_contact_id=contact.related_contact_id,
    )


def span(start: datetime | None, now: datetime) -> timedelta:
    # Events can carry instants a little out of order across producers; a span is never negative.
    return max(now - start, ZERO) if start else ZERO


def require_text(value: str, name: str) -> None:
    if not value:
        raise InvalidConfiguration("missing_field", f"{name} is required", field=name)
