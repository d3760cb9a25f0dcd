"""The ticket status state machine (DOMAIN.md, Tickets; Zendesk semantics).

Agent (explicit) transitions, from -> allowed to:

    new      -> open, pending, on_hold, solved
    open     -> pending, on_hold, solved
    pending  -> open, on_hold, solved
    on_hold  -> open, pending, solved
    solved   -> open, pending, on_hold, closed
    closed   -> (nothing: immutable)

Staying in the same status is not a transition: commands treat it as "nothing to do".

Replies move the status on their own:

    customer public reply: new stays new, open stays open, pending -> open, on_hold stays on_hold
        (customers see it as open), solved -> open (a reopen), closed -> a linked follow-up ticket
    agent public reply: new -> open (Zendesk opens a ticket once an agent has answered), else unchanged
    internal notes and system comments: never change the status

Leaving `solved` for any unsolved status is a reopen, whoever does it: `reopen_count` goes up and
`solved_at` is cleared, because the ticket is no longer solved and first-contact resolution must
not count it. Solving stamps `solved_at`, closing stamps `closed_at` (and keeps `solved_at`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.tickets.domain.errors import TransitionRefused
from services.tickets.domain.model import Status, Ticket

_UNSOLVED = frozenset({Status.OPEN, Status.PENDING, Status.ON_HOLD})

_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.NEW: _UNSOLVED | {Status.SOLVED},
    Status.OPEN: (_UNSOLVED - {Status.OPEN}) | {Status.SOLVED},
    Status.PENDING: (_UNSOLVED - {Status.PENDING}) | {Status.SOLVED},
    Status.ON_HOLD: (_UNSOLVED - {Status.ON_HOLD}) | {Status.SOLVED},
    Status.SOLVED: _UNSOLVED | {Status.CLOSED},
    Status.CLOSED: frozenset(),
}


def allowed_transitions(status: Status) -> frozenset[Status]:
    """The statuses an agent may move a ticket to from `status` (itself excluded)."""
    return _ALLOWED[status]


def check_transition(ticket: Ticket, to: Status) -> None:
    """Raise TransitionRefused, naming the rule, unless `ticket` may move to `to`.

    Staying in the same (non-closed) status passes: it is no move at all.
    """
    current = ticket.status
    if current is Status.CLOSED:
        raise closed_refusal(ticket, to)
    if to is current:
        return
    if to is Status.NEW:
        raise TransitionRefused(
            "new_never_returns",
            f"ticket {ticket.ticket_id} left new; it cannot return to new",
            from_status=current.value,
            to_status=to.value,
        )
    if to is Status.CLOSED and current is not Status.SOLVED:
        raise TransitionRefused(
            "closed_only_from_solved",
            f"ticket {ticket.ticket_id} is {current.value}; only a solved ticket can be closed",
            from_status=current.value,
            to_status=to.value,
        )
    if to not in _ALLOWED[current]:  # pragma: no cover -- the rules above cover every refusal
        raise TransitionRefused(
            "transition_not_allowed",
            f"ticket {ticket.ticket_id} cannot move from {current.value} to {to.value}",
            from_status=current.value,
            to_status=to.value,
        )


def closed_refusal(ticket: Ticket, to: Status | None = None) -> TransitionRefused:
    detail = {"from_status": Status.CLOSED.value}
    if to is not None:
        detail["to_status"] = to.value
    return TransitionRefused(
        "closed_is_immutable",
        f"ticket {ticket.ticket_id} is closed and cannot change; a customer reply creates a follow-up",
        **detail,
    )


def is_reopen(from_status: Status, to_status: Status) -> bool:
    return from_status is Status.SOLVED and to_status in _UNSOLVED


def after_customer_reply(status: Status) -> Status | None:
    """The status a public customer reply leaves the ticket in; None for a closed ticket, which
    stays as it is while the reply starts a follow-up."""
    if status is Status.CLOSED:
        return None
    if status in (Status.PENDING, Status.SOLVED):
        return Status.OPEN
    # new stays new (nobody has worked it yet); on_hold stays on_hold (the third party still owes).
    return status


def after_agent_reply(status: Status) -> Status:
    """The status a public agent reply leaves the ticket in."""
    return Status.OPEN if status is Status.NEW else status


@dataclass(frozen=True)
class Move:
    """The fields a status change sets, to be applied in the same `evolve` as the rest of a command."""

    status: Status
    solved_at: datetime | None
    closed_at: datetime | None
    reopen_count: int
    reopened: bool

    def changes(self) -> dict[str, object]:
        return {
            "status": self.status,
            "solved_at": self.solved_at,
            "closed_at": self.closed_at,
            "reopen_count": self.reopen_count,
        }


def move(ticket: Ticket, to: Status, now: datetime) -> Move:
    """The stamps of moving `ticket` to `to` (the caller has checked the move is allowed)."""
    solved_at = ticket.solved_at
    closed_at = ticket.closed_at
    reopen_count = ticket.reopen_count
    reopened = is_reopen(ticket.status, to)
    if to is Status.SOLVED:
        solved_at = now
    elif to is Status.CLOSED:
        closed_at = now
    elif reopened:
        solved_at = None
        reopen_count += 1
    return Move(to, solved_at, closed_at, reopen_count, reopened)
