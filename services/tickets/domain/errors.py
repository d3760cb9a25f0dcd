"""Why the domain refused a command.

`rule` is a short identifier that stays stable across releases, so API clients and tests can
branch on it; `message` is for people. The API layer maps TransitionRefused and LimitReached to
409 (the ticket's state forbids it) and InvalidCommand to 422 (the request itself is wrong).
"""

from __future__ import annotations

from helpline.domain import DomainError

__all__ = ["DomainError", "InvalidCommand", "LimitReached", "TransitionRefused"]


class TransitionRefused(DomainError):  # noqa: N818 -- named for the decision, like the rule it carries
    """The status change is not allowed from the ticket's current status."""


class InvalidCommand(DomainError):  # noqa: N818 -- named for the decision, like the rule it carries
    """The command's input is wrong, or it cannot apply to this ticket."""


class LimitReached(DomainError):  # noqa: N818 -- named for the decision, like the rule it carries
    """The ticket holds the most it may of something (comments); the same request would pass on
    another ticket. The store checks it, where the count is exact under concurrent writers."""
