"""How a ticket reacts to other services' facts: a contact the router completed, handed off, timed
out or closed out after hours, and the escalation actions of an SLA warning or breach.

Each reaction strings commands of `commands` into one outcome, so the store writes it in one
commit (the version then moves by one per step, and every event carries its own). Each is
idempotent: decided again on the ticket it produced, it changes nothing, so a redelivered event
writes nothing. That is also why the system note a reaction leaves is written only together with a
change it describes: a second delivery changes nothing, so it notes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from helpline.v1 import common_pb2
from services.tickets.domain import commands
from services.tickets.domain.commands.outcome import Outcome
from services.tickets.domain.commands.validation import MAX_TAGS
from services.tickets.domain.convert import priority_from_proto, tier_from_proto
from services.tickets.domain.model import Actor, Channel, Department, Ticket

DISPOSITION_TAG_PREFIX = "disposition:"
TIMED_OUT_TAG = "timed_out"
AFTER_HOURS_TAG = "after_hours"
VOICEMAIL_TAG = "voicemail"
TAG_MAX_LENGTH = 50  # validation.TAG_PATTERN
_NOT_IN_TAG = re.compile(r"[^a-z0-9_:-]+")


@dataclass(frozen=True)
class CompletedContact:
    contact_id: str
    channel: Channel
    agent_id: str = ""
    # The agent's wrap-up code, e.g. "billing_question"; empty when the agent set none.
    disposition: str = ""


@dataclass(frozen=True)
class MissedContact:
    """A contact no agent took, whose queue's `ticket` or `voicemail` action makes work of it: it
    waited the queue's maximum, or the queue was closed (`next_opening` set: after hours) when it
    came in or while it waited. `recording` is the gateway's reference to the caller's message."""

    contact_id: str
    channel: Channel
    queue_id: str
    waited: timedelta
    voicemail: bool
    recording: str = ""
    next_opening: datetime | None = None

    @property
    def after_hours(self) -> bool:
        return self.next_opening is not None

    @property
    def tags(self) -> tuple[str, ...]:
        reason = AFTER_HOURS_TAG if self.after_hours else TIMED_OUT_TAG
        return (reason, VOICEMAIL_TAG) if self.voicemail else (reason,)

    def story(self) -> str:
        """What happened, for the ticket's description or note."""
        told = f"Contact {self.contact_id} ({self.channel.value})"
        if self.next_opening is None:
            told += f" waited {_duration(self.waited)} in queue {self.queue_id} and timed out"
        elif self.waited:
            told += f" waited {_duration(self.waited)} in queue {self.queue_id} until it closed"
        else:
            told += f" came in while queue {self.queue_id} was closed"
        if self.next_opening is not None:
            told += f"; it opens at {self.next_opening.isoformat()}"
        if self.voicemail:
            told += "; the caller was sent to voicemail"
            if self.recording:
                told += f" (recording: {self.recording})"
        return told + "."


@dataclass(frozen=True)
class SlaAlert:
    """An SLA warning or breach on the ticket, with the actions its policy names."""

    metric: str
    breached: bool
    policy_id: str
    actions: Sequence[common_pb2.EscalationAction]

    @property
    def headline(self) -> str:
        return f"SLA {self.metric} {'breached' if self.breached else 'warning'}"


def merge(first: Outcome, second: Outcome) -> Outcome:
    """`second`, decided on the ticket `first` left, after `first`: one commit for both. A reaction
    adds at most one comment, the last step's."""
    return Outcome(second.ticket, first.events + second.events, second.comment or first.comment)


def disposition_tag(code: str) -> str:
    """The tag that records a disposition code ("" when nothing of it fits a tag)."""
    slug = _NOT_IN_TAG.sub("_", code.strip().lower()).strip("_:-")
    return (DISPOSITION_TAG_PREFIX + slug)[:TAG_MAX_LENGTH] if slug else ""


def record_completed_contact(
    ticket: Ticket, contact: CompletedContact, actor: Actor, now: datetime, *, comment_id: str
) -> Outcome:
    """Link the contact and record its disposition: a `disposition:<code>` tag, and an internal note
    saying which contact ended how. A ticket at its tag limit keeps its tags (the note still tells)."""
    outcome = commands.link_contact(ticket, contact.contact_id, actor, now)
    outcome = _tagged(outcome, (disposition_tag(contact.disposition),), actor, now)
    if contact.disposition and outcome.events:
        by = f" by agent {contact.agent_id}" if contact.agent_id else ""
        note = (
            f"Contact {contact.contact_id} ({contact.channel.value}) completed{by} "
            f"with disposition {contact.disposition}."
        )
        outcome = _noted(outcome, note, actor, now, comment_id)
    return outcome


def record_missed_contact(
    ticket: Ticket, contact: MissedContact, actor: Actor, now: datetime, *, comment_id: str
) -> Outcome:
    """A contact about this ticket timed out in its queue or found it closed: link it, tag the
    ticket (as far as its tag limit allows) and say so in an internal note, once: the note comes
    with the link."""
    outcome = commands.link_contact(ticket, contact.contact_id, actor, now)
    if not outcome.events:
        return outcome
    outcome = _tagged(outcome, contact.tags, actor, now)
    return _noted(outcome, contact.story(), actor, now, comment_id)


def hand_off_with_contact(
    ticket: Ticket, contact_id: str, to: Department, actor: Actor, now: datetime, *, reason: str = ""
) -> Outcome:
    """The contact's hand-off carries its ticket along: link the contact and move the ticket to the
    contact's new department, unless it is there already."""
    outcome = commands.link_contact(ticket, contact_id, actor, now) if contact_id else Outcome(ticket)
    if outcome.ticket.department is not to:
        outcome = merge(outcome, commands.hand_off(outcome.ticket, to, actor, now, reason=reason))
    return outcome


def check_actions(actions: Sequence[common_pb2.EscalationAction]) -> None:
    """Raise InvalidCommand for an action naming a priority or tier the domain does not know."""
    for action in actions:
        kind = action.WhichOneof("kind")
        if kind == "raise_priority":
            priority_from_proto(action.raise_priority)
        elif kind == "move_to_tier":
            tier_from_proto(action.move_to_tier)


def escalate_for_sla(
    ticket: Ticket, alert: SlaAlert, actor: Actor, now: datetime, *, comment_id: str
) -> Outcome:
    """Apply the alert's actions in order (`commands.apply_escalation_action`), and leave an
    internal note naming the alert and what the actions changed, if they changed anything."""
    outcome = Outcome(ticket)
    done: list[str] = []
    for action in alert.actions:
        step = commands.apply_escalation_action(outcome.ticket, action, actor, now, reason=alert.headline)
        if step.events:
            done.append(_describe(action))
        outcome = merge(outcome, step)
    if done:
        policy = f" (policy {alert.policy_id})" if alert.policy_id else ""
        outcome = _noted(outcome, f"{alert.headline}{policy}: {'; '.join(done)}.", actor, now, comment_id)
    return outcome


def _tagged(outcome: Outcome, wanted: Sequence[str], actor: Actor, now: datetime) -> Outcome:
    """`outcome` and the `wanted` tags its ticket lacks, as many as its tag limit leaves room for
    (an empty one is no tag): a ticket at its limit keeps its tags, and the note still tells."""
    tags = outcome.ticket.tags
    added = tuple(tag for tag in wanted if tag and tag not in tags)[: max(MAX_TAGS - len(tags), 0)]
    if not added:
        return outcome
    return merge(outcome, commands.update_fields(outcome.ticket, actor, now, tags=(*tags, *added)))


def _noted(outcome: Outcome, note: str, actor: Actor, now: datetime, comment_id: str) -> Outcome:
    """`outcome` and the system's internal note on it, the reaction's one comment."""
    return merge(
        outcome, commands.add_comment(outcome.ticket, note, actor, now, comment_id=comment_id, public=False)
    )


def _describe(action: common_pb2.EscalationAction) -> str:
    kind = action.WhichOneof("kind")
    if kind == "raise_priority":
        return f"priority raised to {priority_from_proto(action.raise_priority).value}"
    if kind == "move_to_group":
        return f"moved to group {action.move_to_group}"
    return f"escalated to {tier_from_proto(action.move_to_tier).value}"


def _duration(span: timedelta) -> str:
    minutes, seconds = divmod(max(int(span.total_seconds()), 0), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
