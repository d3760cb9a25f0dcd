"""Ticket commands: pure functions from a ticket and a request to the next ticket and the events
that describe the change.

Every command takes the actor and `now` (and any new ids) from its caller, so the domain reads no
clock and makes no ids. A command that changes the ticket returns it one version higher with its
events, all stamped with that version; a command that would change nothing returns the same
ticket and no events (the store then writes nothing); a refused command raises a DomainError and
changes nothing. Events are the protobuf messages of `helpline/v1/ticket_events.proto`, ready for
the outbox.

A closed ticket is immutable: every command on it is refused with `closed_is_immutable`
(TransitionRefused, whichever the command). The one exception is a
public customer reply, which creates a follow-up ticket instead; the closed ticket is left exactly
as it was, so the link lives only on the follow-up (`follow_up_of`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.message import Message

from helpline.domain import timestamp
from helpline.limits import FIELD_KEY, FIELD_VALUE, LISTS, LONG_TEXT, MAPS, SUBJECT
from helpline.v1 import common_pb2, ticket_events_pb2
from services.tickets.domain import lifecycle
from services.tickets.domain.convert import (
    AUTHOR_TYPE_TO_PROTO,
    CHANNEL_TO_PROTO,
    DEPARTMENT_TO_PROTO,
    STATUS_TO_PROTO,
    TIER_TO_PROTO,
    actor_to_proto,
    priority_from_proto,
    tier_from_proto,
    to_snapshot,
)
from services.tickets.domain.errors import InvalidCommand, LimitReached
from services.tickets.domain.model import (
    SYSTEM,
    Actor,
    AuthorType,
    Channel,
    Comment,
    Department,
    Priority,
    Status,
    Ticket,
    TicketType,
    Tier,
)

# The maxima are helpline.limits', which every API holds requests to before they get here.
SUBJECT_MAX = SUBJECT.max_chars
TEXT_MAX = LONG_TEXT.max_chars
MAX_TAGS = LISTS["tags"]
MAX_CUSTOM_FIELDS = MAPS["custom_fields"].max_entries
CUSTOM_FIELD_VALUE_MAX = FIELD_VALUE.max_chars
MAX_LINKED_CONTACTS = LISTS["contact_ids"]
# Tags are compared lower-cased: the REST pattern (helpline.limits.TAG) lower-cased.
TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_:-]{0,49}$")
CUSTOM_FIELD_KEY_PATTERN = re.compile(FIELD_KEY.pattern or "")
FOLLOW_UP_PREFIX = "Re: "
DEFAULT_SURVEY_KINDS: tuple[common_pb2.SurveyKind.ValueType, ...] = (
    common_pb2.SURVEY_KIND_CSAT,
    common_pb2.SURVEY_KIND_NPS,
)

_TIER_RANK = {Tier.L1: 1, Tier.L2: 2, Tier.L3: 3}
_PRIORITY_RANK = {Priority.LOW: 1, Priority.NORMAL: 2, Priority.HIGH: 3, Priority.URGENT: 4}


@dataclass(frozen=True)
class Outcome:
    """What a command decided. `ticket` is the ticket after the command (the same object when
    nothing changed); `comment` the comment to store; `follow_up` the new ticket a customer reply
    to a closed ticket created (then `ticket` is the untouched closed ticket, and `comment` and
    `events` belong to the follow-up)."""

    ticket: Ticket
    events: tuple[Message, ...] = ()
    comment: Comment | None = None
    follow_up: Ticket | None = None


@dataclass(frozen=True)
class NewTicket:
    """The request to create a ticket; `create` validates and normalises it."""

    tenant_id: str
    subject: str
    description: str = ""
    requester_id: str = ""
    channel: Channel = Channel.API
    type: TicketType = TicketType.QUESTION
    priority: Priority = Priority.NORMAL
    department: Department = Department.SERVICE
    tier: Tier = Tier.L1
    group_id: str = ""
    assignee_id: str = ""
    tags: Sequence[str] = ()
    custom_fields: Mapping[str, str] = field(default_factory=dict)
    contact_id: str = ""


# -- create and update -------------------------------------------------------------------------


def create(draft: NewTicket, actor: Actor, now: datetime, *, ticket_id: str, comment_id: str = "") -> Outcome:
    """A new ticket, status `new` (even with an assignee: it opens when an agent replies), version 1.

    With `comment_id`, a non-empty description is also stored as the ticket's first public
    comment, as Zendesk does; it is part of the creation, not a reply, so it is no first response
    and has no TicketCommented of its own. A customer creating a ticket without naming a
    requester is the requester.
    """
    _require(ticket_id, "ticket_id")
    _require(draft.tenant_id, "tenant_id")
    description = _text(draft.description, "description", required=False)
    requester_id = draft.requester_id
    if not requester_id and actor.type is AuthorType.CUSTOMER:
        requester_id = actor.id
    has_comment = bool(comment_id and description.strip())
    ticket = Ticket(
        ticket_id=ticket_id,
        tenant_id=draft.tenant_id,
        subject=normalise_subject(draft.subject),
        created_at=now,
        updated_at=now,
        description=description,
        requester_id=requester_id,
        channel=draft.channel,
        type=draft.type,
        priority=draft.priority,
        status=Status.NEW,
        department=draft.department,
        tier=draft.tier,
        group_id=draft.group_id,
        assignee_id=draft.assignee_id,
        tags=normalise_tags(draft.tags),
        custom_fields=normalise_custom_fields(draft.custom_fields),
        contact_ids=(draft.contact_id,) if draft.contact_id else (),
        comment_count=1 if has_comment else 0,
    )
    comment = (
        Comment(comment_id, ticket_id, True, actor, description, now, draft.contact_id)
        if has_comment
        else None
    )
    created = ticket_events_pb2.TicketCreated(
        tenant_id=ticket.tenant_id,
        ticket=to_snapshot(ticket),
        created_by=actor_to_proto(actor),
        contact_id=draft.contact_id,
    )
    return Outcome(ticket, (created,), comment)


# The update_fields fields in the order changed_fields lists them.
_UPDATABLE = ("subject", "description", "type", "priority", "requester_id", "tags", "custom_fields")


def update_fields(
    ticket: Ticket,
    actor: Actor,
    now: datetime,
    *,
    subject: str | None = None,
    description: str | None = None,
    type: TicketType | None = None,
    priority: Priority | None = None,
    group_id: str | None = None,
    tags: Sequence[str] | None = None,
    custom_fields: Mapping[str, str] | None = None,
    requester_id: str | None = None,
) -> Outcome:
    """Change the fields given (None leaves a field alone); `tags` and `custom_fields` replace the
    whole set. TicketUpdated lists exactly the fields whose value changed. A group change is an
    assignment, so it is told by TicketAssigned (the contract keeps TicketUpdated for fields
    without their own event). Setting every field to its current value changes nothing."""
    _ensure_mutable(ticket)
    wanted: dict[str, Any] = {}
    if subject is not None:
        wanted["subject"] = normalise_subject(subject)
    if description is not None:
        wanted["description"] = _text(description, "description", required=False)
    if type is not None:
        wanted["type"] = type
    if priority is not None:
        wanted["priority"] = priority
    if requester_id is not None:
        wanted["requester_id"] = requester_id
    if tags is not None:
        wanted["tags"] = normalise_tags(tags)
    if custom_fields is not None:
        wanted["custom_fields"] = normalise_custom_fields(custom_fields)
    changes = {
        name: wanted[name]
        for name in _UPDATABLE
        if name in wanted and _differs(getattr(ticket, name), wanted[name])
    }
    group_changed = group_id is not None and group_id != ticket.group_id
    if group_changed:
        changes["group_id"] = group_id
    if not changes:
        return Outcome(ticket)
    after = ticket.evolve(now, **changes)
    events: list[Message] = []
    fields = [name for name in _UPDATABLE if name in changes]
    if fields:
        events.append(_updated(after, fields, actor))
    if group_changed:
        events.append(_assigned(ticket, after, actor, now))
    return Outcome(after, tuple(events))


def link_contact(ticket: Ticket, contact_id: str, actor: Actor, now: datetime) -> Outcome:
    """Link a contact (a call, chat, email...) to the ticket; linking one already linked is a no-op.
    The contact count feeds first-contact resolution when the ticket is solved."""
    _ensure_mutable(ticket)
    _require(contact_id, "contact_id")
    if contact_id in ticket.contact_ids:
        return Outcome(ticket)
    if len(ticket.contact_ids) >= MAX_LINKED_CONTACTS:
        raise LimitReached(
            "contact_limit_reached",
            f"ticket {ticket.ticket_id} has {len(ticket.contact_ids):,} contacts linked; at most "
            f"{MAX_LINKED_CONTACTS:,}: open a follow-up ticket",
            limit=str(MAX_LINKED_CONTACTS),
        )
    after = ticket.evolve(now, contact_ids=(*ticket.contact_ids, contact_id))
    return Outcome(after, (_updated(after, ["contact_ids"], actor),))


# -- status --------------------------------------------------------------------------------------


def transition(
    ticket: Ticket,
    to: Status,
    actor: Actor,
    now: datetime,
    *,
    survey_id: str = "",
    survey_kinds: Sequence[common_pb2.SurveyKind.ValueType] = DEFAULT_SURVEY_KINDS,
) -> Outcome:
    """Move the ticket to `to` (lifecycle rules). Emits TicketStatusChanged, plus TicketSolved (and,
    with a `survey_id`, TicketSurveyRequested) on solve, TicketReopened when leaving solved, and
    TicketClosed on close. Moving to the current status changes nothing."""
    lifecycle.check_transition(ticket, to)
    if to is ticket.status:
        return Outcome(ticket)
    if to is Status.SOLVED and survey_id:
        _check_survey(survey_id, survey_kinds)
    after, events = _move(ticket, to, actor, now)
    if to is Status.SOLVED and survey_id:
        events.append(request_survey(after, survey_id, now, kinds=survey_kinds))
    return Outcome(after, tuple(events))


def auto_close(ticket: Ticket, now: datetime, close_after: timedelta) -> Outcome:
    """Close a ticket solved at least `close_after` ago (DOMAIN.md: after N days solved)."""
    _ensure_mutable(ticket)
    if ticket.status is not Status.SOLVED or ticket.solved_at is None:
        raise InvalidCommand(
            "not_solved",
            f"ticket {ticket.ticket_id} is {ticket.status.value}; only a solved ticket closes automatically",
            status=ticket.status.value,
        )
    due = ticket.solved_at + close_after
    if due > now:
        raise InvalidCommand(
            "not_due",
            f"ticket {ticket.ticket_id} closes at {due.isoformat()}, not before",
            due_at=due.isoformat(),
        )
    after, events = _move(ticket, Status.CLOSED, SYSTEM, now, automatic=True)
    return Outcome(after, tuple(events))


def request_survey(
    ticket: Ticket,
    survey_id: str,
    now: datetime,
    *,
    kinds: Sequence[common_pb2.SurveyKind.ValueType] = DEFAULT_SURVEY_KINDS,
) -> ticket_events_pb2.TicketSurveyRequested:
    """Ask the requester about a solved ticket; the answers are credited to its assignee. It
    changes nothing on the ticket, so it is only the event."""
    _check_survey(survey_id, kinds)
    if ticket.status is not Status.SOLVED:
        raise InvalidCommand(
            "survey_needs_solved",
            f"ticket {ticket.ticket_id} is {ticket.status.value}; surveys follow a solve",
            status=ticket.status.value,
        )
    return ticket_events_pb2.TicketSurveyRequested(
        tenant_id=ticket.tenant_id,
        ticket_id=ticket.ticket_id,
        survey_id=survey_id,
        kinds=list(kinds),
        requester_id=ticket.requester_id,
        agent_id=ticket.assignee_id,
        # The latest contact is the one the customer remembers.
        contact_id=ticket.contact_ids[-1] if ticket.contact_ids else "",
        channel=CHANNEL_TO_PROTO[ticket.channel],
        requested_at=timestamp(now),
    )


# -- assignment, tiers, departments -------------------------------------------------------------


def assign(
    ticket: Ticket,
    actor: Actor,
    now: datetime,
    *,
    assignee_id: str | None = None,
    group_id: str | None = None,
) -> Outcome:
    """Set the assignee and/or the group (None keeps one, "" clears it). The status is untouched:
    a `new` ticket stays new until an agent replies or moves it."""
    _ensure_mutable(ticket)
    if assignee_id is None and group_id is None:
        raise InvalidCommand("nothing_to_assign", "name an assignee, a group, or both")
    changes: dict[str, Any] = {}
    if assignee_id is not None and assignee_id != ticket.assignee_id:
        changes["assignee_id"] = assignee_id
    if group_id is not None and group_id != ticket.group_id:
        changes["group_id"] = group_id
    if not changes:
        return Outcome(ticket)
    after = ticket.evolve(now, **changes)
    return Outcome(after, (_assigned(ticket, after, actor, now),))


def escalate(
    ticket: Ticket,
    to_tier: Tier,
    actor: Actor,
    now: datetime,
    *,
    group_id: str | None = None,
    reason: str = "",
) -> Outcome:
    """Move the ticket up a support tier (L1 -> L2 -> L3), optionally to a group of that tier."""
    _ensure_mutable(ticket)
    if ticket.tier is Tier.L3:
        raise InvalidCommand(
            "already_top_tier",
            f"ticket {ticket.ticket_id} is at L3; there is no tier above it",
            from_tier=ticket.tier.value,
            to_tier=to_tier.value,
        )
    if _TIER_RANK[to_tier] <= _TIER_RANK[ticket.tier]:
        raise InvalidCommand(
            "escalation_must_raise_tier",
            f"ticket {ticket.ticket_id} is at {ticket.tier.value}; escalation goes to a higher tier",
            from_tier=ticket.tier.value,
            to_tier=to_tier.value,
        )
    return _escalated(ticket, to_tier, actor, now, group_id, reason)


def hand_off(
    ticket: Ticket,
    to_department: Department,
    actor: Actor,
    now: datetime,
    *,
    group_id: str | None = None,
    reason: str = "",
) -> Outcome:
    """Move the ticket to another department, keeping its context (requester, comments, contacts,
    tags, fields, tier, status). Its group and assignee belong to the department it leaves, so
    the group becomes `group_id` (or none, for the new department to triage) and the assignee is
    cleared; a cleared assignee is also told by TicketAssigned, so assignment consumers need not
    read hand-offs."""
    _ensure_mutable(ticket)
    if to_department is ticket.department:
        raise InvalidCommand(
            "hand_off_same_department",
            f"ticket {ticket.ticket_id} is already in {to_department.value}",
            department=to_department.value,
        )
    after = ticket.evolve(now, department=to_department, group_id=group_id or "", assignee_id="")
    handed = ticket_events_pb2.TicketHandedOff(
        tenant_id=after.tenant_id,
        ticket_id=after.ticket_id,
        version=after.version,
        from_department=DEPARTMENT_TO_PROTO[ticket.department],
        to_department=DEPARTMENT_TO_PROTO[to_department],
        from_group_id=ticket.group_id,
        to_group_id=after.group_id,
        reason=reason,
        handed_off_by=actor_to_proto(actor),
        handed_off_at=timestamp(now),
    )
    events: list[Message] = [handed]
    if ticket.assignee_id:
        events.append(_assigned(ticket, after, actor, now))
    return Outcome(after, tuple(events))


def apply_escalation_action(
    ticket: Ticket,
    action: common_pb2.EscalationAction,
    actor: Actor,
    now: datetime,
    *,
    reason: str = "",
) -> Outcome:
    """Apply one SLA escalation action. Raising priority or tier never lowers either: an action
    that would is a no-op, as is one already in effect. `notify` and `move_to_queue` are not
    ticket changes (a notifier and the router act on them), so they are no-ops here too."""
    _ensure_mutable(ticket)
    kind = action.WhichOneof("kind")
    if kind == "raise_priority":
        priority = priority_from_proto(action.raise_priority)
        if _PRIORITY_RANK[priority] <= _PRIORITY_RANK[ticket.priority]:
            return Outcome(ticket)
        after = ticket.evolve(now, priority=priority)
        return Outcome(after, (_updated(after, ["priority"], actor),))
    if kind == "move_to_group":
        if not action.move_to_group or action.move_to_group == ticket.group_id:
            return Outcome(ticket)
        after = ticket.evolve(now, group_id=action.move_to_group)
        return Outcome(after, (_assigned(ticket, after, actor, now),))
    if kind == "move_to_tier":
        tier = tier_from_proto(action.move_to_tier)
        if _TIER_RANK[tier] <= _TIER_RANK[ticket.tier]:
            return Outcome(ticket)
        return _escalated(ticket, tier, actor, now, None, reason)
    return Outcome(ticket)


# -- comments ------------------------------------------------------------------------------------


def add_comment(
    ticket: Ticket,
    body: str,
    actor: Actor,
    now: datetime,
    *,
    comment_id: str,
    public: bool = True,
    contact_id: str = "",
    follow_up_id: str = "",
) -> Outcome:
    """Add a public reply or an internal note, by `actor` (agent, customer or system).

    The first public agent reply is the first response (`first_agent_reply_at`, and
    `first_response` on TicketCommented) and opens a `new` ticket. A public customer reply moves
    the status by the lifecycle rules (pending -> open; solved -> open, a reopen), emitting the
    status events with the same version. Notes and system comments never move the status. A
    contact the comment came through is linked to the ticket.

    A public customer reply to a closed ticket creates the follow-up `follow_up_id` instead (see
    `_follow_up`); every other comment on a closed ticket is refused.
    """
    _require(comment_id, "comment_id")
    body = _text(body, "body", required=True)
    if actor.type is AuthorType.CUSTOMER and not public:
        raise InvalidCommand(
            "customer_comments_are_public", "internal notes are for agents and the system; customers reply"
        )
    if ticket.status is Status.CLOSED and actor.type is AuthorType.CUSTOMER:
        return _follow_up(ticket, body, actor, now, comment_id, contact_id, follow_up_id)
    _ensure_mutable(ticket)

    target = ticket.status
    if public and actor.type is AuthorType.CUSTOMER:
        target = lifecycle.after_customer_reply(ticket.status) or ticket.status
    elif public and actor.type is AuthorType.AGENT:
        target = lifecycle.after_agent_reply(ticket.status)
    first_response = public and actor.type is AuthorType.AGENT and ticket.first_agent_reply_at is None

    changes: dict[str, Any] = {"comment_count": ticket.comment_count + 1}
    if first_response:
        changes["first_agent_reply_at"] = now
    # A comment is never refused for its contact: past the most a ticket links, it is kept unlinked.
    if contact_id and contact_id not in ticket.contact_ids and len(ticket.contact_ids) < MAX_LINKED_CONTACTS:
        changes["contact_ids"] = (*ticket.contact_ids, contact_id)
    move = lifecycle.move(ticket, target, now) if target is not ticket.status else None
    if move is not None:
        changes.update(move.changes())
    after = ticket.evolve(now, **changes)

    comment = Comment(comment_id, ticket.ticket_id, public, actor, body, now, contact_id)
    commented = ticket_events_pb2.TicketCommented(
        tenant_id=after.tenant_id,
        ticket_id=after.ticket_id,
        version=after.version,
        comment_id=comment_id,
        public=public,
        author_type=AUTHOR_TYPE_TO_PROTO[actor.type],
        author_id=actor.id,
        body=body,
        first_response=first_response,
        contact_id=contact_id,
        commented_at=timestamp(now),
    )
    events: list[Message] = [commented]
    if move is not None:
        events.extend(_status_events(ticket, after, move, actor, now))
    return Outcome(after, tuple(events), comment)


def _follow_up(
    closed: Ticket,
    body: str,
    actor: Actor,
    now: datetime,
    comment_id: str,
    contact_id: str,
    follow_up_id: str,
) -> Outcome:
    """A new ticket for a customer's reply to a closed one (Zendesk follow-up). It carries the
    closed ticket's requester, subject ("Re: ..."), channel, type, priority, department, tier,
    group, tags and custom fields; the reply is its first comment and description. It starts
    `new` and unassigned, so routing picks it up afresh. The closed ticket stays untouched, so
    the link is only `follow_up_of` on the new ticket."""
    if not follow_up_id:
        raise InvalidCommand(
            "follow_up_id_required",
            f"ticket {closed.ticket_id} is closed: a customer reply needs an id for its follow-up ticket",
        )
    subject = (FOLLOW_UP_PREFIX + closed.subject)[:SUBJECT_MAX]
    follow_up = Ticket(
        ticket_id=follow_up_id,
        tenant_id=closed.tenant_id,
        subject=subject,
        created_at=now,
        updated_at=now,
        description=body,
        requester_id=closed.requester_id or actor.id,
        channel=closed.channel,
        type=closed.type,
        priority=closed.priority,
        department=closed.department,
        tier=closed.tier,
        group_id=closed.group_id,
        tags=closed.tags,
        custom_fields=dict(closed.custom_fields),
        contact_ids=(contact_id,) if contact_id else (),
        follow_up_of=closed.ticket_id,
        comment_count=1,
    )
    comment = Comment(comment_id, follow_up_id, True, actor, body, now, contact_id)
    created = ticket_events_pb2.TicketCreated(
        tenant_id=follow_up.tenant_id,
        ticket=to_snapshot(follow_up),
        created_by=actor_to_proto(actor),
        contact_id=contact_id,
        follow_up_of_ticket_id=closed.ticket_id,
    )
    return Outcome(closed, (created,), comment, follow_up)


# -- validation ------------------------------------------------------------------------------------


def normalise_subject(subject: str) -> str:
    text = subject.strip()
    if not text:
        raise InvalidCommand("subject_required", "a ticket needs a subject")
    if len(text) > SUBJECT_MAX:
        raise InvalidCommand(
            "subject_too_long", f"the subject has {len(text)} characters; at most {SUBJECT_MAX} are allowed"
        )
    return text


def normalise_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Lower-case, deduplicated and sorted, so equal tag sets compare equal and index once."""
    normalised = sorted({tag.strip().lower() for tag in tags})
    for tag in normalised:
        if not TAG_PATTERN.match(tag):
            raise InvalidCommand(
                "invalid_tag",
                f"tag {tag!r} must be 1-50 of a-z, 0-9, '_', ':', '-', starting with a letter or digit",
                tag=tag,
            )
    if len(normalised) > MAX_TAGS:
        raise InvalidCommand("too_many_tags", f"{len(normalised)} tags; at most {MAX_TAGS} are allowed")
    return tuple(normalised)


def normalise_custom_fields(fields: Mapping[str, str]) -> dict[str, str]:
    if len(fields) > MAX_CUSTOM_FIELDS:
        raise InvalidCommand(
            "too_many_custom_fields", f"{len(fields)} custom fields; at most {MAX_CUSTOM_FIELDS} are allowed"
        )
    for key, value in fields.items():
        if not CUSTOM_FIELD_KEY_PATTERN.match(key):
            raise InvalidCommand(
                "invalid_custom_field_key",
                f"custom field key {key!r} must be 1-50 of a-z, 0-9, '_', starting with a letter",
                key=key,
            )
        if len(value) > CUSTOM_FIELD_VALUE_MAX:
            raise InvalidCommand(
                "custom_field_too_long",
                f"custom field {key!r} has {len(value)} characters; at most {CUSTOM_FIELD_VALUE_MAX}",
                key=key,
            )
    return dict(sorted(fields.items()))


def _text(text: str, name: str, *, required: bool) -> str:
    if required and not text.strip():
        raise InvalidCommand(f"{name}_required", f"the {name} is empty")
    if len(text) > TEXT_MAX:
        raise InvalidCommand(
            f"{name}_too_long", f"the {name} has {len(text)} characters; at most {TEXT_MAX} are allowed"
        )
    return text


def _require(value: str, name: str) -> None:
    if not value:
        raise InvalidCommand(f"{name}_required", f"{name} is required")


def _check_survey(survey_id: str, kinds: Sequence[common_pb2.SurveyKind.ValueType]) -> None:
    _require(survey_id, "survey_id")
    if not kinds:
        raise InvalidCommand("survey_kinds_required", "a survey asks at least one question (CSAT, NPS, CES)")
    if any(kind not in common_pb2.SurveyKind.values() or kind == 0 for kind in kinds):
        raise InvalidCommand("invalid_survey_kind", f"survey kinds {list(kinds)} include an unknown kind")


def _ensure_mutable(ticket: Ticket) -> None:
    # The ticket's state forbids the change, whatever the request says: a refusal, not bad input.
    if ticket.status is Status.CLOSED:
        raise lifecycle.closed_refusal(ticket)


def _differs(current: object, wanted: object) -> bool:
    if isinstance(current, Mapping) and isinstance(wanted, Mapping):
        return dict(current) != dict(wanted)
    return current != wanted


# -- events ----------------------------------------------------------------------------------------


def _move(
    ticket: Ticket, to: Status, actor: Actor, now: datetime, *, automatic: bool = False
) -> tuple[Ticket, list[Message]]:
    move = lifecycle.move(ticket, to, now)
    after = ticket.evolve(now, **move.changes())
    return after, _status_events(ticket, after, move, actor, now, automatic=automatic)


def _status_events(
    before: Ticket,
    after: Ticket,
    move: lifecycle.Move,
    actor: Actor,
    now: datetime,
    *,
    automatic: bool = False,
) -> list[Message]:
    by = actor_to_proto(actor)
    events: list[Message] = [
        ticket_events_pb2.TicketStatusChanged(
            tenant_id=after.tenant_id,
            ticket_id=after.ticket_id,
            version=after.version,
            from_status=STATUS_TO_PROTO[before.status],
            to_status=STATUS_TO_PROTO[after.status],
            changed_by=by,
            changed_at=timestamp(now),
        )
    ]
    if after.status is Status.SOLVED:
        events.append(
            ticket_events_pb2.TicketSolved(
                tenant_id=after.tenant_id,
                ticket_id=after.ticket_id,
                version=after.version,
                solved_by=by,
                assignee_id=after.assignee_id,
                department=DEPARTMENT_TO_PROTO[after.department],
                channel=CHANNEL_TO_PROTO[after.channel],
                contact_count=len(after.contact_ids),
                reopen_count=after.reopen_count,
                created_at=timestamp(after.created_at),
                solved_at=timestamp(now),
            )
        )
    if move.reopened:
        reopened = ticket_events_pb2.TicketReopened(
            tenant_id=after.tenant_id,
            ticket_id=after.ticket_id,
            version=after.version,
            from_status=STATUS_TO_PROTO[before.status],
            reopened_by=by,
            reopen_count=after.reopen_count,
            reopened_at=timestamp(now),
        )
        if before.solved_at is not None:
            reopened.solved_at.CopyFrom(timestamp(before.solved_at))
        events.append(reopened)
    if after.status is Status.CLOSED:
        events.append(
            ticket_events_pb2.TicketClosed(
                tenant_id=after.tenant_id,
                ticket_id=after.ticket_id,
                version=after.version,
                automatic=automatic,
                closed_by=by,
                closed_at=timestamp(now),
            )
        )
    return events


def _updated(after: Ticket, fields: Sequence[str], actor: Actor) -> ticket_events_pb2.TicketUpdated:
    return ticket_events_pb2.TicketUpdated(
        tenant_id=after.tenant_id,
        ticket=to_snapshot(after),
        changed_fields=list(fields),
        updated_by=actor_to_proto(actor),
    )


def _assigned(before: Ticket, after: Ticket, actor: Actor, now: datetime) -> ticket_events_pb2.TicketAssigned:
    return ticket_events_pb2.TicketAssigned(
        tenant_id=after.tenant_id,
        ticket_id=after.ticket_id,
        version=after.version,
        assignee_id=after.assignee_id,
        previous_assignee_id=before.assignee_id,
        group_id=after.group_id,
        previous_group_id=before.group_id,
        assigned_by=actor_to_proto(actor),
        assigned_at=timestamp(now),
    )


def _escalated(
    ticket: Ticket, to_tier: Tier, actor: Actor, now: datetime, group_id: str | None, reason: str
) -> Outcome:
    changes: dict[str, Any] = {"tier": to_tier}
    if group_id is not None:
        changes["group_id"] = group_id
    after = ticket.evolve(now, **changes)
    escalated = ticket_events_pb2.TicketEscalated(
        tenant_id=after.tenant_id,
        ticket_id=after.ticket_id,
        version=after.version,
        from_tier=TIER_TO_PROTO[ticket.tier],
        to_tier=TIER_TO_PROTO[to_tier],
        group_id=after.group_id,
        reason=reason,
        escalated_by=actor_to_proto(actor),
        escalated_at=timestamp(now),
    )
    return Outcome(after, (escalated,))
