"""Why the router domain refused a configuration or a decision.

`rule` is a short identifier that stays stable across releases, so API clients and tests can
branch on it; `message` is for people. The API layer maps InvalidConfiguration to 422 (or
INVALID_ARGUMENT) and RoutingRefused to 409 (or FAILED_PRECONDITION).
"""

from __future__ import annotations

from helpline.domain import DomainError

__all__ = ["DomainError", "InvalidConfiguration", "RoutingRefused"]


class InvalidConfiguration(DomainError):  # noqa: N818 -- named for the decision, like the rule it carries
    """A queue, agent, routing profile or contact is described in a way the router cannot use."""


class RoutingRefused(DomainError):  # noqa: N818 -- named for the decision, like the rule it carries
    """The state of an agent or contact forbids the step (e.g. an assignment over capacity)."""
