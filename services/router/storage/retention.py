"""How long the router keeps what it no longer needs (docs/router.md, Retention).

Every record that a contact leaves behind gets a Redis expiry in the same commit that ends its
use, so nothing sweeps and nothing is left: a finished contact's record and the ids of its offers
expire `contact_s` after it finished, the agent who last served a customer `last_agent_s` after
their last completed contact, and an agent's desk stream drops entries older than `desk_s` and
expires `desk_s` after its last entry.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY_S = 24 * 3600


@dataclass(frozen=True)
class Retention:
    # Long enough for a late duplicate event or a desktop's late answer about a finished contact to
    # get the answer it would have got at once ("already completed", not "no such contact"), and
    # for an abandoned caller to regain the place within the queue's resume window.
    contact_s: int = DAY_S
    # preferred_agent looks this far back for the agent who last served a customer.
    last_agent_s: int = 30 * DAY_S
    # A desk only serves the desktops following it live (a desktop that connects reads its pending
    # offer from the agent's record): its entries are kept for a reconnecting desktop's catch-up.
    desk_s: int = 3600

    def __post_init__(self) -> None:
        if min(self.contact_s, self.last_agent_s, self.desk_s) < 1:
            raise ValueError("every retention is at least one second")
        # A desk entry outlives its last trim by at most `desk_s` (the stream's own expiry), so an
        # offer shown on a desk is gone within twice `desk_s`: at most its contact's retention.
        if 2 * self.desk_s > self.contact_s:
            raise ValueError("the desk retention is at most half the contact retention")
