"""Contact commands of a contact's arrival: received from a gateway, a bot or the API, resolved
by self-service, escalated by a bot, and entered in (or moved between) queues. The conventions of
`outcome` hold here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from helpline.domain import duration, timestamp
from helpline.v1 import contact_events_pb2 as ev
from services.router.domain.contact import Contact, ContactContext, ContactStatus, EntryReason, require
from services.router.domain.convert import CHANNEL_TO_PROTO, DEPARTMENT_TO_PROTO
from services.router.domain.errors import InvalidConfiguration
from services.router.domain.model import Channel, Department, Priority
from services.router.domain.outcome import (
    NOWHERE,
    Outcome,
    Placement,
    enter_queue,
    received_event,
    require_text,
)

S = ContactStatus

NO_CONTEXT = ContactContext()


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
