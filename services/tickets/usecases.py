"""The tickets service's use cases: load, decide (the pure domain), commit (the store), retrying
a lost race when the caller did not pin a version. REST, gRPC and the event consumers all go
through here, so every interface behaves the same."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from google.protobuf.message import Message

from helpline.audit import Action, Kind, audit_record, configuration_changed
from helpline.auth import current_actor
from helpline.clock import Clock
from helpline.domain import NotFoundError, new_id
from helpline.optimistic import retry_on_conflict
from services.tickets.domain import commands
from services.tickets.domain.model import Actor, Comment, Status, Ticket
from services.tickets.domain.survey_settings import DEFAULT_SETTINGS, SurveyAsk, SurveyMark, SurveySettings
from services.tickets.store import (
    SOURCE,
    CommentPage,
    CreateResult,
    ListFilter,
    Page,
    SurveyMarkTakenError,
    TicketStore,
    VersionConflictError,
)

# The audit trail's object id of a tenant's survey settings: one object per tenant.
SURVEY_SETTINGS_ID = "surveys"


class Decision(Protocol):
    """What a domain command returns (services.tickets.domain.commands.Outcome)."""

    @property
    def ticket(self) -> Ticket: ...

    @property
    def events(self) -> tuple[Message, ...]: ...

    @property
    def comment(self) -> Comment | None: ...

    @property
    def follow_up(self) -> Ticket | None: ...

    @property
    def survey_mark(self) -> SurveyMark | None: ...


class PreconditionFailedError(Exception):
    """The caller's If-Match (expected version) is not the ticket's version."""

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(f"expected version {expected}, the ticket is at version {current}")
        self.expected = expected
        self.current = current


@dataclass(frozen=True)
class Changed:
    ticket: Ticket
    comment: Comment | None = None
    follow_up: Ticket | None = None


class Tickets:
    def __init__(self, store: TicketStore, clock: Clock, close_after: timedelta) -> None:
        self.store = store
        self.clock = clock
        self.close_after = close_after

    def get(self, tenant: str, ticket_id: str) -> Ticket:
        ticket = self.store.get(tenant, ticket_id)
        if ticket is None:
            raise NotFoundError("ticket", ticket_id)
        return ticket

    def comments(self, tenant: str, ticket_id: str, *, page_size: int, cursor: str = "") -> CommentPage:
        """A page of the ticket's comments, oldest first, and the cursor of the next."""
        self.get(tenant, ticket_id)
        return self.store.comment_page(tenant, ticket_id, page_size=page_size, cursor=cursor)

    def find_comment(self, tenant: str, ticket_id: str, comment_id: str) -> Comment | None:
        """One comment by its id; None when the ticket has no such comment (or is no ticket)."""
        return self.store.comment(tenant, ticket_id, comment_id)

    def list_tickets(
        self, tenant: str, filters: ListFilter, *, page_size: int, cursor: str, descending: bool
    ) -> Page:
        return self.store.list_tickets(
            tenant, filters, page_size=page_size, cursor=cursor, descending=descending
        )

    def create(
        self, decide: Callable[[str, datetime], Decision], *, idempotency_key: str = "", fingerprint: str = ""
    ) -> CreateResult:
        decision = decide(new_id(), self.clock.now())
        return self.store.create(
            decision.ticket,
            decision.events,
            comment=decision.comment,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
        )

    def change(
        self,
        tenant: str,
        ticket_id: str,
        decide: Callable[[Ticket, datetime], Decision],
        expected_version: int | None = None,
    ) -> Changed:
        """Apply a command. With `expected_version` (If-Match) a stale ticket is a 412; without it a
        lost race is decided again on the fresh ticket."""

        def attempt() -> Changed:
            current = self.get(tenant, ticket_id)
            if expected_version is not None and current.version != expected_version:
                raise PreconditionFailedError(expected_version, current.version)
            decision = decide(current, self.clock.now())
            if decision.follow_up is not None:
                self.store.create(decision.follow_up, decision.events, comment=decision.comment)
                return Changed(current, decision.comment, decision.follow_up)
            if decision.ticket is current or decision.ticket.version == current.version:
                return Changed(current)
            try:
                self.store.commit(
                    current, decision.ticket, decision.events, decision.comment, decision.survey_mark
                )
            except VersionConflictError as conflict:
                if expected_version is not None:
                    raise PreconditionFailedError(expected_version, conflict.current) from conflict
                raise
            return Changed(decision.ticket, decision.comment)

        # A survey mark another solve set first is no change of the ticket: deciding again, on the
        # mark now set, leaves the survey out, If-Match or not.
        return retry_on_conflict(
            attempt, f"ticket {ticket_id}", conflict=(VersionConflictError, SurveyMarkTakenError)
        )

    def transition(
        self, tenant: str, ticket_id: str, to: Status, actor: Actor, expected_version: int | None = None
    ) -> Changed:
        """Move a ticket to `to` as `actor`. A solve asks the requester for feedback as the
        tenant's survey settings say (domain.survey_settings), REST and gRPC alike."""
        survey_id = new_id() if to is Status.SOLVED else ""
        settings = self.store.survey_settings(tenant)[0] if survey_id else DEFAULT_SETTINGS

        def decide(ticket: Ticket, now: datetime) -> Decision:
            survey = None
            if survey_id:
                marked = bool(
                    settings.kinds
                    and settings.throttle_days
                    and ticket.requester_id
                    and self.store.survey_marked(tenant, ticket.requester_id)
                )
                survey = SurveyAsk(survey_id, settings, marked)
            return commands.transition(ticket, to, actor, now, survey=survey)

        return self.change(tenant, ticket_id, decide, expected_version)

    def survey_settings(self, tenant: str) -> SurveySettings:
        return self.store.survey_settings(tenant)[0]

    def put_survey_settings(self, tenant: str, settings: SurveySettings) -> SurveySettings:
        """Replace the tenant's survey settings, with their audit event in the same write."""

        def attempt() -> SurveySettings:
            _, before = self.store.survey_settings(tenant)
            change = configuration_changed(
                tenant,
                Kind.SURVEY_SETTINGS,
                SURVEY_SETTINGS_ID,
                Action.PUT,
                (before, before + 1),
                self.clock.now(),
                current_actor(),
            )
            self.store.put_survey_settings(tenant, settings, before, [audit_record(change, SOURCE)])
            return settings

        return retry_on_conflict(attempt, "survey settings", conflict=VersionConflictError)
