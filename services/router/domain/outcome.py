"""What every contact command returns, and the pieces several commands share.

Contact commands (`arrival`, `offers`, `conversation`, `moves`) are pure functions from a contact
and a request to the next contact and the facts that describe the change (the messages of
contact_events.proto, ready for the outbox). The caller passes `now`, every new id and the queue's
terms (offer timeout, resume window, wrap-up timeout, maximum wait), so the domain reads no clock,
makes no ids and needs no queue model. A change returns the contact one version higher with its
events; a refused command raises a DomainError naming its rule and changes nothing. Consumers see
redeliveries, so each command applied twice with the same inputs either changes nothing (enqueue,
offer, start_consult) or is refused with a rule that says it already happened (`already_accepted`,
`already_completed`...). Creating a contact (`arrival.receive`) is idempotent by its id, which the
store checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from google.protobuf.message import Message

from helpline.domain import duration, timestamp
from helpline.v1 import contact_events_pb2 as ev
from services.router.domain.contact import Contact, ContactStatus, EntryReason
from services.router.domain.contact_proto import ENTRY_REASON_TO_PROTO, context_to_proto
from services.router.domain.convert import CHANNEL_TO_PROTO, DEPARTMENT_TO_PROTO, PRIORITY_TO_PROTO
from services.router.domain.errors import InvalidConfiguration

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
