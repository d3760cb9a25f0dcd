"""The contact model in the contracts' terms: for the events the contact commands emit, and the
offer an agent's desktop is shown (`offer_message`); the enums shared with queues and agents are in
`convert`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from helpline.domain import duration, timestamp
from helpline.v1 import common_pb2, router_service_pb2
from helpline.v1 import contact_events_pb2 as ev
from services.router.domain.contact import Contact, ContactContext, EntryReason
from services.router.domain.convert import (
    CHANNEL_TO_PROTO,
    DEPARTMENT_TO_PROTO,
    PRIORITY_TO_PROTO,
    priority_from_proto,
)
from services.router.domain.model import Priority, Queue, SkillRequirement

ENTRY_REASON_TO_PROTO: Mapping[EntryReason, ev.QueueEntryReason.ValueType] = {
    EntryReason.NEW: ev.QUEUE_ENTRY_REASON_NEW,
    EntryReason.TRANSFER: ev.QUEUE_ENTRY_REASON_TRANSFER,
    EntryReason.OVERFLOW: ev.QUEUE_ENTRY_REASON_OVERFLOW,
    EntryReason.CALLBACK: ev.QUEUE_ENTRY_REASON_CALLBACK,
    EntryReason.RETURN: ev.QUEUE_ENTRY_REASON_RETURN,
    EntryReason.HAND_OFF: ev.QUEUE_ENTRY_REASON_HAND_OFF,
    EntryReason.REQUEUE: ev.QUEUE_ENTRY_REASON_REQUEUE,
}


def context_to_proto(context: ContactContext, priority: Priority) -> common_pb2.ContactContext:
    """The context as the events carry it, with the contact's effective priority (which an
    escalation may have raised above the context's)."""
    return common_pb2.ContactContext(
        customer_id=context.customer_id,
        language=context.language,
        intent=context.intent,
        priority=PRIORITY_TO_PROTO[priority],
        vip=context.vip,
        required_skills=[
            common_pb2.Skill(name=skill.name, proficiency=skill.min_proficiency)
            for skill in context.required_skills
        ],
        ticket_id=context.ticket_id,
        bot_transcript_summary=context.bot_transcript_summary,
        attributes=dict(context.attributes),
        customer_address=context.customer_address,
    )


def context_from_proto(context: common_pb2.ContactContext) -> ContactContext:
    """The context a gateway or bot sent; an unset priority is normal, and a skill or priority the
    domain refuses raises InvalidConfiguration."""
    return ContactContext(
        customer_id=context.customer_id,
        language=context.language,
        intent=context.intent,
        priority=priority_from_proto(context.priority, Priority.NORMAL),
        vip=context.vip,
        required_skills=tuple(
            SkillRequirement(skill.name, skill.proficiency) for skill in context.required_skills
        ),
        ticket_id=context.ticket_id,
        bot_transcript_summary=context.bot_transcript_summary,
        attributes=dict(context.attributes),
        customer_address=context.customer_address,
    )


def offer_message(contact: Contact, queue: Queue, now: datetime) -> router_service_pb2.Offer:
    """The offer of `contact` in `queue` as the agent's desktop gets it, its wait as of `now`."""
    assert contact.offer_expires_at is not None  # offers.offer sets it
    return router_service_pb2.Offer(
        offer_id=contact.offer_id,
        contact_id=contact.contact_id,
        queue_id=queue.queue_id,
        channel=CHANNEL_TO_PROTO[contact.channel],
        department=DEPARTMENT_TO_PROTO[contact.department],
        context=context_to_proto(contact.context, contact.priority),
        expires_at=timestamp(contact.offer_expires_at),
        wait_duration=duration(contact.wait_at(now)),
    )
