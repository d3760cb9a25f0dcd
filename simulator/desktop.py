"""One simulated agent at their desktop, on the router's gRPC API: they log in when their shift
starts, take breaks, answer, reject or miss offers, hold, end the conversation, wrap up and
complete with a disposition, and log out when the shift or the run ends; the next day, the same
shift again."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import grpc

from helpline.v1 import common_pb2
from helpline.v1 import router_service_pb2 as pb
from helpline.v1 import ticket_service_pb2 as ticket_pb
from simulator.floor import AgentActivity
from simulator.model import HOUR_S
from simulator.plan import PlannedContact, plan_number, stream
from simulator.retry import BACKOFF, RETRIED, RefusedError
from simulator.scenario import AgentGroup

if TYPE_CHECKING:
    from simulator.runner import Simulation

Req = TypeVar("Req")
Resp = TypeVar("Resp")
# Simulated seconds an agent takes to pick up an offer they answer.
PICK_UP_S = 3.0
# A held contact is held for this share of its handle time, after this share of talking.
HOLD_SHARE, TALK_BEFORE_HOLD = 0.2, 0.4
# A contact to transfer is sent on after this share of its handle time.
TALK_BEFORE_TRANSFER = 0.3


class WaitingTicket(NamedTuple):
    """A ticket its agent set pending or on hold, waiting on the customer or a third party."""

    ticket_id: str
    status: int
    agent_id: str


class Desktop:
    def __init__(self, sim: Simulation, agent_id: str, group: AgentGroup, stagger: float) -> None:
        self.sim = sim
        self.agent_id = agent_id
        self.group = group
        # Where in the group's break interval this agent's breaks fall, so they do not all leave at once.
        self.stagger = stagger
        self.on_duty = False
        self.away = False
        self.talking = 0
        self.wrapping = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._missed: set[str] = set()
        self._offer_ids: set[str] = set()
        self._handling: set[asyncio.Task[None]] = set()
        self.breaks = 0
        self._show(sim.clock.now())

    async def work(self, leave: asyncio.Event) -> None:
        """Every day's shift, until the run ends."""
        for start_s, end_s in self.group.shifts(self.sim.scenario.start_h):
            if not await self._sleep_until(start_s, leave):
                return
            await self._shift(start_s, end_s, leave)

    async def _shift(self, start_s: float, end_s: float, leave: asyncio.Event) -> None:
        reader = asyncio.create_task(self._offers())
        try:
            at = await self._status(common_pb2.AGENT_STATUS_AVAILABLE)
            self.on_duty = True
            self._show(at)
            every_s = self.group.break_every_h * HOUR_S
            next_break_s = start_s + every_s * self.stagger
            # A shift that began before the run has had its earlier breaks.
            while next_break_s <= max(start_s, 0.0):
                next_break_s += every_s
            while await self._sleep_until(min(next_break_s, end_s), leave) and next_break_s < end_s:
                await self._take_break(leave)
                next_break_s += every_s
            await self._log_out()
        finally:
            reader.cancel()
            await asyncio.gather(reader, *self._handling, return_exceptions=True)

    async def _sleep_until(self, simulated_s: float, leave: asyncio.Event) -> bool:
        """False when the run ends first."""
        try:
            await asyncio.wait_for(
                leave.wait(), max(0.0, self.sim.clock.real(simulated_s) - self.sim.clock.now())
            )
        except TimeoutError:
            return True
        return False

    async def _take_break(self, leave: asyncio.Event) -> None:
        """Away first, so no new offer comes; the contacts in hand are finished before the break.
        The end of the run cuts a break short."""
        at = await self._status(common_pb2.AGENT_STATUS_AWAY, "break")
        self.away = True
        self._show(at)
        await self._idle.wait()
        self.breaks += 1
        rng = stream(self.sim.scenario.seed, f"{self.agent_id}:break:{self.breaks}")
        length_s = self.group.break_length.law().draw(rng)
        await self._sleep_until(self.sim.clock.simulated() + length_s, leave)
        self.away = False
        self._show(await self._status(common_pb2.AGENT_STATUS_AVAILABLE))

    async def _log_out(self) -> None:
        at = await self._status(common_pb2.AGENT_STATUS_AWAY, "end_of_shift")
        self.away = True
        self._show(at)
        await self._idle.wait()
        at = await self._status(common_pb2.AGENT_STATUS_OFFLINE)
        self.on_duty = self.away = False
        self._show(at)

    async def log_off(self) -> None:
        """Offline at once, contacts in hand or not: the run was stopped."""
        at = await self._status(common_pb2.AGENT_STATUS_OFFLINE)
        self.on_duty = False
        self._show(at)

    async def _offers(self) -> None:
        """The desk's offers as they come. A stream the router cannot keep for now (UNAVAILABLE:
        Redis away as it opens, or the desktop fell behind its desk) is opened again, as the
        router asks; the offer pending then comes again, and is not taken twice."""
        failures = 0
        while True:
            request = pb.StreamOffersRequest(agent_id=self.agent_id)
            call = self.sim.stub.StreamOffers(request, metadata=self.sim.metadata(self.agent_id))
            try:
                async for item in call:
                    failures = 0
                    await self._desk_item(item)
                return
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RETRIED:
                    if exc.code() != grpc.StatusCode.CANCELLED:
                        self.sim.problem(
                            f"{self.agent_id}: the offer stream ended: {exc.code().name} {exc.details()}"
                        )
                    return
            finally:
                call.cancel()
            failures += 1
            await asyncio.sleep(BACKOFF.delay(failures))

    async def _desk_item(self, item: pb.StreamOffersResponse) -> None:
        if item.WhichOneof("item") == "offer":
            if item.offer.offer_id in self._offer_ids:
                return
            self._offer_ids.add(item.offer.offer_id)
            task = asyncio.create_task(self._offered(item.offer))
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)
        elif item.withdrawn.offer_id in self._missed:
            await self._missed_offer_gone(item.withdrawn.offer_id)

    async def _missed_offer_gone(self, offer_id: str) -> None:
        """After missed offers the router may set the agent away (missed): they notice and come back."""
        self._missed.discard(offer_id)
        if self.on_duty and not self.away:
            await self._status(common_pb2.AGENT_STATUS_AVAILABLE)

    async def _offered(self, offer: pb.Offer) -> None:
        sim = self.sim
        caller = sim.floor.callers.get(offer.contact_id)
        if caller is None:
            # Not this run's contact (left over from an earlier run): someone else's to take.
            await self._decline(offer, "not_this_run")
            return
        contact = caller.contact
        rng = stream(sim.scenario.seed, f"{plan_number(contact)}:{self.agent_id}:offer")
        draw = rng.random()
        if draw < self.group.miss_rate:
            sim.floor.missed += 1
            self._missed.add(offer.offer_id)
            return
        if draw < self.group.miss_rate + self.group.reject_rate:
            sim.floor.rejected += 1
            await self._decline(offer, "busy")
            return
        await sim.clock.pause(PICK_UP_S)
        if not sim.floor.pick_up(contact.contact_id):
            return
        accept = pb.AcceptOfferRequest(agent_id=self.agent_id, offer_id=offer.offer_id)
        try:
            sent, _accepted = await sim.call(sim.stub.AcceptOffer, accept, self.agent_id)
            answered_at = sim.clock.between(sent)
        except RefusedError as refused:
            if not refused.landed("already_accepted"):
                # The offer had expired or been withdrawn meanwhile.
                sim.pick_up_failed(contact)
                return
            answered_at = sim.clock.now()
        sim.answered(contact.contact_id, answered_at)
        await self._handle(contact, answered_at)

    async def _handle(self, contact: PlannedContact, answered_at: float) -> None:
        sim = self.sim
        ids = {"contact_id": contact.contact_id, "agent_id": self.agent_id}
        self._busy(answered_at, talking=1)
        ticket_id = sim.ticket_of.get(contact.contact_id, "")
        ticket = sim.floor.ledger.tickets.get(ticket_id) if ticket_id else None
        # A ticket nobody answered yet is new: taking it opens it. A written-back one is open.
        first = ticket is not None and ticket.replied_at is None
        if ticket_id:
            await self._take_ticket(ticket_id, opening=first)
        held = 0.0
        load = sim.scenario.channels.get(contact.channel)  # type: ignore[call-overload]
        caller = sim.floor.callers[contact.contact_id]
        leg = f"{plan_number(contact)}:{caller.transfers}"
        if load is not None and not caller.transfers and load.transfer_to:
            sent_on = stream(sim.scenario.seed, f"{leg}:transfer").random() < load.transfer_rate
            if sent_on and await self._transfer(contact, load.transfer_to):
                return
        rng = stream(sim.scenario.seed, f"{leg}:hold")
        if load is not None and rng.random() < load.hold_rate:
            await sim.clock.pause(contact.handle_s * TALK_BEFORE_HOLD)
            held_at = await self._act(sim.stub.HoldContact, pb.HoldContactRequest(**ids), "already_held")
            await sim.clock.pause(contact.handle_s * HOLD_SHARE)
            resumed_at = await self._act(sim.stub.ResumeContact, pb.ResumeContactRequest(**ids))
            if held_at is not None and resumed_at is not None:
                held = resumed_at - held_at
            await sim.clock.pause(contact.handle_s * (1 - TALK_BEFORE_HOLD - HOLD_SHARE))
        else:
            await sim.clock.pause(contact.handle_s)
        if ticket_id:
            await self._reply(ticket_id, contact.contact_id)
        ended = await self._act(sim.stub.EndContact, pb.EndContactRequest(**ids), "already_ended")
        ended = sim.clock.now() if ended is None else ended
        self._busy(ended, talking=-1, wrapping=1)
        await sim.clock.pause(contact.wrap_up_s)
        if ticket_id:
            rules = sim.scenario.tickets
            assert rules is not None  # only a scenario with tickets opens them
            draw = stream(sim.scenario.seed, f"{plan_number(contact)}:pending").random()
            if first and draw < rules.pending_rate:
                await self._move(ticket_id, common_pb2.TICKET_STATUS_PENDING, contact.contact_id)
            elif first and draw < rules.pending_rate + rules.on_hold_rate:
                await self._move(ticket_id, common_pb2.TICKET_STATUS_ON_HOLD, contact.contact_id)
            else:
                await sim.solve_ticket(ticket_id, contact, self.agent_id)
        disposition = contact.intent or "resolved"
        complete = pb.CompleteContactRequest(**ids, disposition_code=disposition, ticket_id=ticket_id)
        completed = await self._act(sim.stub.CompleteContact, complete, "already_completed")
        completed = sim.clock.now() if completed is None else completed
        self._busy(completed, wrapping=-1)
        sim.floor.ledger.handled(
            contact.contact_id, talk_s=ended - answered_at - held, hold_s=held, wrap_up_s=completed - ended
        )
        sim.done(contact.contact_id)

    async def _transfer(self, contact: PlannedContact, to_queue: str) -> bool:
        """A blind transfer after part of the talk: the agent is free of the contact, which queues
        again. False when the router refused it, and the agent carries on."""
        sim = self.sim
        await sim.clock.pause(contact.handle_s * TALK_BEFORE_TRANSFER)
        request = pb.TransferContactRequest(
            contact_id=contact.contact_id,
            agent_id=self.agent_id,
            to_queue_id=to_queue,
            reason="needs_specialist",
        )
        at = await self._act(sim.stub.TransferContact, request)
        if at is None:
            return False
        sim.floor.transferred(contact.contact_id, to_queue, at)
        sim.floor.transfers += 1
        self._busy(at, talking=-1)
        return True

    async def _take_ticket(self, ticket_id: str, *, opening: bool) -> None:
        tickets = self.sim.tickets
        assign = ticket_pb.AssignTicketRequest(ticket_id=ticket_id, assignee_id=self.agent_id)
        await self._act(tickets.AssignTicket, assign)
        if opening:
            opened = ticket_pb.TransitionTicketRequest(
                ticket_id=ticket_id, to_status=common_pb2.TICKET_STATUS_OPEN
            )
            await self._act(tickets.TransitionTicket, opened)

    async def _move(self, ticket_id: str, status: common_pb2.TicketStatus.ValueType, contact_id: str) -> None:
        """The reply asked the customer for more (pending), or the ticket waits on a third party
        (on hold): the customer's side of the simulation takes it from there."""
        request = ticket_pb.TransitionTicketRequest(ticket_id=ticket_id, to_status=status)
        moved = await self._act(self.sim.tickets.TransitionTicket, request)
        if moved is None:
            return
        if status == common_pb2.TICKET_STATUS_PENDING:
            self.sim.floor.ledger.ticket_pending(ticket_id, moved)
        self.sim.waiting_tickets[contact_id] = WaitingTicket(ticket_id, status, self.agent_id)

    async def _reply(self, ticket_id: str, contact_id: str) -> None:
        """The public reply that answers the customer: the ticket's first response."""
        reply = ticket_pb.AddCommentRequest(
            ticket_id=ticket_id,
            public=True,
            author_type=common_pb2.AUTHOR_TYPE_AGENT,
            author_id=self.agent_id,
            body="Thanks for writing; here is what we did.",
            contact_id=contact_id,
            request_id=f"{contact_id}-reply",
        )
        replied = await self._act(self.sim.tickets.AddComment, reply)
        if replied is not None:
            self.sim.floor.ledger.ticket_replied(ticket_id, replied)

    def _busy(self, at: float, talking: int = 0, wrapping: int = 0) -> None:
        self.talking += talking
        self.wrapping += wrapping
        if self.talking or self.wrapping:
            self._idle.clear()
        else:
            self._idle.set()
        self._show(at)

    def _show(self, at: float) -> None:
        """What the agent is doing since `at`, for the view and the ledger's occupancy: the router's
        agent state (busy while a contact is connected, wrap-up while one is in after-contact work),
        else the status."""
        if self.talking:
            activity = AgentActivity.BUSY
        elif self.wrapping:
            activity = AgentActivity.WRAP_UP
        elif not self.on_duty:
            activity = AgentActivity.OFF_SHIFT
        elif self.away:
            activity = AgentActivity.AWAY
        else:
            activity = AgentActivity.AVAILABLE
        self.sim.floor.agent_activity(self.agent_id, activity, at)

    async def _status(self, status: common_pb2.AgentStatus.ValueType, reason: str = "") -> float:
        """When the router set the status."""
        request = pb.SetAgentStatusRequest(agent_id=self.agent_id, status=status, reason_code=reason)
        done = await self._act(self.sim.stub.SetAgentStatus, request)
        return self.sim.clock.now() if done is None else done

    async def _decline(self, offer: pb.Offer, reason: str) -> None:
        """Reject the offer. A reject the router refuses because the offer is no longer pending
        (expired, or withdrawn as its customer hung up meanwhile) is no refusal: the offer is gone,
        as the agent wanted; an outage's backlog makes that race common. Nor is one the router no
        longer knows: an offer made while the Redis replicas were cut off reaches the desktop at
        once, and a failover before they held it takes it back, while its contact (acknowledged)
        stays queued and is offered again."""
        request = pb.RejectOfferRequest(agent_id=self.agent_id, offer_id=offer.offer_id, reason=reason)
        try:
            await self.sim.call(self.sim.stub.RejectOffer, request, self.agent_id)
        except RefusedError as refused:
            if refused.code not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                self.sim.problem(f"{self.agent_id}: {refused}")

    async def _act(
        self, method: grpc.aio.UnaryUnaryMultiCallable[Req, Resp], request: Req, done_rule: str = ""
    ) -> float | None:
        return await self.sim.act(method, request, self.agent_id, done_rule)
