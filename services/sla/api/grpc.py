"""The SLA gRPC API, `helpline.v1.SlaService`: a ticket's SLA status, the tenant's policies in
evaluation order a page at a time, and one calendar.

Every RPC answers for the tenant of the caller's API key; another tenant's ticket or calendar is
simply not found. Refusals become status codes in one place (`_refusal`), and every status's
details start with the rule that refused, e.g. `calendar_not_found: no calendar berlin`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import grpc

from helpline.auth import current_tenant
from helpline.clock import Clock
from helpline.domain import DomainError, NotFoundError, duration, enum_map, timestamp
from helpline.grpc import Refusal, answers_refusals
from helpline.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, page
from helpline.v1 import sla_service_pb2 as pb
from helpline.v1 import sla_service_pb2_grpc
from services.sla.api.convert_config import calendar_proto, policy_proto
from services.sla.api.order import policy_order
from services.sla.domain import engine
from services.sla.domain.convert import BASIS_TO_PROTO, metric_proto
from services.sla.domain.engine import MetricState, MetricStatus
from services.sla.ticket_slas import TicketSlas

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SlaService"].full_name
STATE_TO_PROTO = enum_map(MetricState, pb.SlaMetricState, "SLA_METRIC_STATE_")


class _InvalidRequestError(DomainError):
    """A request the API cannot serve as sent."""


# -- refusals as status codes ------------------------------------------------------------------


def _refusal(exc: Exception) -> Refusal | None:
    """The status of an exception raised on purpose; None for anything else (a bug or an outage),
    which gRPC reports as UNKNOWN with the exception logged."""
    if isinstance(exc, _InvalidRequestError):
        return Refusal(grpc.StatusCode.INVALID_ARGUMENT, exc.rule, exc.message)
    if isinstance(exc, NotFoundError):
        return Refusal(grpc.StatusCode.NOT_FOUND, f"{exc.kind}_not_found", str(exc))
    if isinstance(exc, DomainError):
        # The stored state cannot be read as asked, e.g. a metric counts the business hours of a
        # calendar since deleted: it can be once the calendar exists again.
        return Refusal(grpc.StatusCode.FAILED_PRECONDITION, exc.rule, exc.message)
    return None


_answers_refusals = answers_refusals(_refusal)


# -- requests and responses ------------------------------------------------------------------------


def _required(value: str, name: str) -> str:
    if not value.strip():
        raise _InvalidRequestError("missing_field", f"{name} is required", field=name)
    return value


def _page_size(requested: int) -> int:
    if requested < 0:
        raise _InvalidRequestError("invalid_page_size", f"page_size {requested} is negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _metric_status(reading: MetricStatus) -> pb.SlaMetricStatus:
    instance = reading.instance
    message = pb.SlaMetricStatus(
        metric=metric_proto(instance.metric),
        instance_id=instance.instance_id,
        state=STATE_TO_PROTO[reading.state],
        started_at=timestamp(instance.started_at),
    )
    terms = instance.terms
    if terms is not None:
        message.policy_id = terms.policy_id
        message.target.CopyFrom(duration(terms.target.duration))
        message.time_basis = BASIS_TO_PROTO[terms.target.basis]
    if reading.remaining is not None:
        message.remaining.CopyFrom(duration(reading.remaining))
    moments: dict[str, datetime | None] = {
        "warn_at": instance.warn_at,
        "deadline": instance.deadline,
        "fulfilled_at": instance.fulfilled_at,
        "breached_at": instance.breached_at,
    }
    for name, moment in moments.items():
        if moment is not None:
            getattr(message, name).CopyFrom(timestamp(moment))
    return message


# -- the service -----------------------------------------------------------------------------------


class SlaServicer(sla_service_pb2_grpc.SlaServiceServicer):
    def __init__(self, tickets: Callable[[], TicketSlas], clock: Clock) -> None:
        self._tickets = tickets
        self._clock = clock

    @_answers_refusals
    def GetTicketSlaStatus(  # noqa: N802 -- the generated base class names the methods after the RPCs
        self, request: pb.GetTicketSlaStatusRequest, context: grpc.ServicerContext
    ) -> pb.GetTicketSlaStatusResponse:
        tenant = current_tenant()
        ticket_id = _required(request.ticket_id, "ticket_id")
        tickets = self._tickets()
        sla = tickets.get(tenant, ticket_id)
        if sla is None:
            raise NotFoundError("ticket", ticket_id)
        readings = engine.status(sla, self._clock.now(), tickets.config.calendars(tenant))
        return pb.GetTicketSlaStatusResponse(
            ticket_id=sla.ticket_id,
            policy_id=sla.policy_id or "",
            metrics=[_metric_status(reading) for reading in readings],
        )

    @_answers_refusals
    def ListPolicies(  # noqa: N802
        self, request: pb.ListPoliciesRequest, context: grpc.ServicerContext
    ) -> pb.ListPoliciesResponse:
        tenant = current_tenant()
        size = _page_size(request.page_size)
        policies = self._tickets().config.policies(tenant)
        try:
            found = page(policies, policy_order, size, request.page_token)
        except ValueError as exc:
            raise _InvalidRequestError(
                "invalid_page_token", "page_token is not one this API returned"
            ) from exc
        return pb.ListPoliciesResponse(
            policies=[policy_proto(policy) for policy in found.items], next_page_token=found.next_cursor
        )

    @_answers_refusals
    def GetCalendar(  # noqa: N802
        self, request: pb.GetCalendarRequest, context: grpc.ServicerContext
    ) -> pb.GetCalendarResponse:
        tenant = current_tenant()
        calendar_id = _required(request.calendar_id, "calendar_id")
        calendar = self._tickets().config.calendar(tenant, calendar_id)
        if calendar is None:
            raise NotFoundError("calendar", calendar_id)
        return pb.GetCalendarResponse(calendar=calendar_proto(calendar))


def registration(tickets: Callable[[], TicketSlas], clock: Clock) -> Callable[[grpc.Server], None]:
    """What `ServiceRuntime.add_grpc` calls to add the servicer to its server; `clock` reads the
    moment `remaining` is counted to."""

    def register(server: grpc.Server) -> None:
        sla_service_pb2_grpc.add_SlaServiceServicer_to_server(SlaServicer(tickets, clock), server)

    return register
