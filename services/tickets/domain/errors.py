"""Why the domain refused a command.

`rule` is a short identifier that stays stable across releases, so API clients and tests can
branch on it; `message` is for people. The API layer maps TransitionRefused to 409 (the ticket's
state forbids it) and InvalidCommand to 422 (the request itself is wrong).
"""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    def __init__(self, rule: str, message: str, **detail: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        # Extra facts a problem+json body can carry (e.g. from and to status), as plain strings.
        self.detail: Mapping[str, str] = dict(detail)

    def __str__(self) -> str:
        return f"{self.message} ({self.rule})"


class TransitionRefused(DomainError):  # noqa: N818 -- named for the decision, like the rule it carries
    """The status change is not allowed from the ticket's current status."""


class InvalidCommand(DomainError):  # noqa: N818 -- named for the decision, like the rule it carries
    """The command's input is wrong, or it cannot apply to this ticket."""
