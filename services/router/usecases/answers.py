"""The agent's answer to an offer: accepted (the contact is theirs and connected), rejected,
or not given in time (the offer timer: the contact goes to the next agent, and an agent who missed
too many is set away)."""

from __future__ import annotations

from datetime import datetime

from helpline.domain import NotFoundError
from services.router.domain import agent_facts, conversation, offers
from services.router.domain.errors import RoutingRefused
from services.router.domain.model import MISSED_REASON, Queue
from services.router.domain.outcome import Outcome
from services.router.domain.routing import offer_accepted, offer_rejected, offer_timed_out
from services.router.storage.records import AgentRecord, ContactRecord
from services.router.storage.store import Keys
from services.router.usecases.contact_steps import Applied, ContactSteps, Step
from services.router.usecases.staging import Staging


class Answers:
    """The use cases of an offer in flight, by the offer's id (what the desktop knows) or, for its
    timer, the contact's."""

    def __init__(self, core: Staging, steps: ContactSteps) -> None:
        self.core = core
        self.store = core.store
        self.steps = steps

    def _offered_contact(self, tenant: str, offer_id: str) -> str:
        raw = self.store.client.get(Keys(tenant).offer(offer_id))
        if not isinstance(raw, bytes):
            raise NotFoundError("offer", offer_id)
        return raw.decode()

    def accept(self, tenant: str, agent_id: str, offer_id: str) -> Applied:
        """The agent takes the offer: the contact is theirs and connected (the desktop answered)."""
        self.core.require_agent(tenant, agent_id)

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            assert agent is not None
            accepted = offers.accept(record.contact, agent_id, offer_id, now)
            connected = conversation.connect(accepted.contact, agent_id, now)
            taken = offer_accepted(agent.agent, record.contact.channel, now)
            return Step(
                Outcome(connected.contact, (*accepted.events, *connected.events)),
                agent=taken,
                agent_changes={"contacts": (*agent.contacts, record.contact.contact_id)},
            )

        return self.steps.apply(tenant, self._offered_contact(tenant, offer_id), decide, agent_id=agent_id)

    def reject(self, tenant: str, agent_id: str, offer_id: str, reason: str = "") -> Applied:
        self.core.require_agent(tenant, agent_id)

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            assert agent is not None
            rejected = offers.reject(record.contact, agent_id, offer_id, now, reason=reason)
            return Step(rejected, agent=offer_rejected(agent.agent))

        return self.steps.apply(tenant, self._offered_contact(tenant, offer_id), decide, agent_id=agent_id)

    def offer_expired(self, tenant: str, contact_id: str, offer_id: str) -> Applied:
        """The offer timer fired: the contact goes to the next agent; the agent may go away missed."""

        def decide(
            record: ContactRecord, agent: AgentRecord | None, queue: Queue | None, now: datetime
        ) -> Step:
            if agent is None or queue is None:
                raise RoutingRefused("offer_not_pending", f"contact {contact_id} has no agent or queue")
            missed = offer_timed_out(agent.agent, queue)
            outcome = offers.time_out_offer(
                record.contact,
                offer_id,
                now,
                consecutive_misses=missed.consecutive_no_answers,
                max_no_answer=queue.max_no_answer,
            )
            events = []
            if missed.status is not agent.agent.status:
                events.append(agent_facts.status_changed(agent.agent, missed, now, reason_code=MISSED_REASON))
            return Step(outcome, agent=missed, agent_events=tuple(events), withdrawn="expired")

        return self.steps.apply(tenant, contact_id, decide)
