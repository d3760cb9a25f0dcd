"""Which index entries and timers a record should have, computed from the record alone (and the
queue configuration and registered signatures it depends on). No I/O: the use cases pass the
result to `Tx.move_entries` / `Tx.move_timers`, which move only what changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from helpline.business_hours import CLOSING_HORIZON, Calendar
from services.router.domain.contact import Contact, ContactStatus, waiting_contact
from services.router.domain.model import (
    CAPACITY_CHANNEL,
    Agent,
    AgentStatus,
    Channel,
    Queue,
    SkillRequirement,
    WaitingContact,
)
from services.router.domain.routing import (
    Requirements,
    agent_score,
    capacity_refusal,
    contact_score,
    meets,
    overflow,
    readiness_refusal,
)
from services.router.storage.records import ContactRecord
from services.router.storage.store import Keys

Slot = tuple[str, Channel]
Registry = Mapping[Slot, set[str]]

OFFER = "offer"
WRAP_UP = "acw"
OVERFLOW = "overflow"
MAX_WAIT = "maxwait"
CALLBACK_DUE = "due"
HOURS = "hours"


def ms(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1000)


def parse_signature(signature: str) -> Requirements:
    """The inverse of Requirements.signature for skill signatures (`name:level,...`)."""
    if not signature:
        return Requirements()
    skills = []
    for part in signature.split(","):
        name, _, level = part.rpartition(":")
        skills.append(SkillRequirement(name, int(level)))
    return Requirements(tuple(skills))


def agent_slots(agent: Agent, queues: Mapping[str, Queue]) -> list[Slot]:
    """The (queue, channel) pairs of the agent's profile the agent could ever take."""
    slots = []
    for membership in agent.profile.queues:
        queue = queues.get(membership.queue_id)
        if queue is None:
            continue
        for channel in sorted(queue.routed_channels):
            if CAPACITY_CHANNEL[channel] in agent.profile.capacity:
                slots.append((queue.queue_id, channel))
    return slots


def agent_entries(agent: Agent, queues: Mapping[str, Queue], registry: Registry) -> dict[str, str]:
    """The sorted sets the agent belongs in: membership and status counts of each profile queue,
    and the ready sets of every registered signature the agent meets while ready for the channel."""
    keys = Keys(agent.tenant_id)
    entries: dict[str, str] = {}
    online = agent.status is not AgentStatus.OFFLINE
    ready = readiness_refusal(agent) is None
    for membership in agent.profile.queues:
        entries[keys.members(membership.queue_id)] = "0"
        if online:
            entries[keys.in_state(membership.queue_id, agent.state)] = "0"
    for queue_id, channel in agent_slots(agent, queues):
        queue = queues[queue_id]
        if online:
            entries[keys.staffed(queue_id, channel)] = "0"
        if not ready or capacity_refusal(agent, channel) is not None:
            continue
        for signature in registry.get((queue_id, channel), ()):
            requirements = parse_signature(signature)
            if meets(agent, requirements):
                entries[keys.ready(queue_id, channel, signature)] = str(
                    agent_score(queue, agent, requirements)
                )
    return entries


def waiting_of(record: ContactRecord) -> WaitingContact:
    return waiting_contact(
        record.contact, preferred_agent_id=record.preferred_agent_id, overflow_step=record.overflow_step
    )


def routing_signature(record: ContactRecord, queue: Queue, now: datetime) -> str:
    """Where a queued contact waits: its reserved or preferred agent's set, or its requirements'."""
    contact = record.contact
    if contact.reserved_for:
        return f"@{contact.reserved_for}"
    requirements = overflow(queue, waiting_of(record), now).requirements
    if requirements.only_agent_id:
        return f"@{requirements.only_agent_id}"
    return requirements.signature


def is_routable(contact: Contact, now: datetime) -> bool:
    return (
        contact.status is ContactStatus.QUEUED
        and contact.channel in CAPACITY_CHANNEL
        and (contact.scheduled_for is None or contact.scheduled_for <= now)
    )


def waiting_signature(record: ContactRecord, queue: Queue, now: datetime) -> str | None:
    """The registered signature whose set the contact waits in, if it waits in one (not in an
    agent's own set, not before its callback is due)."""
    if not is_routable(record.contact, now):
        return None
    signature = routing_signature(record, queue, now)
    return None if signature.startswith("@") else signature


def contact_entries(record: ContactRecord, queue: Queue | None, now: datetime) -> dict[str, str]:
    contact = record.contact
    if queue is None or contact.status not in (ContactStatus.QUEUED, ContactStatus.OFFERED):
        return {}
    if contact.channel not in CAPACITY_CHANNEL:
        return {}
    keys = Keys(contact.tenant_id)
    assert contact.enqueued_since is not None  # every queue entry sets it
    entries = {keys.depth(queue.queue_id, contact.channel): str(ms(contact.enqueued_since))}
    if is_routable(contact, now):
        signature = routing_signature(record, queue, now)
        key = keys.waiting(queue.queue_id, contact.channel, signature)
        entries[key] = str(contact_score(waiting_of(record)))
    return entries


def contact_timers(
    record: ContactRecord, queue: Queue | None, now: datetime, hours: Calendar | None = None
) -> dict[str, int]:
    """The timers of the record; `hours` is the queue's calendar, when it has one."""
    contact = record.contact
    cid = contact.contact_id
    if contact.status is ContactStatus.OFFERED and contact.offer_expires_at is not None:
        return {f"{OFFER}|{cid}|{contact.offer_id}": ms(contact.offer_expires_at)}
    if contact.status is ContactStatus.AFTER_CONTACT_WORK and contact.wrap_up_until is not None:
        return {f"{WRAP_UP}|{cid}": ms(contact.wrap_up_until)}
    if contact.status is not ContactStatus.QUEUED or queue is None or contact.channel not in CAPACITY_CHANNEL:
        return {}
    assert contact.enqueued_since is not None
    timers: dict[str, int] = {}
    if contact.scheduled_for is not None and contact.scheduled_for > now:
        timers[f"{CALLBACK_DUE}|{cid}"] = ms(contact.scheduled_for)
    decision = overflow(queue, waiting_of(record), now)
    if decision.move_to_queue_id:
        timers[f"{OVERFLOW}|{cid}"] = ms(now)
    elif decision.next_change_at is not None:
        timers[f"{OVERFLOW}|{cid}"] = ms(decision.next_change_at)
    if queue.max_wait:
        timers[f"{MAX_WAIT}|{cid}"] = ms(contact.enqueued_since + queue.max_wait)
    if hours is not None:
        timers[f"{HOURS}|{cid}"] = ms(hours_check_at(contact, hours, now))
    return timers


def hours_check_at(contact: Contact, hours: Calendar, now: datetime) -> datetime:
    """When a contact waiting in a queue with hours of operation must next be looked at: the queue's
    closing (from when the contact becomes routable: a callback waits for its time), or at once if
    the queue is closed by then. A queue open round the clock is looked at again after a while, in
    case its calendar changed."""
    start = max(now, contact.scheduled_for or now)
    if not hours.is_open(start):
        return start
    return hours.next_closing(start) or start + CLOSING_HORIZON
