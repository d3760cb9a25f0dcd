"""Contact commands of the conversation: connected, held and resumed (calls only), ended into
after-contact work, and completed with a disposition or when the wrap-up times out. The conventions
of `outcome` hold here."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from helpline.domain import duration, timestamp
from helpline.v1 import contact_events_pb2 as ev
from services.router.domain.contact import (
    HOLDABLE_CHANNELS,
    IN_CONVERSATION,
    Contact,
    ContactStatus,
    refuse_if_final,
    require,
    require_agent,
)
from services.router.domain.convert import CHANNEL_TO_PROTO, DEPARTMENT_TO_PROTO
from services.router.domain.errors import InvalidConfiguration, RoutingRefused
from services.router.domain.outcome import ZERO, Outcome, connected_event, require_text, span

S = ContactStatus


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
