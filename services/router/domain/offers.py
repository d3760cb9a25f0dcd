"""Contact commands of an offer: made to one agent, accepted, rejected, or timed out unanswered
(the contact keeping its place and remembering who declined it). The conventions of `outcome` hold
here."""

from __future__ import annotations

from datetime import datetime, timedelta

from helpline.domain import duration, timestamp
from helpline.v1 import contact_events_pb2 as ev
from services.router.domain.contact import Contact, ContactStatus, refuse_if_final, require
from services.router.domain.contact_proto import context_to_proto
from services.router.domain.convert import CHANNEL_TO_PROTO, DEPARTMENT_TO_PROTO
from services.router.domain.errors import InvalidConfiguration, RoutingRefused
from services.router.domain.outcome import ZERO, Outcome, require_text

S = ContactStatus


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
