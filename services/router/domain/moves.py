"""Contact commands that move a contact elsewhere or end its wait: blind and warm transfers,
hand-offs to the other department, callbacks, abandon and return, and the maximum wait.

Every move keeps the context (customer, ticket link, attributes) and the time already waited: the
next queue entry starts the contact's effective age `waited` earlier, and a callback or a return
inherits the original enqueue time outright. The conventions of `outcome` hold here too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.message import Message

from helpline.domain import duration, timestamp
from helpline.v1 import contact_events_pb2 as ev
from services.router.domain.contact import (
    ABANDONABLE_CHANNELS,
    IN_CONVERSATION,
    WAITING,
    Contact,
    ContactStatus,
    EntryReason,
    refuse_if_final,
    require,
    require_agent,
)
from services.router.domain.contact_proto import context_to_proto
from services.router.domain.convert import CHANNEL_TO_PROTO, DEPARTMENT_TO_PROTO, TIMEOUT_ACTION_TO_PROTO
from services.router.domain.errors import InvalidConfiguration, RoutingRefused
from services.router.domain.model import Channel, Department, Priority, TimeoutAction
from services.router.domain.outcome import (
    NOWHERE,
    Outcome,
    Placement,
    connected_event,
    enter_queue,
    received_event,
    require_text,
    span,
)

S = ContactStatus


# -- transfers -----------------------------------------------------------------------------------


def transfer(
    contact: Contact,
    agent_id: str,
    now: datetime,
    *,
    to_queue_id: str = "",
    to_agent_id: str = "",
    to_department: Department | None = None,
    reason: str = "",
    placement: Placement = NOWHERE,
) -> Outcome:
    """Blind transfer: the agent sends the customer to a queue, or to a named agent through the
    current (or given) queue, and is free of it. The contact queues again with the time it already
    waited; one sent to an agent is offered to nobody else. `to_department` is the target queue's:
    another department is a hand-off, not a transfer."""
    _require_transferable(contact, agent_id)
    if contact.consult_agent_id:
        raise RoutingRefused(
            "consult_in_progress",
            f"contact {contact.contact_id} is in a consult with {contact.consult_agent_id}",
            agent_id=contact.consult_agent_id,
        )
    if not to_queue_id and not to_agent_id:
        raise InvalidConfiguration("transfer_needs_target", "name a queue or an agent to transfer to")
    _refuse_self(agent_id, to_agent_id)
    if to_department is not None and to_department is not contact.department:
        raise InvalidConfiguration(
            "transfer_across_departments",
            f"queue {to_queue_id} belongs to {to_department.value}; that move is a hand-off",
            department=to_department.value,
        )
    queue_id = to_queue_id or contact.queue_id
    moved = replace(contact, transfer_count=contact.transfer_count + 1)
    entered = enter_queue(
        moved, queue_id, now, EntryReason.TRANSFER, now - contact.waited, placement, reserved_for=to_agent_id
    )
    transferred = ev.ContactTransferred(
        tenant_id=contact.tenant_id,
        contact_id=contact.contact_id,
        from_queue_id=contact.queue_id,
        from_agent_id=agent_id,
        to_queue_id=queue_id,
        to_agent_id=to_agent_id,
        reason=reason,
        transferred_at=timestamp(now),
    )
    return Outcome(entered.contact, (transferred, *entered.events))


def start_consult(contact: Contact, agent_id: str, consult_agent_id: str, now: datetime) -> Outcome:
    """Warm transfer, first half: the agent consults another agent while keeping the customer.
    Consulting the same agent again changes nothing. The contracts have no consult event; the
    transfer that completes it is told."""
    require_text(consult_agent_id, "consult_agent_id")
    _require_transferable(contact, agent_id)
    if contact.consult_agent_id == consult_agent_id:
        return Outcome(contact)
    if contact.consult_agent_id:
        raise RoutingRefused(
            "consult_in_progress",
            f"contact {contact.contact_id} is in a consult with {contact.consult_agent_id}",
            agent_id=contact.consult_agent_id,
        )
    _refuse_self(agent_id, consult_agent_id)
    return Outcome(contact.evolve(consult_agent_id=consult_agent_id))


def cancel_consult(contact: Contact, agent_id: str, now: datetime) -> Outcome:
    """The consulted agent declined or the agent changed their mind: the contact stays theirs."""
    _require_transferable(contact, agent_id)
    if not contact.consult_agent_id:
        return Outcome(contact)
    return Outcome(contact.evolve(consult_agent_id=""))


def complete_warm_transfer(contact: Contact, agent_id: str, now: datetime, *, reason: str = "") -> Outcome:
    """Warm transfer, second half: the consulted agent takes the customer over, connected now.
    The wait stays as answered; talk and hold start again, because the completed contact reports
    the completing agent's durations. A hold in progress ends with the handover."""
    _require_transferable(contact, agent_id)
    if not contact.consult_agent_id:
        raise RoutingRefused("no_consult", f"contact {contact.contact_id} has no consult to complete")
    to_agent_id = contact.consult_agent_id
    after = contact.evolve(
        status=S.CONNECTED,
        agent_id=to_agent_id,
        consult_agent_id="",
        accepted_at=now,
        connected_at=now,
        hold_started_at=None,
        hold_total=timedelta(0),
        transfer_count=contact.transfer_count + 1,
    )
    transferred = ev.ContactTransferred(
        tenant_id=contact.tenant_id,
        contact_id=contact.contact_id,
        from_queue_id=contact.queue_id,
        from_agent_id=agent_id,
        to_queue_id=contact.queue_id,
        to_agent_id=to_agent_id,
        reason=reason,
        transferred_at=timestamp(now),
    )
    return Outcome(after, (transferred, connected_event(after, now)))


def hand_off(
    contact: Contact,
    now: datetime,
    *,
    to_queue_id: str,
    to_department: Department,
    agent_id: str = "",
    reason: str = "",
    placement: Placement = NOWHERE,
) -> Outcome:
    """Move the contact to a queue of another department (DOMAIN.md, Service and support), from
    its agent or, with no agent, while it waits. The context goes with it, the ticket link
    included, so the tickets service moves the ticket too."""
    require_text(to_queue_id, "to_queue_id")
    if contact.status in IN_CONVERSATION:
        require_agent(contact, agent_id, "hand it off")
    else:
        require(contact, frozenset({S.QUEUED}), "hand_off_requires_connected_or_queued", "be handed off")
    if to_department is contact.department:
        raise InvalidConfiguration(
            "hand_off_same_department",
            f"contact {contact.contact_id} is already in {to_department.value}; transfer it instead",
            department=to_department.value,
        )
    since = now - contact.waited if contact.status in IN_CONVERSATION else contact.enqueued_since or now
    moved = replace(contact, department=to_department, transfer_count=contact.transfer_count + 1)
    entered = enter_queue(moved, to_queue_id, now, EntryReason.HAND_OFF, since, placement)
    handed = ev.ContactHandedOff(
        tenant_id=contact.tenant_id,
        contact_id=contact.contact_id,
        from_department=DEPARTMENT_TO_PROTO[contact.department],
        to_department=DEPARTMENT_TO_PROTO[to_department],
        from_queue_id=contact.queue_id,
        to_queue_id=to_queue_id,
        from_agent_id=contact.agent_id,
        reason=reason,
        context=context_to_proto(contact.context, contact.priority),
        handed_off_at=timestamp(now),
    )
    return Outcome(entered.contact, (handed, *entered.events))


# -- leaving the wait ----------------------------------------------------------------------------


def schedule_callback(
    contact: Contact,
    now: datetime,
    *,
    callback_contact_id: str,
    callback_number: str = "",
    scheduled_for: datetime | None = None,
    placement: Placement = NOWHERE,
) -> Outcome:
    """A waiting voice caller chose to be called back: the call ends (not as abandoned) and a
    callback contact takes its place, inheriting the original enqueue time. `spawned` is the
    callback contact; its events follow the scheduling."""
    require(contact, WAITING, "callback_requires_queued", "be called back")
    _require_voice(contact)
    callback, events = _callback(
        contact, now, callback_contact_id, callback_number, scheduled_for, placement, _since(contact)
    )
    after = _end_wait(contact, now, S.CALLED_BACK, callback_contact_id=callback.contact_id)
    scheduled = ev.ContactCallbackScheduled(
        tenant_id=contact.tenant_id,
        contact_id=contact.contact_id,
        callback_contact_id=callback.contact_id,
        queue_id=contact.queue_id,
        callback_number=callback.context.customer_address,
        enqueued_since=timestamp(_since(contact)),
        scheduled_at=timestamp(now),
    )
    if scheduled_for is not None:
        scheduled.scheduled_for.CopyFrom(timestamp(scheduled_for))
    if placement.estimated_wait is not None:
        scheduled.estimated_wait.CopyFrom(duration(placement.estimated_wait))
    return Outcome(after, (scheduled, *events), callback)


def abandon(contact: Contact, now: datetime, *, resume_window: timedelta, position: int = 0) -> Outcome:
    """The customer left while waiting (voice and chat only). Calling back before
    now + `resume_window` regains the place (`rejoin`)."""
    refuse_if_final(contact)
    if contact.channel is Channel.EMAIL:
        raise InvalidConfiguration("email_never_abandons", f"email {contact.contact_id} waits until answered")
    if contact.channel not in ABANDONABLE_CHANNELS:
        raise InvalidConfiguration(
            "channel_never_abandons",
            f"contact {contact.contact_id} is {contact.channel.value}; only voice and chat abandon",
            channel=contact.channel.value,
        )
    require(contact, WAITING, "abandon_requires_queued", "be abandoned")
    after = _end_wait(contact, now, S.ABANDONED)
    abandoned = ev.ContactAbandoned(
        tenant_id=after.tenant_id,
        contact_id=after.contact_id,
        queue_id=after.queue_id,
        channel=CHANNEL_TO_PROTO[after.channel],
        department=DEPARTMENT_TO_PROTO[after.department],
        wait_duration=duration(after.waited),
        abandoned_at=timestamp(now),
        resumable_until=timestamp(now + resume_window),
        position=position,
    )
    return Outcome(after, (abandoned,))


def rejoin(
    contact: Contact,
    abandoned: Contact,
    now: datetime,
    *,
    queue_id: str,
    resume_window: timedelta,
    priority: Priority | None = None,
    placement: Placement = NOWHERE,
) -> Outcome:
    """A received contact from a customer whose earlier contact was abandoned. Within the resume
    window it regains the place: the abandoned contact's queue and effective enqueue time (reason
    `return`); after it, it is a new contact in `queue_id`."""
    require(contact, frozenset({S.RECEIVED}), "enqueue_requires_received_or_queued", "be queued")
    if abandoned.status is not S.ABANDONED or abandoned.tenant_id != contact.tenant_id:
        raise InvalidConfiguration(
            "related_not_abandoned",
            f"contact {abandoned.contact_id} is no abandoned contact of this tenant",
            related_contact_id=abandoned.contact_id,
        )
    if contact.related_contact_id not in ("", abandoned.contact_id):
        raise InvalidConfiguration(
            "related_contact_mismatch",
            f"contact {contact.contact_id} continues {contact.related_contact_id}, "
            f"not {abandoned.contact_id}",
        )
    raised = replace(contact, priority=priority) if priority else contact
    assert abandoned.finished_at is not None  # abandon stamps it
    if now - abandoned.finished_at > resume_window:
        return enter_queue(raised, queue_id, now, EntryReason.NEW, now, placement)
    returning = replace(raised, related_contact_id=abandoned.contact_id)
    return enter_queue(returning, abandoned.queue_id, now, EntryReason.RETURN, _since(abandoned), placement)


def time_out(
    contact: Contact,
    now: datetime,
    *,
    max_wait: timedelta,
    action: TimeoutAction,
    callback_contact_id: str = "",
    placement: Placement = NOWHERE,
) -> Outcome:
    """The contact waited the queue's maximum: the queue's timeout action takes over. A callback
    action creates the callback contact (`spawned`) as `schedule_callback` does; a ticket or
    voicemail action's ticket is the tickets service's to make, from the event's context."""
    require(contact, frozenset({S.QUEUED}), "time_out_requires_queued", "time out")
    waited = contact.wait_at(now)
    if waited < max_wait:
        raise RoutingRefused(
            "max_wait_not_reached",
            f"contact {contact.contact_id} waited {waited}, under the maximum of {max_wait}",
        )
    if action is TimeoutAction.CALLBACK:
        _require_voice(contact)
    given_up = _give_up(
        contact, now, S.TIMED_OUT, action, callback_contact_id, placement, None, _since(contact)
    )
    timed_out = ev.ContactTimedOut(**given_up.fields, timed_out_at=timestamp(now))
    return Outcome(given_up.contact, (timed_out, *given_up.events), given_up.callback)


def after_hours(
    contact: Contact,
    now: datetime,
    *,
    action: TimeoutAction,
    next_opening: datetime,
    callback_contact_id: str = "",
    placement: Placement = NOWHERE,
) -> Outcome:
    """The contact's queue is closed: a contact that just arrived (received) or still waits
    (queued) gets the queue's closed action. `callback` spawns a callback contact due at
    `next_opening`, with the original enqueue time (or now, for a new caller), so callbacks keep
    their order; only callers can be called back, so other channels get `ticket` instead. A ticket
    or voicemail is the tickets service's to make, from the event's context. An offer already
    ringing is left to run: the agent took the contact while the queue was open."""
    require(
        contact, frozenset({S.RECEIVED, S.QUEUED}), "after_hours_requires_received_or_queued", "close out"
    )
    if next_opening <= now:
        raise InvalidConfiguration(
            "queue_is_open", f"the queue opens at {next_opening.isoformat()}, not after {now.isoformat()}"
        )
    if action is TimeoutAction.CALLBACK and contact.channel is not Channel.VOICE:
        action = TimeoutAction.TICKET
    since = contact.enqueued_since or now
    given_up = _give_up(
        contact, now, S.AFTER_HOURS, action, callback_contact_id, placement, next_opening, since
    )
    closed = ev.ContactAfterHours(
        **given_up.fields, closed_at=timestamp(now), next_opening=timestamp(next_opening)
    )
    return Outcome(given_up.contact, (closed, *given_up.events), given_up.callback)


# -- internals -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _GivenUp:
    contact: Contact
    callback: Contact | None
    # The callback contact's own events.
    events: tuple[Message, ...]
    # What ContactTimedOut and ContactAfterHours both say of the contact.
    fields: dict[str, Any]


def _give_up(
    contact: Contact,
    now: datetime,
    status: S,
    action: TimeoutAction,
    callback_contact_id: str,
    placement: Placement,
    callback_due: datetime | None,
    since: datetime,
) -> _GivenUp:
    """A wait the queue's action ends (its maximum reached, or the queue closed): the callback
    contact when the action is one (due at `callback_due`, in the place of `since`), and the
    contact ended with `status`."""
    callback: Contact | None = None
    events: tuple[Message, ...] = ()
    if action is TimeoutAction.CALLBACK:
        callback, events = _callback(contact, now, callback_contact_id, "", callback_due, placement, since)
    after = _end_wait(contact, now, status, callback_contact_id=callback.contact_id if callback else "")
    fields = {
        "tenant_id": after.tenant_id,
        "contact_id": after.contact_id,
        "queue_id": after.queue_id,
        "channel": CHANNEL_TO_PROTO[after.channel],
        "department": DEPARTMENT_TO_PROTO[after.department],
        "wait_duration": duration(after.waited),
        "action": TIMEOUT_ACTION_TO_PROTO[action],
        "ticket_id": after.context.ticket_id,
        "callback_contact_id": callback.contact_id if callback else "",
        "context": context_to_proto(after.context, after.priority),
    }
    return _GivenUp(after, callback, events, fields)


def _callback(
    original: Contact,
    now: datetime,
    callback_contact_id: str,
    callback_number: str,
    scheduled_for: datetime | None,
    placement: Placement,
    since: datetime,
) -> tuple[Contact, tuple[Message, ...]]:
    """The callback contact replacing `original`, received and queued at the original's place."""
    require_text(callback_contact_id, "callback_contact_id")
    if callback_contact_id == original.contact_id:
        raise InvalidConfiguration("callback_needs_new_id", "the callback contact needs an id of its own")
    address = callback_number or original.context.customer_address
    callback = Contact(
        contact_id=callback_contact_id,
        tenant_id=original.tenant_id,
        channel=Channel.CALLBACK,
        department=original.department,
        received_at=now,
        context=replace(original.context, customer_address=address),
        entry_point=original.entry_point,
        related_contact_id=original.contact_id,
        queue_id=original.queue_id,
        priority=original.priority,
        first_enqueued_at=original.first_enqueued_at,
        scheduled_for=scheduled_for,
    )
    entered = enter_queue(callback, original.queue_id, now, EntryReason.CALLBACK, since, placement)
    return entered.contact, (received_event(callback), *entered.events)


def _end_wait(
    contact: Contact, now: datetime, status: ContactStatus, callback_contact_id: str = ""
) -> Contact:
    """The wait ends without an agent; an offer still ringing is withdrawn."""
    return contact.evolve(
        status=status,
        callback_contact_id=callback_contact_id,
        finished_at=now,
        waited=span(contact.enqueued_since, now),
        agent_id="",
        offer_id="",
        offer_expires_at=None,
    )


def _since(contact: Contact) -> datetime:
    assert contact.enqueued_since is not None  # every queued contact has it
    return contact.enqueued_since


def _require_transferable(contact: Contact, agent_id: str) -> None:
    require(contact, IN_CONVERSATION, "transfer_requires_connected", "be transferred")
    require_agent(contact, agent_id, "transfer it")


def _require_voice(contact: Contact) -> None:
    if contact.channel is not Channel.VOICE:
        raise InvalidConfiguration(
            "callback_is_voice_only",
            f"contact {contact.contact_id} is {contact.channel.value}; only callers are called back",
            channel=contact.channel.value,
        )


def _refuse_self(agent_id: str, to_agent_id: str) -> None:
    if to_agent_id == agent_id:
        raise InvalidConfiguration("transfer_to_self", f"agent {agent_id} already has the contact")
