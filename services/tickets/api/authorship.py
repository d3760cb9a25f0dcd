"""Who a key's changes are made by, and as whom it may write a comment: from the key, never from a
request's word alone (helpline.roles).

An agent's key acts as its agent. A gateway's key is the channel: it writes customers' comments,
whose author (the customer) only the channel knows. A supervisor's or reader's key acts as the
agent its name says. An admin's key (set-up jobs, integrations that carry others' words across) may
write as anyone the request names.
"""

from __future__ import annotations

from helpline.auth import Principal
from helpline.roles import Role
from services.tickets.domain.model import Actor, AuthorType


class AuthorshipError(PermissionError):
    """A comment the key may not write as the author asked."""


def actor_of(caller: Principal) -> Actor:
    """Who the key's changes are made by: an agent's key its agent, any other key the agent or
    integration its name says (else its id)."""
    if caller.role is Role.AGENT and caller.agent_id:
        return Actor(AuthorType.AGENT, caller.agent_id)
    return Actor(AuthorType.AGENT, caller.name or caller.key_id)


def comment_author(caller: Principal, asked: AuthorType, asked_id: str) -> Actor:
    """The author a comment is recorded under; AuthorshipError when the key may not write as the
    author the request asks for."""
    if caller.role is Role.ADMIN:
        return Actor(asked, asked_id or actor_of(caller).id)
    if caller.role is Role.GATEWAY:
        if asked is not AuthorType.CUSTOMER:
            raise AuthorshipError(f"a gateway's key writes customers' comments only, not an {asked}'s")
        return Actor(AuthorType.CUSTOMER, asked_id)
    own = actor_of(caller)
    if asked is not AuthorType.AGENT:
        raise AuthorshipError(f"a key of role {caller.role} writes as an agent, not as a {asked}")
    if asked_id and asked_id != own.id:
        raise AuthorshipError(f"this key writes as agent {own.id!r}, not {asked_id!r}")
    return own
