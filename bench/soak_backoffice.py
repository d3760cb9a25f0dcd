"""The soak centre's back office: it solves the tickets the platform opens on its own for the
centre's contacts, which the simulated agents never work.

The tickets service opens a ticket for every completed contact that has a disposition and no
ticket (calls, chats, messages, callbacks, bot escalations) and for every social post as it arrives.
Those tickets stay `new` until someone works them, and the simulated agents only work the tickets
they open themselves (email and web forms). An open ticket is live work, so the SLA service keeps
its record and the metrics service its mark for as long as it is open: unworked, that backlog, and
with it the sla and metrics databases, would grow for good, whatever their retentions. A real
centre works it; here the back office does, through the TicketService like any agent: every
simulated hour it solves each such ticket left untouched for ROUND_S, and the auto-close closes it
a simulated day later.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc

from helpline.v1 import common_pb2, ticket_service_pb2_grpc
from helpline.v1 import ticket_service_pb2 as pb
from simulator.gateway import CHANNELS
from simulator.runner import Simulation

# Simulated seconds between rounds, and how long a ticket rests untouched before it is solved (its
# contact finished meanwhile, and its survey came in).
ROUND_S = 3600.0
PAGE_SIZE = 200
RPC_TIMEOUT_S = 10.0


class BackOffice:
    def __init__(self, sim: Simulation, tickets_grpc: str) -> None:
        self.sim = sim
        self.tickets_grpc = tickets_grpc
        tickets = sim.scenario.tickets
        self.agents_work = {CHANNELS[name] for name in (tickets.channels if tickets else ())}
        self.metadata = (("x-api-key", sim.connections.keys.admin),)
        self.solved = 0
        self.refused: list[str] = []

    async def run(self, until_s: float) -> None:
        """A round every simulated hour until `until_s` simulated seconds."""
        async with grpc.aio.insecure_channel(self.tickets_grpc) as channel:
            stub = ticket_service_pb2_grpc.TicketServiceStub(channel)
            at_s = ROUND_S
            while at_s <= until_s:
                # The run replaces its clock as it starts: read it afresh.
                while (wait_s := self.sim.clock.real(at_s) - self.sim.clock.now()) > 0:
                    await asyncio.sleep(wait_s)
                await self._round(stub)
                at_s += ROUND_S

    async def _round(self, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub) -> None:
        rested_since = datetime.now(UTC) - timedelta(seconds=self.sim.clock.real(ROUND_S))
        waiting, token = [], ""
        while True:
            request = pb.ListTicketsRequest(
                page_size=PAGE_SIZE, page_token=token, statuses=[common_pb2.TICKET_STATUS_NEW]
            )
            page = await stub.ListTickets(request, metadata=self.metadata, timeout=RPC_TIMEOUT_S)
            waiting += [
                ticket.ticket_id
                for ticket in page.tickets
                if ticket.channel not in self.agents_work
                and ticket.updated_at.ToDatetime(tzinfo=UTC) < rested_since
            ]
            token = page.next_page_token
            if not token:
                break
        for ticket_id in waiting:
            solve = pb.TransitionTicketRequest(ticket_id=ticket_id, to_status=common_pb2.TICKET_STATUS_SOLVED)
            try:
                await stub.TransitionTicket(solve, metadata=self.metadata, timeout=RPC_TIMEOUT_S)
            except grpc.aio.AioRpcError as exc:
                # Changed meanwhile (a survey, a late note): the next round finds it again.
                self.refused.append(f"{ticket_id}: {exc.code().name} {exc.details()}")
            else:
                self.solved += 1
