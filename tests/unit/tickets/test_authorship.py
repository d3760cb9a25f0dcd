"""Who a key writes a comment as: its own agent, the channel's customer, or, for an admin's key,
whoever the request names."""

from __future__ import annotations

import pytest

from helpline.auth import Principal
from helpline.roles import Role
from services.tickets.api.authorship import AuthorshipError, actor_of, comment_author
from services.tickets.domain.model import Actor, AuthorType

AGENT, CUSTOMER, SYSTEM = AuthorType.AGENT, AuthorType.CUSTOMER, AuthorType.SYSTEM


def key(role: Role, agent_id: str | None = None, name: str = "desk") -> Principal:
    return Principal("acme", "k1", name, role=role, agent_id=agent_id)


def test_an_agents_key_writes_as_its_agent_and_as_nobody_else() -> None:
    ann = key(Role.AGENT, "ann")
    assert actor_of(ann) == Actor(AGENT, "ann")
    assert comment_author(ann, AGENT, "") == Actor(AGENT, "ann")
    assert comment_author(ann, AGENT, "ann") == Actor(AGENT, "ann")
    with pytest.raises(AuthorshipError, match="writes as agent 'ann', not 'bob'"):
        comment_author(ann, AGENT, "bob")
    for forged in (CUSTOMER, SYSTEM):
        with pytest.raises(AuthorshipError, match="writes as an agent"):
            comment_author(ann, forged, "c-1")


def test_a_gateway_writes_the_customers_comments_only() -> None:
    web = key(Role.GATEWAY, name="web")
    assert comment_author(web, CUSTOMER, "cust-7") == Actor(CUSTOMER, "cust-7")
    for forged in (AGENT, SYSTEM):
        with pytest.raises(AuthorshipError, match="customers' comments only"):
            comment_author(web, forged, "ann")


def test_a_supervisor_writes_as_the_agent_its_key_names() -> None:
    sue = key(Role.SUPERVISOR, name="sue")
    assert comment_author(sue, AGENT, "") == Actor(AGENT, "sue")
    with pytest.raises(AuthorshipError):
        comment_author(sue, CUSTOMER, "cust-7")


def test_an_admins_key_writes_as_whoever_the_request_names() -> None:
    setup = key(Role.ADMIN, name="setup")
    assert comment_author(setup, CUSTOMER, "cust-7") == Actor(CUSTOMER, "cust-7")
    assert comment_author(setup, AGENT, "") == Actor(AGENT, "setup")
