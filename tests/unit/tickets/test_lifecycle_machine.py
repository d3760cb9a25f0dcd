"""Random command sequences against a tiny, independent model of the status rules.

The model below is written from DOMAIN.md, not from `lifecycle`, so a slip in either shows up as a
disagreement. Invariants: the status never returns to new; a closed ticket never changes; the
version rises by exactly one per change and never on a refused command; reopen_count counts the
moves out of solved; solved_at is set exactly while solved or closed; first_agent_reply_at, once
set, stays.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from services.tickets.domain import commands
from services.tickets.domain.commands.outcome import Outcome
from services.tickets.domain.errors import DomainError
from services.tickets.domain.model import Status, Ticket, Tier
from tests.unit.tickets.support import AGENT, CUSTOMER, T0, new_ticket

CLOSE_AFTER = timedelta(days=4)
NEW, OPEN, PENDING, ON_HOLD, SOLVED, CLOSED = (
    Status.NEW,
    Status.OPEN,
    Status.PENDING,
    Status.ON_HOLD,
    Status.SOLVED,
    Status.CLOSED,
)
# The agent transitions DOMAIN.md allows, spelled out once more by hand.
AGENT_MOVES = {
    NEW: {OPEN, PENDING, ON_HOLD, SOLVED},
    OPEN: {PENDING, ON_HOLD, SOLVED},
    PENDING: {OPEN, ON_HOLD, SOLVED},
    ON_HOLD: {OPEN, PENDING, SOLVED},
    SOLVED: {OPEN, PENDING, ON_HOLD, CLOSED},
    CLOSED: set(),
}
CUSTOMER_REPLY = {NEW: NEW, OPEN: OPEN, PENDING: OPEN, ON_HOLD: ON_HOLD, SOLVED: OPEN}
TIERS = [Tier.L1, Tier.L2, Tier.L3]


class TicketLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.ticket = new_ticket()
        self.seq = 0
        # The model.
        self.status = NEW
        self.version = 1
        self.reopens = 0
        self.tier = Tier.L1
        self.assignee = ""
        self.solved_at: datetime | None = None
        self.left_new = False
        self.first_reply: datetime | None = None
        self.closed: Ticket | None = None

    def _id(self) -> str:
        self.seq += 1
        return f"id-{self.seq}"

    def _expect(
        self, command: Callable[[Ticket], Outcome], *, refused: bool, changes: bool, to: Status | None = None
    ) -> Outcome | None:
        before = self.ticket
        try:
            outcome = command(before)
        except DomainError:
            assert refused, "the model allows what the domain refused"
            return None
        assert not refused, "the domain allowed what the model refuses"
        if changes:
            self.version += 1
            assert outcome.ticket.version == before.version + 1
            assert outcome.ticket.updated_at == self.now
            assert outcome.events
            for event in outcome.events:
                fields = {f.name: value for f, value in event.ListFields()}
                version = fields["ticket"].version if "ticket" in fields else fields["version"]
                assert version == outcome.ticket.version
        else:
            assert outcome.ticket is before
            assert outcome.follow_up is not None or outcome.events == ()
        self.ticket = outcome.ticket
        if to is not None:
            self._moved(to)
        return outcome

    def _moved(self, to: Status) -> None:
        if self.status is SOLVED and to in (OPEN, PENDING, ON_HOLD):
            self.reopens += 1
            self.solved_at = None
        if to is SOLVED and self.status is not SOLVED:
            self.solved_at = self.now
        if to is not NEW:
            self.left_new = True
        self.status = to
        if to is CLOSED and self.closed is None:
            self.closed = self.ticket

    @rule(
        step=st.sampled_from([timedelta(minutes=1), timedelta(hours=5), timedelta(days=2), timedelta(days=5)])
    )
    def time_passes(self, step: timedelta) -> None:
        self.now += step

    @rule(offset=st.sampled_from([timedelta(seconds=-1), timedelta(0), timedelta(seconds=1)]))
    def time_reaches_the_close_boundary(self, offset: timedelta) -> None:
        # Random steps rarely land next to the due moment, where an off-by-one would hide.
        if self.solved_at is not None and self.status is SOLVED:
            self.now = max(self.now, self.solved_at + CLOSE_AFTER + offset)

    @rule(to=st.sampled_from(list(Status)))
    def agent_moves(self, to: Status) -> None:
        allowed = to in AGENT_MOVES[self.status]
        stays = to is self.status and self.status is not CLOSED
        self._expect(
            lambda t: commands.transition(t, to, AGENT, self.now),
            refused=not (allowed or stays),
            changes=allowed,
            to=to if allowed else None,
        )

    @rule(public=st.booleans())
    def agent_comments(self, public: bool) -> None:
        to = OPEN if public and self.status is NEW else None
        if public and self.first_reply is None and self.status is not CLOSED:
            self.first_reply = self.now
        self._expect(
            lambda t: commands.add_comment(t, "hi", AGENT, self.now, comment_id=self._id(), public=public),
            refused=self.status is CLOSED,
            changes=True,
            to=to,
        )

    @rule()
    def customer_replies(self) -> None:
        if self.status is CLOSED:
            outcome = self._expect(
                lambda t: commands.add_comment(
                    t, "again", CUSTOMER, self.now, comment_id=self._id(), follow_up_id=self._id()
                ),
                refused=False,
                changes=False,
            )
            assert outcome is not None
            assert outcome.follow_up is not None
            assert outcome.follow_up.follow_up_of == self.ticket.ticket_id
            return
        self._expect(
            lambda t: commands.add_comment(t, "well?", CUSTOMER, self.now, comment_id=self._id()),
            refused=False,
            changes=True,
            to=CUSTOMER_REPLY[self.status],
        )

    @rule(assignee=st.sampled_from(["", "a-1", "a-2"]))
    def assigns(self, assignee: str) -> None:
        changes = self.status is not CLOSED and assignee != self.assignee
        self._expect(
            lambda t: commands.assign(t, AGENT, self.now, assignee_id=assignee),
            refused=self.status is CLOSED,
            changes=changes,
        )
        if changes:
            self.assignee = assignee

    @rule(tier=st.sampled_from(TIERS))
    def escalates(self, tier: Tier) -> None:
        allowed = self.status is not CLOSED and TIERS.index(tier) > TIERS.index(self.tier)
        self._expect(
            lambda t: commands.escalate(t, tier, AGENT, self.now), refused=not allowed, changes=allowed
        )
        if allowed:
            self.tier = tier

    @rule()
    def auto_close_runs(self) -> None:
        due = (
            self.status is SOLVED and self.solved_at is not None and self.solved_at + CLOSE_AFTER <= self.now
        )
        self._expect(
            lambda t: commands.auto_close(t, self.now, CLOSE_AFTER),
            refused=not due,
            changes=due,
            to=CLOSED if due else None,
        )

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert self.ticket.status is self.status
        assert self.ticket.version == self.version
        assert self.ticket.reopen_count == self.reopens
        assert self.ticket.tier is self.tier

    @invariant()
    def new_never_returns(self) -> None:
        if self.left_new:
            assert self.ticket.status is not NEW

    @invariant()
    def closed_never_changes(self) -> None:
        if self.closed is not None:
            assert self.ticket == self.closed

    @invariant()
    def solved_at_iff_solved_or_closed(self) -> None:
        assert (self.ticket.solved_at is not None) == (self.ticket.status in (SOLVED, CLOSED))
        assert self.ticket.solved_at == self.solved_at or self.status is CLOSED

    @invariant()
    def first_reply_stays(self) -> None:
        assert self.ticket.first_agent_reply_at == self.first_reply


TicketLifecycle.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_ticket_lifecycle = TicketLifecycle.TestCase
