"""What each key may do: its role, and the roles each operation admits.

Every REST route and RPC names its class of access, in one place: a route in its OpenAPI operation
(`x-access`, beside the `x-roles` it admits, helpline.rest), an RPC in its .proto (the `access`
method option, helpline.grpc). Which roles each class admits is said here, and only here. An
operation that names no class admits nobody, and a test fails on it. A key of the `agent` role is
bound to one agent id: an operation on an agent (a request with an `agent_id`) admits it only for
its own.

`admin` may do everything, configuration and keys above all: the role of the operator and of
set-up jobs. Every other client gets the narrowest role its job needs.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    # Queue and agent status, an agent's state forced, every ticket read and worked.
    SUPERVISOR = "supervisor"
    # One agent's desk: its own status, offers and contacts, and ticket work.
    AGENT = "agent"
    # The channels: contacts submitted, abandoned, called back; tickets and customers' comments.
    GATEWAY = "gateway"
    # Read-only.
    READER = "reader"


ROLES = tuple(Role)


class Access(StrEnum):
    """The classes of operation."""

    # Skills, queues, routing profiles, agents, SLA policies and calendars, keys.
    CONFIGURE = "configure"
    # Configuration and tickets read.
    READ = "read"
    # A queue's depth and expected wait: the desks and wallboards watch it, and a channel's IVR
    # tells the caller the wait and offers a callback by it.
    QUEUE_STATUS = "queue_status"
    # What an agent does at its desk: its status, its offers, its contacts.
    AGENT_DESK = "agent_desk"
    # What the channels do: contacts submitted, abandoned, called back.
    INTAKE = "intake"
    # Tickets worked: updated, moved, assigned, linked, escalated, handed off.
    TICKET_WORK = "ticket_work"
    # Tickets opened and commented on, by the channels and the desks alike.
    TICKET_INTAKE = "ticket_intake"


_DESKS = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AGENT})
ADMITS: dict[Access, frozenset[Role]] = {
    Access.CONFIGURE: frozenset({Role.ADMIN}),
    Access.READ: frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AGENT, Role.READER}),
    Access.QUEUE_STATUS: frozenset(Role),
    Access.AGENT_DESK: _DESKS,
    Access.INTAKE: frozenset({Role.ADMIN, Role.GATEWAY}),
    Access.TICKET_WORK: _DESKS,
    Access.TICKET_INTAKE: _DESKS | {Role.GATEWAY},
}


def admitted(access: str | None) -> frozenset[Role]:
    """The roles a class of access admits, by its name; none for a name that is no class (an
    operation that declared none, or a class of a newer build)."""
    try:
        return ADMITS[Access(access or "")]
    except ValueError:
        return frozenset()


def refusal(role: Role, allowed: frozenset[Role], operation: str) -> str | None:
    """Why a key of `role` may not run `operation`, or None when it may."""
    if role in allowed:
        return None
    admitted = ", ".join(sorted(allowed)) or "no role"
    return f"a key of role {role} cannot {operation}; it takes {admitted}"


def call_refusal(
    role: Role, key_agent: str | None, allowed: frozenset[Role], operation: str, agent_id: str | None
) -> str | None:
    """Why a key may not run `operation` (naming `agent_id`, when it names an agent), or None when
    it may: what REST and gRPC both ask of every call."""
    why = refusal(role, allowed, operation)
    if why is None and agent_id is not None:
        why = agent_refusal(role, key_agent, agent_id)
    return why


def agent_refusal(role: Role, key_agent: str | None, agent_id: str) -> str | None:
    """Why a key may not act for `agent_id`, or None when it may: an agent's key acts for its own
    agent only."""
    if role is not Role.AGENT or agent_id == key_agent:
        return None
    return f"this key acts for agent {key_agent!r} only, not {agent_id!r}"
