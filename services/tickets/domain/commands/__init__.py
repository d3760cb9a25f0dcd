"""Ticket commands: pure functions from a ticket and a request to the next ticket and the events
that describe the change, one module per job:

- `creation`: a new ticket from a `NewTicket` request;
- `fields`: the ticket's own fields, and the contacts linked to it;
- `status`: lifecycle transitions, the automatic close, survey requests;
- `assignment`: assignee and group, tier (escalation), department (hand-off), SLA actions;
- `comments`: replies and notes, and the follow-up a reply to a closed ticket creates;
- `validation`: the limits and normalised forms every command checks;
- `outcome`: the `Outcome` a command returns, and the events several commands emit.

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

The package names the commands its callers use, so an API or consumer reads `commands.create`,
`commands.transition`, whichever module holds them: a command is known by being a ticket command,
not by the module that groups it.
"""

from services.tickets.domain.commands.assignment import apply_escalation_action, assign, escalate, hand_off
from services.tickets.domain.commands.comments import add_comment
from services.tickets.domain.commands.creation import NewTicket, create
from services.tickets.domain.commands.fields import link_contact, update_fields
from services.tickets.domain.commands.outcome import Outcome
from services.tickets.domain.commands.status import auto_close, request_survey, transition

__all__ = [
    "NewTicket",
    "Outcome",
    "add_comment",
    "apply_escalation_action",
    "assign",
    "auto_close",
    "create",
    "escalate",
    "hand_off",
    "link_contact",
    "request_survey",
    "transition",
    "update_fields",
]
