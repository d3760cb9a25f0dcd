"""Plays a scenario's plan against a running stack through its real interfaces only: the customers
come in through the router's Kafka ingress (as the telephony, chat and bot gateways would), the
agents work from desktops on the router's gRPC API, and the survey requests the platform sends
through its webhooks are answered onto the feedback topic. What the simulated people did goes into
the ledger, the ground truth the platform's KPIs are held to.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict, TypeVar

import grpc
import httpx
from google.protobuf import json_format

from helpline.bus import make_producer, send
from helpline.events import registry
from helpline.ingress_signing import IngressKey
from helpline.kafka.port import Delivery, DeliveryError
from helpline.logging import get_logger
from helpline.records import OutgoingRecord
from helpline.v1 import (
    common_pb2,
    contact_events_pb2,
    router_service_pb2_grpc,
    ticket_events_pb2,
    ticket_service_pb2_grpc,
)
from helpline.v1 import router_service_pb2 as pb
from helpline.v1 import ticket_service_pb2 as ticket_pb
from simulator.alerts import SlaAlerts
from simulator.clock import SimClock
from simulator.closings import AfterHours
from simulator.desktop import Desktop, WaitingTicket
from simulator.floor import Floor
from simulator.gateway import CHANNELS, INGRESS, Gateway
from simulator.keys import RunKeys
from simulator.model import HOUR_S
from simulator.plan import PlannedContact, plan_contacts, plan_number, stream
from simulator.retry import RefusedError, answered
from simulator.scenario import Scenario
from simulator.setup import (
    SetupError,
    agent_ids,
    configure_calendars,
    configure_router,
    configure_sla,
    configure_surveys,
    run_start,
)
from simulator.truth import survey_answers
from simulator.webhooks import Inbox, Receiver, subscribe, unsubscribe

log = get_logger(__name__)

# How often the live view is redrawn and the producer's acks are checked, in wall-clock seconds.
TICK_S = 0.5
# Simulated seconds after queueing that the IVR tells a caller the expected wait.
IVR_S = 5.0
# Channels whose customers can hang up while queued, as the router takes it (a bot escalation is a chat).
ABANDONING = frozenset({"voice", "chat", "bot"})
RPC_TIMEOUT_S = 10.0
# How far ahead of its PUTs a run with hours of operation starts: time for the router to have the
# calendars laid on the run's start before its first contact.
CALENDAR_LEAD_S = 2.0
# How long the run waits at its end for Kafka's acks: longer than the client keeps trying a record
# (120 s on either backend of helpline.kafka), so each is acked or refused by then.
FLUSH_S = 150.0
# How long the run waits at its end for the survey requests of the tickets it solved last: the
# tickets service's outbox, the notify service's consumer and its delivery take well under a second
# when all is well; a request later than this is missing.
SURVEY_WAIT_S = 60.0
SURVEY_REQUESTED = registry().type_of(ticket_events_pb2.TicketSurveyRequested())
Req = TypeVar("Req")
Resp = TypeVar("Resp")


class CallOptions(TypedDict):
    metadata: tuple[tuple[str, str], ...]
    timeout: float


def abandons(contact: PlannedContact) -> bool:
    return contact.channel in ABANDONING


class SimulationError(RuntimeError):
    """The platform refused or lost part of the run; the message says what."""


@dataclass(frozen=True)
class Connections:
    kafka_bootstrap: str
    router_http: str
    router_grpc: str
    keys: RunKeys
    # The tenant's ingress secret, which the simulated gateways and survey tool sign with.
    ingress_key: IngressKey
    # Needed when the scenario has tickets: the SLA admin for their policy, the tickets API for them.
    sla_http: str = ""
    tickets_grpc: str = ""
    # The survey tool's, with tickets: the notify service's REST for the webhook that brings the
    # solved tickets' survey requests, the tickets service's for the tenant's survey settings.
    # Without notify the run answers no surveys (a benchmark that wants only the load runs so).
    notify_http: str = ""
    tickets_http: str = ""
    # Where the run's webhook receiver listens (port 0: a free one), and the URL the notify service
    # calls it at (empty: the listen address's, when it names one host).
    receiver_listen: str = "127.0.0.1:0"
    receiver_url: str = ""
    kafka_options: Mapping[str, Any] = field(default_factory=dict)


def new_run_id() -> str:
    return uuid.uuid4().hex[:6]


class Simulation:
    """One run of a scenario. `view` is called every tick with the floor, for a live display."""

    def __init__(
        self,
        scenario: Scenario,
        connections: Connections,
        run: str | None = None,
        view: Callable[[Simulation], None] | None = None,
        heartbeat: Path | None = None,
        survey_wait_s: float = SURVEY_WAIT_S,
    ) -> None:
        self.scenario = scenario
        self.connections = connections
        self.run_id = run or new_run_id()
        self.plan = plan_contacts(scenario, self.run_id)
        self.planned = {contact.contact_id: contact for contact in self.plan}
        self.survey_wait_s = survey_wait_s
        # The survey tool's receiver of the platform's survey requests, and its subscription: with
        # tickets only, since a survey follows a solved ticket.
        self.receiver: Receiver | None = None
        self.subscription = ""
        self.floor = Floor(planned=len(self.plan))
        self.gateway = Gateway(scenario, connections.ingress_key)
        self.clock = SimClock(scenario.speed)
        self.problems: list[str] = []
        self.closing = False
        self._closed = asyncio.Event()
        # Tickets an agent set pending or on hold, by the contact: the customer or a third party
        # answers later.
        self.waiting_tickets: dict[str, WaitingTicket] = {}
        self._configured = False
        self.view = view
        self._heartbeat = heartbeat
        self.ticket_of: dict[str, str] = {}
        # Set when a customer's wait is over: answered, or gone (hung up, or sent away by the run's
        # end), so a patient customer's coroutine ends with the wait.
        self._wait_over: dict[str, asyncio.Event] = {}
        self._finished: dict[str, asyncio.Event] = {}
        self._deliveries: list[Delivery] = []
        self._producer = make_producer(
            connections.kafka_bootstrap, "helpline-simulator", **connections.kafka_options
        )
        self.alerts = SlaAlerts(connections.kafka_bootstrap, scenario.tenant, connections.kafka_options)
        # The router's closed answers, with hours of operation only (the ingress being Kafka).
        self.closings = (
            None
            if scenario.minute_phase() is None
            else AfterHours(connections.kafka_bootstrap, scenario.tenant, connections.kafka_options)
        )
        # Contacts the closed action took while an agent was accepting their offer: over once the
        # accept is refused.
        self._closed_while_picked: dict[str, contact_events_pb2.ContactAfterHours] = {}
        # Callers the closed action gave a callback at the next opening, to the callback's id: the
        # caller's coroutine waits for it, as for one the caller chose.
        self._called_back_after_hours: dict[str, str] = {}

    @property
    def end_s(self) -> float:
        """Simulated seconds from the start to the last possible arrival."""
        return self.scenario.hours * HOUR_S

    def thresholds(self) -> dict[str, float]:
        """Each queue's service-level threshold on the wall clock, as the router was given it."""
        return {
            queue: self.scenario.real_s(self.scenario.queue_spec(queue).service_level_threshold_s)
            for queue in self.scenario.queue_channels()
        }

    def configure(self) -> None:
        """Put the scenario's queues and agents into the router and connect to Kafka. `run` does
        it first unless done already: a caller that waits for the platform to take the
        configuration in (as the end-to-end test does) calls it before."""
        with httpx.Client(base_url=self.connections.router_http, timeout=10) as client:
            configure_router(client, self.connections.keys.admin, self.scenario)
        given = self.connections
        if self.scenario.tickets is not None:
            if not (given.sla_http and given.tickets_grpc):
                raise SetupError("the scenario has tickets: name the SLA service's HTTP and the tickets gRPC")
            with httpx.Client(base_url=given.sla_http, timeout=10) as client:
                configure_sla(client, given.keys.admin, self.scenario)
        if self.scenario.tickets is not None and given.notify_http:
            if not given.tickets_http:
                raise SetupError("the survey tool sets the tenant's survey settings: name the tickets HTTP")
            with httpx.Client(base_url=given.tickets_http, timeout=10) as client:
                configure_surveys(client, given.keys.admin, self.scenario)
            self._subscribe()
        self._producer.prepare(INGRESS)
        self.alerts.start()
        if self.closings is not None:
            self.closings.start()
        self._configured = True

    def _lay_hours(self) -> datetime | None:
        """With hours of operation: the instant the run starts at, on the queues' minute phase and
        far enough ahead for the calendars laid on it to be written first (again, if the PUTs took
        longer than the lead)."""
        if self.closings is None:
            return None
        while True:
            start = run_start(self.scenario, SimClock.wall() + timedelta(seconds=CALENDAR_LEAD_S))
            with httpx.Client(base_url=self.connections.router_http, timeout=10) as client:
                configure_calendars(client, self.connections.keys.admin, self.scenario, start)
            if SimClock.wall() < start:
                return start

    def _subscribe(self) -> None:
        """The survey tool's receiver, listening, and subscribed to the tenant's survey requests."""
        given = self.connections
        self.receiver = Receiver(given.receiver_listen, Inbox(self._webhook, self.problem))
        url = self.receiver.url(given.receiver_url)
        with httpx.Client(base_url=given.notify_http, timeout=10) as client:
            self.subscription, self.receiver.inbox.secret = subscribe(
                client, given.keys.admin, url, [SURVEY_REQUESTED]
            )

    def _unsubscribe(self) -> None:
        if not self.subscription:
            return
        try:
            with httpx.Client(base_url=self.connections.notify_http, timeout=10) as client:
                unsubscribe(client, self.connections.keys.admin, self.subscription)
        except (httpx.HTTPError, SetupError) as exc:
            # The next run on the tenant removes it; failing here must not hide how the run ended.
            log.warning("the run's webhook subscription was not removed", error=str(exc))
        self.subscription = ""

    async def run(self) -> Floor:
        """Configure the router, play the plan, let the queues drain, send the agents home."""
        if not self._configured:
            await asyncio.to_thread(self.configure)
        # A channel connects on its first call: without tickets, the tickets one never does.
        async with (
            grpc.aio.insecure_channel(self.connections.router_grpc) as channel,
            grpc.aio.insecure_channel(
                self.connections.tickets_grpc or self.connections.router_grpc
            ) as tickets,
        ):
            self.stub = router_service_pb2_grpc.RouterServiceStub(channel)
            self.tickets = ticket_service_pb2_grpc.TicketServiceStub(tickets)
            self.clock = SimClock(self.scenario.speed, await asyncio.to_thread(self._lay_hours))
            if self.closings is not None:
                self.closings.deliver((asyncio.get_running_loop(), self._closed_out))
            await self.clock.until(0.0)
            leave = asyncio.Event()
            desks = [
                Desktop(self, agent_id, group, index / group.count)
                for group in self.scenario.agents
                for index, agent_id in enumerate(agent_ids(group))
            ]
            ticker = asyncio.create_task(self._tick())
            agents = [asyncio.create_task(desk.work(leave)) for desk in desks]
            if self.receiver is not None:
                await self.receiver.start()
            try:
                customers = await self._arrivals()
                await self._drain(customers)
                leave.set()
                await asyncio.gather(*agents)
                await self._last_surveys()
            finally:
                leave.set()
                for task in (*agents, ticker):
                    task.cancel()
                await asyncio.gather(*agents, ticker, return_exceptions=True)
                await self._close_floor(desks)
                if self.closings is not None:
                    self.closings.deliver(None)
                if self.receiver is not None:
                    await self.receiver.stop()
        await asyncio.to_thread(self._producer.flush, FLUSH_S)
        self._check_deliveries()
        self._show()
        return self.floor

    async def _last_surveys(self) -> None:
        """Wait for the survey requests of the tickets solved last, at most `survey_wait_s`; a
        solved ticket whose request has not come by then is a problem of the run."""
        if self.receiver is None:
            return
        ledger = self.floor.ledger
        deadline = time.monotonic() + self.survey_wait_s
        while missing := ledger.solved_tickets() - set(ledger.survey_requests()):
            if time.monotonic() >= deadline:
                self.problem(
                    f"no survey request came for {len(missing)} solved tickets: {sorted(missing)[:5]}"
                )
                return
            await asyncio.sleep(TICK_S)

    def _webhook(self, event_type: str, data: Mapping[str, Any]) -> None:
        """A delivery the receiver verified: a survey request, which the customer answers with the
        plan's answers for the ticket's first contact, if the plan has them respond. A request for
        a ticket that is not the run's is refused (ValueError): the platform sent it astray."""
        if event_type != SURVEY_REQUESTED:
            raise ValueError(f"an event of type {event_type!r}, which the run did not subscribe to")
        try:
            request = json_format.ParseDict(
                dict(data), ticket_events_pb2.TicketSurveyRequested(), ignore_unknown_fields=True
            )
        except json_format.ParseError as exc:
            raise ValueError(f"a survey request that does not parse: {exc}") from exc
        ticket = self.floor.ledger.tickets.get(request.ticket_id)
        if request.tenant_id != self.scenario.tenant or ticket is None:
            raise ValueError(f"a survey request for ticket {request.ticket_id!r} of {request.tenant_id!r}")
        kinds = [
            common_pb2.SurveyKind.Name(kind).removeprefix("SURVEY_KIND_").lower() for kind in request.kinds
        ]
        ledger = self.floor.ledger
        if not ledger.survey_requested(
            request.survey_id, ticket.ticket_id, request.contact_id, kinds, self.clock.now()
        ):
            return
        self.floor.surveys_requested += 1
        contact = self.planned[ticket.contact_id]
        if contact.survey is None:
            return
        answers = survey_answers(kinds, contact.survey)
        for record in self.gateway.survey(request, answers, contact.queue_id, self.clock.wall()):
            self.publish(record)
        ledger.survey_answered(request.survey_id, answers)
        self.floor.surveys += 1

    async def _close_floor(self, desks: list[Desktop]) -> None:
        """Stopped early (Ctrl-C): the waiting callers and chatters hang up and the agents log off.
        A later run's agents reject what stays queued (its ids are not theirs)."""
        self.closing = True
        self._closed.set()
        self._leave_waiting()
        await asyncio.gather(*(desk.log_off() for desk in desks if desk.on_duty))

    async def _arrivals(self) -> list[asyncio.Task[None]]:
        customers = []
        for contact in self.plan:
            await self.clock.until(contact.at_s)
            customers.append(asyncio.create_task(self._customer(contact)))
        return customers

    async def _drain(self, customers: list[asyncio.Task[None]]) -> None:
        """Wait for the queues to empty, at most the drain time; then the run leaves the waiting
        (`_leave_waiting`)."""
        drain_s = self.scenario.real_s(self.scenario.drain_h * HOUR_S)
        if customers:
            await asyncio.wait(customers, timeout=max(0.0, drain_s))
        self.closing = True
        self._closed.set()
        self._leave_waiting()
        await asyncio.gather(*customers)

    def _leave_waiting(self) -> None:
        """The run ends for whoever still waits: a caller or chatter hangs up (an abandon on both
        sides); an email, message, post or callback stays queued in the platform, unanswered in
        the ledger too, and the run stops waiting for it."""
        for contact_id in self.floor.waiting():
            contact = self.floor.callers[contact_id].contact
            if abandons(contact):
                self.hang_up(contact)
            else:
                self.floor.left_unanswered(contact_id)
                self.done(contact_id)

    async def _customer(self, contact: PlannedContact) -> None:
        self.floor.arrived += 1
        self.floor.ledger.arrived(contact.contact_id, contact.channel)
        tickets = self.scenario.tickets
        if tickets is not None and contact.channel in tickets.channels:
            await self._open_ticket(contact)
        ticket_id = self.ticket_of.get(contact.contact_id, "")
        self.publish(self.gateway.arrival(contact, self.clock.wall(), ticket_id))
        if contact.bot != "none":
            started = self.clock.now()
            await self.clock.pause(contact.bot_s)
            talked = timedelta(seconds=self.clock.now() - started)
            self.publish(self.gateway.bot_outcome(contact, talked, self.clock.wall()))
            if contact.bot == "contained":
                self.floor.ledger.self_served(contact.contact_id)
                self.floor.finished += 1
                return
        await self._wait_in_queue(contact)

    async def _wait_in_queue(self, contact: PlannedContact) -> None:
        """Queued: answered, or gone at the end of their patience or for a callback; then, for a
        ticket the agent set pending, writing back."""
        over = self._wait_over[contact.contact_id] = asyncio.Event()
        finished = self._finished[contact.contact_id] = asyncio.Event()
        self.floor.queue(contact)
        channel = "chat" if contact.channel == "bot" else contact.channel
        self.floor.ledger.queued(contact.contact_id, contact.queue_id, channel, self.clock.now())
        patience_until = self.clock.now() + self.clock.real(contact.patience_s)
        load = self.scenario.channels.get(contact.channel)  # type: ignore[call-overload]
        if load is not None and load.callback_acceptance:
            # The IVR tells the caller the expected wait a moment after they queue.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(over.wait(), self.clock.real(IVR_S))
            if not over.is_set() and await self._called_back(contact, load.callback_acceptance):
                return
        # A customer who finds the queue closed hears so and waits for its closed action, not an
        # agent; the router's answer comes in a moment (`_closed_out`).
        closed = not self.scenario.is_open(contact.queue_id, self.clock.simulated())
        if math.isfinite(contact.patience_s) and not closed:
            try:
                await asyncio.wait_for(over.wait(), max(0.0, patience_until - self.clock.now()))
            except TimeoutError:
                if self.floor.out_of_patience(contact.contact_id):
                    self.hang_up(contact)
        await finished.wait()
        callback_id = self._called_back_after_hours.pop(contact.contact_id, None)
        if callback_id is not None:
            await self._finished[callback_id].wait()
        waiting = self.waiting_tickets.pop(contact.contact_id, None)
        if waiting is None:
            return
        if waiting.status == common_pb2.TICKET_STATUS_PENDING:
            await self._write_back(contact, waiting.ticket_id)
        else:
            await self._third_party_answers(contact, waiting)

    async def solve_ticket(
        self, ticket_id: str, contact: PlannedContact, agent_id: str, *, reopening: bool = False
    ) -> None:
        """Solved by the agent (opened first, from on hold), and closed at once for the share of
        customers who confirm it."""
        tickets = self.scenario.tickets
        assert tickets is not None  # only a scenario with tickets opens them
        if reopening:
            opened = ticket_pb.TransitionTicketRequest(
                ticket_id=ticket_id, to_status=common_pb2.TICKET_STATUS_OPEN
            )
            if await self.act(self.tickets.TransitionTicket, opened, agent_id) is None:
                return
        solve = ticket_pb.TransitionTicketRequest(
            ticket_id=ticket_id, to_status=common_pb2.TICKET_STATUS_SOLVED
        )
        solved = await self.act(self.tickets.TransitionTicket, solve, agent_id)
        if solved is None:
            return
        self.floor.ledger.ticket_solved(ticket_id, solved)
        if stream(self.scenario.seed, f"{plan_number(contact)}:close").random() < tickets.close_rate:
            closed = ticket_pb.TransitionTicketRequest(
                ticket_id=ticket_id, to_status=common_pb2.TICKET_STATUS_CLOSED
            )
            await self.act(self.tickets.TransitionTicket, closed, agent_id)

    async def _after(self, simulated_s: float) -> bool:
        """Wait, unless the run ends first; False then."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), self.clock.real(simulated_s))
        return not self.closing

    async def _third_party_answers(self, contact: PlannedContact, waiting: WaitingTicket) -> None:
        """The third party a ticket on hold waits on answers after a while; its agent then opens
        and solves it. Not once the run is ending."""
        tickets = self.scenario.tickets
        assert tickets is not None  # only tickets go on hold
        delay_s = tickets.third_party.law().draw(stream(self.scenario.seed, f"{plan_number(contact)}:third"))
        if await self._after(delay_s):
            await self.solve_ticket(waiting.ticket_id, contact, waiting.agent_id, reopening=True)

    async def _write_back(self, contact: PlannedContact, ticket_id: str) -> None:
        """The agent asked for more: after a while the customer answers, with a public comment (the
        ticket opens again) and a new contact on the ticket, to be routed like the first. Not once
        the run is ending."""
        tickets = self.scenario.tickets
        assert tickets is not None  # only tickets go pending
        delay_s = tickets.customer_reply.law().draw(
            stream(self.scenario.seed, f"{plan_number(contact)}:writes")
        )
        if not await self._after(delay_s):
            return
        comment = ticket_pb.AddCommentRequest(
            ticket_id=ticket_id,
            public=True,
            author_type=common_pb2.AUTHOR_TYPE_CUSTOMER,
            author_id=f"cust-{contact.contact_id}",
            body="Here is what you asked for.",
            request_id=f"{ticket_id}-customer",
        )
        written = await self.act(self.tickets.AddComment, comment)
        if written is None:
            return
        self.floor.ledger.ticket_written_back(ticket_id, written)
        follow_up = replace(contact, contact_id=f"{contact.contact_id}-r1", survey=None)
        self.ticket_of[follow_up.contact_id] = ticket_id
        self.floor.arrived += 1
        self.floor.planned += 1
        self.floor.ledger.arrived(follow_up.contact_id, follow_up.channel)
        self.publish(self.gateway.arrival(follow_up, self.clock.wall(), ticket_id))
        await self._wait_in_queue(follow_up)

    async def _called_back(self, contact: PlannedContact, acceptance: float) -> bool:
        """Offered a callback when the expected wait is over the queue's callback threshold, the
        caller takes it or not (a draw of the plan's); one who does hangs up and waits for the
        callback, which keeps their place."""
        threshold_s = self.scenario.real_s(self.scenario.queue_spec(contact.queue_id).callback_threshold_s)
        status = await self.ask(self.stub.GetQueueStatus, pb.GetQueueStatusRequest(queue_id=contact.queue_id))
        voice = [c for c in status.channels if c.channel == CHANNELS["voice"]] if status else []
        if not voice or voice[0].estimated_wait.ToTimedelta().total_seconds() <= threshold_s:
            return False
        if stream(self.scenario.seed, f"{plan_number(contact)}:callback").random() >= acceptance:
            return False
        if not self.floor.pick_up(contact.contact_id):
            return False
        request = pb.RequestCallbackRequest(
            contact_id=contact.contact_id, callback_number=f"+1555{plan_number(contact)[1:]}"
        )
        try:
            sent, response = await self.call(self.stub.RequestCallback, request)
        except RefusedError:
            # Answered or not queued yet on the router's side: the caller stays on the line.
            self.pick_up_failed(contact)
            return False
        callback = replace(
            contact, contact_id=response.callback_contact_id, channel="callback", patience_s=math.inf
        )
        self._wait_over[callback.contact_id] = asyncio.Event()
        finished = self._finished[callback.contact_id] = asyncio.Event()
        self.floor.called_back(contact.contact_id, callback, self.clock.between(sent))
        self.floor.callbacks += 1
        # The call is over, but the customer is finished once the callback is (counted then).
        self._finished[contact.contact_id].set()
        await finished.wait()
        return True

    def metadata(self, agent_id: str = "") -> tuple[tuple[str, str], ...]:
        """The key of the agent's desk, or with none the channels' (the customers' side)."""
        keys = self.connections.keys
        return (("x-api-key", keys.agent(agent_id) if agent_id else keys.gateway),)

    def call_options(self, agent_id: str = "") -> CallOptions:
        return {"metadata": self.metadata(agent_id), "timeout": RPC_TIMEOUT_S}

    async def call(
        self, method: grpc.aio.UnaryUnaryMultiCallable[Req, Resp], request: Req, agent_id: str = ""
    ) -> tuple[float, Resp]:
        """The call's answer, retried through the platform's transient failures (simulator
        .retry), and when its last attempt was sent; raises RefusedError. Made from the agent's
        desk, or with none from the customers' side."""
        sent = self.clock.now()

        def attempt() -> grpc.aio.UnaryUnaryCall[Req, Resp]:
            nonlocal sent
            sent = self.clock.now()
            return method(request, **self.call_options(agent_id))

        response = await answered(attempt)
        return sent, response

    async def act(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[Req, Resp],
        request: Req,
        who: str = "",
        done_rule: str = "",
    ) -> float | None:
        """A change the platform makes: when it acted (halfway through the attempt that it
        answered), or None when it refused. A refusal is the platform's answer to note, not a
        reason to stop the floor; `who` (an agent, with its desk's key) made the call, if not the
        customers' side; `done_rule` is the rule the platform refuses it with once it has happened."""
        try:
            sent, _response = await self.call(method, request, who)
        except RefusedError as refused:
            if refused.landed(done_rule):
                return self.clock.now()
            self.problem(f"{who}: {refused}" if who else str(refused))
            return None
        return self.clock.between(sent)

    async def ask(self, method: grpc.aio.UnaryUnaryMultiCallable[Req, Resp], request: Req) -> Resp | None:
        """A question to the platform: its answer, or None when it refused (noted as a problem)."""
        try:
            return (await self.call(method, request))[1]
        except RefusedError as refused:
            self.problem(str(refused))
            return None

    async def _open_ticket(self, contact: PlannedContact) -> None:
        """As the email or web-form gateway does: the ticket first, then the contact to route."""
        request = ticket_pb.CreateTicketRequest(
            request_id=contact.contact_id,
            subject=f"{contact.intent or contact.channel} request",
            description="Sent through the simulated gateway.",
            channel=CHANNELS[contact.channel],
            department=self.gateway.department(contact.queue_id),
            requester_id=f"cust-{contact.contact_id}",
            contact_id=contact.contact_id,
        )
        try:
            sent, created = await self.call(self.tickets.CreateTicket, request)
        except RefusedError as refused:
            self.problem(f"ticket for {contact.contact_id}: {refused}")
            return
        opened = self.clock.between(sent)
        self.ticket_of[contact.contact_id] = created.ticket.ticket_id
        self.floor.ledger.ticket_opened(contact.contact_id, created.ticket.ticket_id, opened)

    def hang_up(self, contact: PlannedContact) -> None:
        """The customer leaves the queue."""
        now = self.clock.now()
        queued_at = self.floor.ledger.contacts[contact.contact_id].queued_at or now
        self.floor.left(contact.contact_id, now)
        self._wait_over[contact.contact_id].set()
        waited = timedelta(seconds=now - queued_at)
        self.publish(self.gateway.abandoned(contact, waited, self.clock.wall()))
        self.done(contact.contact_id)

    def pick_up_failed(self, contact: PlannedContact) -> None:
        """An agent's accept was refused: the customer waits on, unless their patience or the run
        ran out meanwhile, or the queue's closed action took them."""
        impatient = self.floor.pick_up_failed(contact.contact_id)
        closed = self._closed_while_picked.pop(contact.contact_id, None)
        if closed is not None:
            self._closed_out(closed)
        elif impatient or self.closing:
            self.hang_up(contact)

    def _closed_out(self, event: contact_events_pb2.ContactAfterHours) -> None:
        """The router gave a contact of the run its queue's closed action: the customer's wait is
        over, and their ticket (or voicemail's) is the platform's to make. One an agent is accepting
        is over when the accept is refused, the router having ended the contact."""
        if event.contact_id not in self.floor.callers:
            return
        taken = self.floor.closed_out(event.contact_id)
        if taken is None:
            self._closed_while_picked[event.contact_id] = event
            return
        if not taken:
            self.problem(f"{event.contact_id}: closed out after hours once its customer was answered or gone")
            return
        waited = event.wait_duration.ToTimedelta() > timedelta(0)
        now = self.clock.now()
        self.floor.ledger.after_hours(
            event.contact_id, now, waited=waited, callback_id=event.callback_contact_id
        )
        self._wait_over[event.contact_id].set()
        if not event.callback_contact_id:
            self.done(event.contact_id)
            return
        # The call is over; the customer is finished once the callback is (counted then).
        contact = self.floor.callers[event.contact_id].contact
        callback = replace(
            contact, contact_id=event.callback_contact_id, channel="callback", patience_s=math.inf
        )
        self._wait_over[callback.contact_id] = asyncio.Event()
        self._finished[callback.contact_id] = asyncio.Event()
        self.floor.callback_due(callback)
        self._called_back_after_hours[event.contact_id] = callback.contact_id
        self._finished[event.contact_id].set()

    def answered(self, contact_id: str, at: float) -> None:
        self.floor.picked_up(contact_id, at)
        self._wait_over[contact_id].set()

    def done(self, contact_id: str) -> None:
        self.floor.finished += 1
        self._finished[contact_id].set()

    def publish(self, record: OutgoingRecord) -> None:
        self._deliveries.append(send(self._producer, record))

    def problem(self, what: str) -> None:
        self.problems.append(what)

    async def _tick(self) -> None:
        while True:
            self._check_deliveries()
            self._show()
            if self._heartbeat is not None:
                self._heartbeat.touch()
            await asyncio.sleep(TICK_S)

    def _show(self) -> None:
        if self.view is not None:
            self.view(self)

    def _check_deliveries(self) -> None:
        """A record the broker refused is part of the run lost: stop rather than report KPIs the
        platform never saw."""
        pending = []
        for delivery in self._deliveries:
            if not delivery.done:
                pending.append(delivery)
                continue
            try:
                delivery.get(timeout=0)
            except DeliveryError as exc:
                raise SimulationError(f"Kafka refused a record of the run: {exc}") from exc
        self._deliveries = pending

    def close(self) -> None:
        self.alerts.stop()
        if self.closings is not None:
            self.closings.stop()
        self._unsubscribe()
        if self.receiver is not None:
            self.receiver.close()
        self._producer.close()
