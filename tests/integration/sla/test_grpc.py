"""The SLA gRPC API (helpline.v1.SlaService) on a real gRPC server with API-key auth, over the
service's ticket metrics and configuration on the real Redis, with a clock the tests move; and
grpcurl finding it through reflection. Two tenants each hold a key; neither reaches the other's
tickets, policies or calendars.

The calendar: Monday to Friday 09:00-12:00 and 13:00-17:00 Europe/London, which is on GMT (UTC)
in early March; tickets are created at the clock's start, Tuesday 4 March 2031 09:00."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
import redis

from helpline.auth import ApiKeyStore
from helpline.business_hours import Calendar, Holiday, OpenInterval
from helpline.clock import FakeClock
from helpline.grpc import build_grpc_server, stop_grpc_server
from helpline.v1 import common_pb2
from helpline.v1 import sla_service_pb2 as pb
from helpline.v1.sla_service_pb2_grpc import SlaServiceStub
from services.sla.api.convert_config import calendar_from_proto, policy_from_proto
from services.sla.api.grpc import SERVICE_NAME, registration
from services.sla.config import SlaConfig
from services.sla.domain.engine import Commented, Created, StatusChanged
from services.sla.domain.model import (
    Author,
    Basis,
    Department,
    Metric,
    MoveToGroup,
    MoveToTier,
    Notify,
    Priority,
    RaisePriority,
    Status,
    TicketFacts,
    Tier,
    Trigger,
)
from services.sla.domain.policy import Conditions, Escalation, Policy, Target
from services.sla.store import SlaStore
from services.sla.ticket_slas import TicketSlas
from tests.integration.api_checks import refused

GRPCURL = Path(__file__).resolve().parents[3] / ".tools" / "bin" / "grpcurl"
OFFICE = Calendar(
    "office",
    "London office",
    "Europe/London",
    tuple(
        OpenInterval.parse(day, opens, closes)
        for day in range(5)
        for opens, closes in (("09:00", "12:00"), ("13:00", "17:00"))
    ),
    holiday_countries=("GB",),
    holidays=(Holiday.parse("2031-12-24", "Christmas Eve"),),
)
STANDARD = Policy(
    "std",
    "Standard",
    10,
    Conditions(
        priorities=frozenset({Priority.NORMAL, Priority.HIGH}),
        types=frozenset({"incident"}),
        channels=frozenset({"email", "web_form"}),
        departments=frozenset({Department.SUPPORT}),
        tags=frozenset({"vip"}),
    ),
    (
        Target(Metric.FIRST_REPLY, Priority.NORMAL, timedelta(hours=4), Basis.BUSINESS),
        Target(Metric.REQUESTER_WAIT, Priority.NORMAL, timedelta(hours=24), Basis.CALENDAR),
    ),
    "office",
    warn_percent=50,
    escalations=(
        Escalation(
            Metric.FIRST_REPLY,
            Trigger.BREACH,
            (
                RaisePriority(Priority.URGENT),
                MoveToGroup("leads"),
                MoveToTier(Tier.L2),
                Notify(("mailto:lead@example.com",), "breach"),
            ),
        ),
    ),
)
FACTS = TicketFacts(Priority.NORMAL, "incident", "email", Department.SUPPORT, frozenset({"vip"}))


def utc(hour: int, minute: int = 0) -> datetime:
    return datetime(2031, 3, 4, hour, minute, tzinfo=UTC)


@dataclass(frozen=True)
class Served:
    stub: SlaServiceStub
    port: int


@dataclass(frozen=True)
class Caller:
    tenant: str
    api_key: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("x-api-key", self.api_key),)


@contextmanager
def serving(tickets: TicketSlas, keys: ApiKeyStore, clock: FakeClock) -> Iterator[Served]:
    """SlaService on a free local port, with the API-key auth every service runs."""
    server, port, health = build_grpc_server(
        port=0, services=[SERVICE_NAME], auth=keys, register=[registration(lambda: tickets, clock)]
    )
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Served(SlaServiceStub(channel), port)
    finally:
        channel.close()
        stop_grpc_server(server, health, grace=1)


def key_for(keys: ApiKeyStore, tenant: str) -> Caller:
    return Caller(tenant, keys.create(tenant, "desk")[1])


@pytest.fixture
def keys(redis_client: redis.Redis, unique: str) -> ApiKeyStore:
    return ApiKeyStore(redis_client, pepper=unique)


@pytest.fixture
def tickets(store: SlaStore) -> TicketSlas:
    return TicketSlas(store, SlaConfig(store))


@pytest.fixture
def served(tickets: TicketSlas, keys: ApiKeyStore, clock: FakeClock) -> Iterator[Served]:
    with serving(tickets, keys, clock) as running:
        yield running


@pytest.fixture
def stub(served: Served) -> SlaServiceStub:
    return served.stub


@pytest.fixture
def a(keys: ApiKeyStore, tenant: str, tickets: TicketSlas) -> Caller:
    """The tenant with the London office calendar and the standard policy."""
    tickets.config.put_calendar(tenant, OFFICE)
    tickets.config.put_policy(tenant, STANDARD)
    return key_for(keys, tenant)


@pytest.fixture
def b(keys: ApiKeyStore, unique: str) -> Caller:
    return key_for(keys, f"o{unique}")


def create(tickets: TicketSlas, tenant: str, ticket_id: str, at: datetime) -> None:
    tickets.apply(tenant, ticket_id, lambda _: Created(ticket_id, 1, FACTS, Status.NEW, at))


def status(stub: SlaServiceStub, caller: Caller, ticket_id: str) -> dict[str, pb.SlaMetricStatus]:
    """The ticket's metrics by metric name (each ticket here has one instance of each)."""
    answer = stub.GetTicketSlaStatus(
        pb.GetTicketSlaStatusRequest(ticket_id=ticket_id), metadata=caller.metadata, timeout=10
    )
    assert (answer.ticket_id, answer.policy_id) == (ticket_id, "std")
    return {common_pb2.SlaMetric.Name(m.metric): m for m in answer.metrics}


# -- a ticket's status -----------------------------------------------------------------------------


def test_a_tickets_metrics_carry_deadlines_and_business_time_left(
    tickets: TicketSlas, clock: FakeClock, stub: SlaServiceStub, a: Caller
) -> None:
    create(tickets, a.tenant, "T-1", clock.now())
    clock.advance(timedelta(hours=1, minutes=30))  # 10:30

    metrics = status(stub, a, "T-1")
    assert list(metrics) == ["SLA_METRIC_FIRST_REPLY", "SLA_METRIC_REQUESTER_WAIT", "SLA_METRIC_AGENT_WORK"]
    first = metrics["SLA_METRIC_FIRST_REPLY"]
    assert (first.instance_id, first.state, first.policy_id) == (
        "T-1:first_reply:1",
        pb.SLA_METRIC_STATE_ACTIVE,
        "std",
    )
    assert (first.target.ToTimedelta(), first.time_basis) == (
        timedelta(hours=4),
        common_pb2.SLA_TIME_BASIS_BUSINESS,
    )
    # 4 business hours from 09:00: 09:00-12:00, then 13:00-14:00 after lunch; the warning at half.
    assert first.started_at.ToDatetime(tzinfo=UTC) == utc(9)
    assert (first.warn_at.ToDatetime(tzinfo=UTC), first.deadline.ToDatetime(tzinfo=UTC)) == (utc(11), utc(14))
    assert first.remaining.ToTimedelta() == timedelta(hours=2, minutes=30)
    assert not first.HasField("fulfilled_at")
    assert not first.HasField("breached_at")
    wait = metrics["SLA_METRIC_REQUESTER_WAIT"]
    assert (wait.time_basis, wait.deadline.ToDatetime(tzinfo=UTC)) == (
        common_pb2.SLA_TIME_BASIS_CALENDAR,
        utc(9) + timedelta(days=1),
    )
    assert wait.remaining.ToTimedelta() == timedelta(hours=22, minutes=30)
    # No target for agent_work: tracked, nothing due.
    work = metrics["SLA_METRIC_AGENT_WORK"]
    assert (work.state, work.policy_id, work.time_basis) == (
        pb.SLA_METRIC_STATE_ACTIVE,
        "",
        common_pb2.SLA_TIME_BASIS_UNSPECIFIED,
    )
    assert not any(work.HasField(name) for name in ("target", "remaining", "warn_at", "deadline"))

    tickets.apply(a.tenant, "T-1", lambda _: StatusChanged(2, Status.PENDING, clock.now()))
    clock.advance(timedelta(hours=5))  # 15:30
    metrics = status(stub, a, "T-1")
    # first_reply never pauses, and 3 + 2.5 business hours have passed: past the deadline, it reads
    # breached before its breach timer has fired.
    first = metrics["SLA_METRIC_FIRST_REPLY"]
    assert (first.state, first.remaining.ToTimedelta()) == (
        pb.SLA_METRIC_STATE_BREACHED,
        -timedelta(hours=1, minutes=30),
    )
    # requester_wait is paused while pending: its time left is frozen and nothing is due.
    wait = metrics["SLA_METRIC_REQUESTER_WAIT"]
    assert (wait.state, wait.remaining.ToTimedelta()) == (
        pb.SLA_METRIC_STATE_PAUSED,
        timedelta(hours=22, minutes=30),
    )
    assert not wait.HasField("deadline")
    assert metrics["SLA_METRIC_AGENT_WORK"].state == pb.SLA_METRIC_STATE_PAUSED

    # The late reply fulfils first_reply; it stays breached, at its deadline.
    tickets.apply(a.tenant, "T-1", lambda _: Commented(3, True, Author.AGENT, clock.now()))
    clock.advance(timedelta(hours=1))
    first = status(stub, a, "T-1")["SLA_METRIC_FIRST_REPLY"]
    assert (first.state, first.remaining.ToTimedelta()) == (
        pb.SLA_METRIC_STATE_BREACHED,
        -timedelta(hours=1, minutes=30),
    )
    assert (first.fulfilled_at.ToDatetime(tzinfo=UTC), first.breached_at.ToDatetime(tzinfo=UTC)) == (
        utc(15, 30),
        utc(14),
    )


def test_a_reply_in_time_leaves_first_reply_fulfilled_with_its_time_left(
    tickets: TicketSlas, clock: FakeClock, stub: SlaServiceStub, a: Caller
) -> None:
    create(tickets, a.tenant, "T-2", clock.now())
    tickets.apply(a.tenant, "T-2", lambda _: Commented(2, True, Author.AGENT, utc(10)))
    clock.advance(timedelta(hours=8))
    first = status(stub, a, "T-2")["SLA_METRIC_FIRST_REPLY"]
    assert (first.state, first.remaining.ToTimedelta()) == (pb.SLA_METRIC_STATE_FULFILLED, timedelta(hours=3))
    assert first.fulfilled_at.ToDatetime(tzinfo=UTC) == utc(10)
    assert not first.HasField("breached_at")


def test_a_metric_counting_a_deleted_calendar_is_a_failed_precondition(
    tickets: TicketSlas, clock: FakeClock, stub: SlaServiceStub, a: Caller
) -> None:
    create(tickets, a.tenant, "T-3", clock.now())
    tickets.config.delete_calendar(a.tenant, "office")
    request = pb.GetTicketSlaStatusRequest(ticket_id="T-3")
    refused(
        lambda: stub.GetTicketSlaStatus(request, metadata=a.metadata, timeout=10),
        grpc.StatusCode.FAILED_PRECONDITION,
        "unknown_calendar",
    )


# -- policies and calendars ------------------------------------------------------------------------


def test_policies_are_listed_in_evaluation_order_a_page_at_a_time(
    tickets: TicketSlas, stub: SlaServiceStub, a: Caller
) -> None:
    for policy_id, position in (("late", 20), ("first", -1), ("also-late", 20)):
        tickets.config.put_policy(a.tenant, Policy(policy_id, policy_id, position, Conditions(), (), ""))

    def listed(size: int, token: str = "") -> pb.ListPoliciesResponse:
        request = pb.ListPoliciesRequest(page_size=size, page_token=token)
        return stub.ListPolicies(request, metadata=a.metadata, timeout=10)

    first = listed(2)
    assert [p.policy_id for p in first.policies] == ["first", "std"]
    assert first.next_page_token
    second = listed(2, first.next_page_token)
    assert ([p.policy_id for p in second.policies], second.next_page_token) == (["also-late", "late"], "")
    everything = listed(0)
    assert ([p.policy_id for p in everything.policies], everything.next_page_token) == (
        ["first", "std", "also-late", "late"],
        "",
    )

    std = first.policies[1]
    assert (std.name, std.position, std.calendar_id, std.warn_percent) == ("Standard", 10, "office", 50)
    assert list(std.conditions.priorities) == [common_pb2.PRIORITY_NORMAL, common_pb2.PRIORITY_HIGH]
    assert list(std.conditions.channels) == [common_pb2.CHANNEL_EMAIL, common_pb2.CHANNEL_WEB_FORM]
    assert list(std.conditions.types) == [common_pb2.TICKET_TYPE_INCIDENT]
    assert [(t.metric, t.target.ToTimedelta()) for t in std.targets] == [
        (common_pb2.SLA_METRIC_FIRST_REPLY, timedelta(hours=4)),
        (common_pb2.SLA_METRIC_REQUESTER_WAIT, timedelta(hours=24)),
    ]
    breach = std.escalations[0]
    assert (breach.trigger, [action.WhichOneof("kind") for action in breach.actions]) == (
        pb.SLA_ESCALATION_TRIGGER_BREACH,
        ["raise_priority", "move_to_group", "move_to_tier", "notify"],
    )
    assert policy_from_proto(std) == STANDARD

    md = a.metadata
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    bad_token = pb.ListPoliciesRequest(page_token="not-a-token")
    refused(lambda: stub.ListPolicies(bad_token, metadata=md, timeout=10), invalid, "invalid_page_token")
    negative = pb.ListPoliciesRequest(page_size=-1)
    refused(lambda: stub.ListPolicies(negative, metadata=md, timeout=10), invalid, "invalid_page_size")


def test_a_calendar_reads_as_the_contract_spells_it(stub: SlaServiceStub, a: Caller) -> None:
    found = stub.GetCalendar(pb.GetCalendarRequest(calendar_id="office"), metadata=a.metadata, timeout=10)
    calendar = found.calendar
    assert (calendar.calendar_id, calendar.name, calendar.time_zone) == (
        "office",
        "London office",
        "Europe/London",
    )
    # The contract counts weekdays from MONDAY = 1; the domain from Monday = 0.
    assert [(i.weekday, i.opens, i.closes) for i in calendar.open_intervals[:3]] == [
        (pb.WEEKDAY_MONDAY, "09:00", "12:00"),
        (pb.WEEKDAY_MONDAY, "13:00", "17:00"),
        (pb.WEEKDAY_TUESDAY, "09:00", "12:00"),
    ]
    assert calendar.open_intervals[-1].weekday == pb.WEEKDAY_FRIDAY
    assert (list(calendar.holiday_countries), calendar.holidays[0].date) == (["GB"], "2031-12-24")
    assert calendar_from_proto(calendar) == OFFICE


def test_unknown_tickets_and_calendars_are_not_found_and_ids_required(
    stub: SlaServiceStub, a: Caller
) -> None:
    md = a.metadata
    not_found = grpc.StatusCode.NOT_FOUND
    unknown_ticket = pb.GetTicketSlaStatusRequest(ticket_id="nope")
    refused(
        lambda: stub.GetTicketSlaStatus(unknown_ticket, metadata=md, timeout=10),
        not_found,
        "ticket_not_found",
    )
    unknown_calendar = pb.GetCalendarRequest(calendar_id="nope")
    refused(
        lambda: stub.GetCalendar(unknown_calendar, metadata=md, timeout=10), not_found, "calendar_not_found"
    )
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    refused(
        lambda: stub.GetTicketSlaStatus(pb.GetTicketSlaStatusRequest(), metadata=md), invalid, "missing_field"
    )
    refused(lambda: stub.GetCalendar(pb.GetCalendarRequest(), metadata=md), invalid, "missing_field")


def test_another_tenant_sees_nothing_of_the_first(
    tickets: TicketSlas, clock: FakeClock, stub: SlaServiceStub, a: Caller, b: Caller
) -> None:
    create(tickets, a.tenant, "T-1", clock.now())
    not_found = grpc.StatusCode.NOT_FOUND
    ticket = pb.GetTicketSlaStatusRequest(ticket_id="T-1")
    refused(
        lambda: stub.GetTicketSlaStatus(ticket, metadata=b.metadata, timeout=10),
        not_found,
        "ticket_not_found",
    )
    office = pb.GetCalendarRequest(calendar_id="office")
    refused(
        lambda: stub.GetCalendar(office, metadata=b.metadata, timeout=10), not_found, "calendar_not_found"
    )
    theirs = stub.ListPolicies(pb.ListPoliciesRequest(), metadata=b.metadata, timeout=10)
    assert (list(theirs.policies), theirs.next_page_token) == ([], "")


def test_a_call_without_a_key_is_unauthenticated(stub: SlaServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.ListPolicies(pb.ListPoliciesRequest(), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as unknown:
        stub.GetCalendar(
            pb.GetCalendarRequest(calendar_id="office"), metadata=(("x-api-key", "nope"),), timeout=10
        )
    assert unknown.value.code() == grpc.StatusCode.UNAUTHENTICATED


# -- grpcurl ---------------------------------------------------------------------------------------


def grpcurl(api_key: str, *args: str) -> str:
    # A missing tool is a broken setup, not a reason to skip: the API's "done" depends on it.
    if not GRPCURL.is_file():
        pytest.fail(f"{GRPCURL} is missing: run scripts/install_grpcurl.sh (make deps does)")
    done = subprocess.run(
        [str(GRPCURL), "-plaintext", "-H", f"x-api-key: {api_key}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_grpcurl_finds_the_service_through_reflection_and_calls_it(
    tickets: TicketSlas, clock: FakeClock, served: Served, a: Caller
) -> None:
    create(tickets, a.tenant, "T-1", clock.now())
    address = f"127.0.0.1:{served.port}"
    assert SERVICE_NAME in grpcurl(a.api_key, address, "list").split()
    assert "rpc GetTicketSlaStatus" in grpcurl(a.api_key, address, "describe", SERVICE_NAME)

    calendar = json.loads(
        grpcurl(a.api_key, "-d", '{"calendar_id": "office"}', address, f"{SERVICE_NAME}/GetCalendar")
    )
    assert calendar["calendar"]["open_intervals"][0] == {
        "weekday": "WEEKDAY_MONDAY",
        "opens": "09:00",
        "closes": "12:00",
    }
    answer = json.loads(
        grpcurl(a.api_key, "-d", '{"ticket_id": "T-1"}', address, f"{SERVICE_NAME}/GetTicketSlaStatus")
    )
    first = answer["metrics"][0]
    assert (first["metric"], first["state"], first["deadline"], first["remaining"]) == (
        "SLA_METRIC_FIRST_REPLY",
        "SLA_METRIC_STATE_ACTIVE",
        "2031-03-04T14:00:00Z",
        "14400s",
    )
