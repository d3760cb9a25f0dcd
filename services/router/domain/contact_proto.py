"""The contact model in the contracts' terms, for the events the contact commands emit; the enums
shared with queues and agents are in `convert`."""

from __future__ import annotations

from collections.abc import Mapping

from helpline.v1 import common_pb2
from helpline.v1 import contact_events_pb2 as ev
from services.router.domain.contact import ContactContext, EntryReason
from services.router.domain.convert import PRIORITY_TO_PROTO, priority_from_proto
from services.router.domain.model import Priority, SkillRequirement

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
