"""Counting once on marks in Redis, though a round trip can fail after Redis ran it.

A count moves in this process's memory once the batch's round trip has run, and only when its
mark was made there (`SET NX`): a mark found made means the event, or the contact's answer, was
counted already. But a trip can fail after Redis made its marks and before this replica read the
replies: Redis stopped before it sent them, or froze past the socket timeout and ran the commands
when it thawed. The bus hands those events back, and a plain `SET NX` would then find their marks
made and never count them. So each mark holds the trip that made it, and the replica remembers the
trips that failed: a mark one of those made is still its own to count.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from services.metrics.round_trip import Reply


@dataclass(frozen=True)
class Claim:
    """A mark asked for on a trip: its key, the trip's token it holds if this trip made it, and
    the token it held before (None: nobody's, so this trip made it)."""

    key: str
    token: str
    before: Reply[str | None]


class Claims:
    """The tokens of this replica's trips, and the marks its failed trips may have made."""

    def __init__(self) -> None:
        self._replica = uuid.uuid4().hex[:8]
        self._trips = itertools.count()
        self._unsettled: dict[str, set[str]] = {}

    def token(self) -> str:
        """A new trip's token, unique across replicas and trips."""
        return f"{self._replica}{next(self._trips):x}"

    def won(self, claim: Claim) -> bool:
        """Whether the claim's count is this replica's to make now: the mark was nobody's, or one
        of its failed trips made it before anything was counted."""
        before = claim.before.get()
        failed = self._unsettled.pop(claim.key, set())
        return before is None or before in failed

    def failed(self, claims: Iterable[Claim]) -> None:
        """A trip failed: Redis may have made these marks without the counts being made."""
        for claim in claims:
            self._unsettled.setdefault(claim.key, set()).add(claim.token)
