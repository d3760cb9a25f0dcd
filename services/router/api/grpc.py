"""The router gRPC API, `helpline.v1.RouterService`.

Every RPC is a router use case for the tenant of the caller's API key; another tenant's contact,
agent or queue is simply not found. Refusals become status codes in one place (`_refusal`), and
every status's details start with the rule that refused, e.g.
`already_accepted: agent a7 already has contact c1`.

StreamOffers follows the agent's desk stream, which every offer and withdrawn offer is written
to in the same commit that makes it, so a desktop that connects late first gets the offer still
pending, then everything after it. The desk is read by the tenant's desk feed
(services.router.api.desk_feed), so an open stream holds a worker thread but no Redis connection.
"""

from __future__ import annotations

import base64
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any

import grpc

from helpline.auth import current_tenant, key_still_valid
from helpline.domain import NotFoundError, duration, from_timestamp, timestamp
from helpline.grpc import Refusal, answers_refusals
from helpline.optimistic import ContendedError
from helpline.v1 import common_pb2, contact_events_pb2, router_service_pb2_grpc
from helpline.v1 import router_service_pb2 as pb
from services.router.api.desk_feed import DeskFeed, Subscription
from services.router.api.offer_streams import OfferStream, OfferStreams, StreamsFullError
from services.router.composition import Router
from services.router.domain.contact import Contact, ContactStatus
from services.router.domain.contact_proto import context_from_proto, context_to_proto, offer_message
from services.router.domain.convert import (
    AGENT_STATE_TO_PROTO,
    AGENT_STATUS_TO_PROTO,
    CHANNEL_TO_PROTO,
    DEPARTMENT_TO_PROTO,
    TIMEOUT_ACTION_TO_PROTO,
    agent_status_from_proto,
    channel_from_proto,
    department_from_proto,
)
from services.router.domain.errors import InvalidConfiguration, RoutingRefused
from services.router.domain.model import Department
from services.router.domain.outcome import require_text, span
from services.router.domain.queue_status import ChannelStatus
from services.router.storage.records import AgentRecord
from services.router.storage.store import Keys
from services.router.usecases.contact_steps import Applied
from services.router.usecases.intake import NewContact
from services.router.usecases.queue_status import channel_statuses

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["RouterService"].full_name
# How long a stream waits for its next desk entry before it checks whether its client is still there.
DESK_WAIT_S = 1.0
# How often a desk's stream asks whether its key still stands.
KEY_CHECK_S = 2.0
# Offer streams a replica holds at once, when not configured (RouterSettings.max_offer_streams).
DEFAULT_OFFER_STREAMS = 224
_DESK_BEHIND = "desk_behind: this desktop fell behind its desk; reconnect"
# XREAD from before the first entry of a stream that does not exist yet.
_STREAM_START = b"0-0"


# -- refusals as status codes ------------------------------------------------------------------


def _refusal(exc: Exception) -> Refusal | None:
    """The status of an exception the use cases raise on purpose; None for anything else (a bug
    or an outage), which gRPC reports as UNKNOWN with the exception logged."""
    if isinstance(exc, InvalidConfiguration):
        return Refusal(grpc.StatusCode.INVALID_ARGUMENT, exc.rule, exc.message)
    if isinstance(exc, RoutingRefused):
        return Refusal(grpc.StatusCode.FAILED_PRECONDITION, exc.rule, exc.message)
    if isinstance(exc, NotFoundError):
        return Refusal(grpc.StatusCode.NOT_FOUND, f"{exc.kind}_not_found", str(exc))
    if isinstance(exc, ContendedError):
        # Every attempt lost a race; the caller tries again, as ABORTED asks.
        return Refusal(grpc.StatusCode.ABORTED, "contended", str(exc))
    return None


_answers_refusals = answers_refusals(_refusal)


# -- request reading -------------------------------------------------------------------------------


def _required(value: str, name: str) -> str:
    require_text(value, name)
    return value


def _new_contact(request: pb.SubmitContactRequest) -> NewContact:
    return NewContact(
        channel=channel_from_proto(request.channel),
        department=department_from_proto(request.department, Department.SERVICE),
        contact_id=request.contact_id,
        queue_id=request.queue_id,
        context=context_from_proto(request.context),
        entry_point=request.entry_point,
        related_contact_id=request.related_contact_id,
    )


# -- responses -------------------------------------------------------------------------------------


def _queued_event(applied: Applied, contact_id: str) -> contact_events_pb2.ContactQueued | None:
    """Where the step put `contact_id` in a queue, as the use case decided it (position, EWT)."""
    return next(
        (
            event
            for event in applied.step.outcome.events
            if isinstance(event, contact_events_pb2.ContactQueued) and event.contact_id == contact_id
        ),
        None,
    )


def _handle_times(contact: Contact) -> pb.CompleteContactResponse:
    """The completing agent's talk, hold and wrap-up, as ContactCompleted reports them."""
    assert contact.finished_at is not None  # a completed contact has finished
    talk = span(contact.connected_at, contact.ended_at or contact.finished_at) - contact.hold_total
    return pb.CompleteContactResponse(
        talk_duration=duration(max(talk, timedelta(0))),
        hold_duration=duration(contact.hold_total),
        wrap_up_duration=duration(span(contact.ended_at, contact.finished_at)),
    )


def _channel_status(status: ChannelStatus) -> pb.QueueChannelStatus:
    message = pb.QueueChannelStatus(
        channel=CHANNEL_TO_PROTO[status.channel],
        depth=status.depth,
        agents_by_state=[
            common_pb2.AgentStateCount(state=AGENT_STATE_TO_PROTO[state], count=count)
            for state, count in status.agents_by_state.items()
        ],
        service_level_threshold=duration(status.service_level_threshold),
        service_level_target=status.service_level_target,
    )
    if status.oldest_age is not None:
        message.oldest_contact_age.CopyFrom(duration(status.oldest_age))
    if status.estimated_wait is not None:
        message.estimated_wait.CopyFrom(duration(status.estimated_wait))
    return message


# -- the desk stream -------------------------------------------------------------------------------


def _desk_item(fields: Mapping[bytes, bytes]) -> pb.StreamOffersResponse | None:
    data = base64.b64decode(fields[b"data"])
    kind = fields[b"kind"]
    if kind == b"offer":
        return pb.StreamOffersResponse(offer=pb.Offer.FromString(data))
    if kind == b"withdrawn":
        return pb.StreamOffersResponse(withdrawn=pb.OfferWithdrawn.FromString(data))
    # A kind a newer replica writes during a rolling upgrade: this desktop cannot show it.
    return None


def _last_entry_id(router: Router, key: str) -> bytes:
    last: Any = router.store.client.xrevrange(key, count=1)
    return bytes(last[0][0]) if last else _STREAM_START


def _pending_offer(router: Router, agent: AgentRecord) -> pb.Offer | None:
    """The agent's last offer, if its contact still waits for this agent's answer."""
    if agent.offer is None:
        return None
    record = router.store.contact(agent.agent.tenant_id, agent.offer.contact_id)
    if record is None:
        return None
    contact = record.contact
    if (contact.status, contact.agent_id, contact.offer_id) != (
        ContactStatus.OFFERED,
        agent.agent.agent_id,
        agent.offer.offer_id,
    ):
        return None
    queue = router.core.queue_of(contact)
    return offer_message(contact, queue, router.core.now()) if queue else None


def _follow_desk(
    subscription: Subscription, stream: OfferStream, context: grpc.ServicerContext
) -> Iterator[pb.StreamOffersResponse]:
    """The desk's entries after the subscription's start, as they come, until the RPC ends, or the
    caller's key is revoked or expires (within KEY_CHECK_S: offers carry customers' details)."""
    checked_at = time.monotonic()
    while context.is_active():
        if subscription.overflowed:
            context.abort(
                grpc.StatusCode.UNAVAILABLE, "desk_behind: this desktop fell behind its desk; reconnect"
            )
        if stream.replaced.is_set():
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"replaced: agent {stream.agent_id}'s offers go to a newer stream, opened since",
            )
        if time.monotonic() - checked_at >= KEY_CHECK_S:
            if not key_still_valid():
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "the API key was revoked or has expired")
            checked_at = time.monotonic()
        try:
            _entry_id, fields = subscription.entries.get(timeout=DESK_WAIT_S)
        except queue.Empty:
            continue
        item = _desk_item(fields)
        if item is not None:
            yield item


def _offers(
    ended: Callable[[], None],
    subscription: Subscription,
    stream: OfferStream,
    pending: pb.Offer | None,
    context: grpc.ServicerContext,
) -> Iterator[pb.StreamOffersResponse]:
    try:
        if pending is not None:
            yield pb.StreamOffersResponse(offer=pending)
        yield from _follow_desk(subscription, stream, context)
    finally:
        ended()


class _Once:
    """Calls `action` the first time it is called, and never again."""

    def __init__(self, action: Callable[[], None]) -> None:
        self._action: Callable[[], None] | None = action
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            action, self._action = self._action, None
        if action is not None:
            action()


# -- the service -----------------------------------------------------------------------------------


class RouterServicer(router_service_pb2_grpc.RouterServiceServicer):
    def __init__(self, router: Callable[[], Router], streams: OfferStreams) -> None:
        self._router = router
        self._streams = streams
        self._feed: DeskFeed | None = None
        self._feed_lock = threading.Lock()

    def _desk_feed(self, router: Router) -> DeskFeed:
        with self._feed_lock:
            if self._feed is None:
                self._feed = DeskFeed(router.store.client)
            return self._feed

    @_answers_refusals
    def SubmitContact(  # noqa: N802 -- the generated base class names the methods after the RPCs
        self, request: pb.SubmitContactRequest, context: grpc.ServicerContext
    ) -> pb.SubmitContactResponse:
        placed = self._router().intake.submit(current_tenant(), _new_contact(request))
        response = pb.SubmitContactResponse(
            contact_id=placed.contact.contact_id,
            queue_id=placed.contact.queue_id,
            position=placed.position,
            offer_callback=placed.offer_callback,
        )
        if placed.estimated_wait is not None:
            response.estimated_wait.CopyFrom(duration(placed.estimated_wait))
        if placed.closed_action is not None:
            response.closed = True
            response.closed_action = TIMEOUT_ACTION_TO_PROTO[placed.closed_action]
            response.callback_contact_id = placed.contact.callback_contact_id
        if placed.next_opening is not None:
            response.next_opening.CopyFrom(timestamp(placed.next_opening))
        return response

    @_answers_refusals
    def SetAgentStatus(  # noqa: N802
        self, request: pb.SetAgentStatusRequest, context: grpc.ServicerContext
    ) -> pb.SetAgentStatusResponse:
        tenant = current_tenant()
        agent_id = _required(request.agent_id, "agent_id")
        router = self._router()
        # The request names no actor and a key may belong to a desktop or an integration, so the
        # change is the agent's own, as the use case assumes by default.
        saved = router.agents.set_status(
            tenant, agent_id, agent_status_from_proto(request.status), reason=request.reason_code
        )
        # Becoming available may have brought an offer at once: answer with the state after it.
        agent = (router.store.agent(tenant, agent_id) or saved).agent
        return pb.SetAgentStatusResponse(
            agent_id=agent_id,
            status=AGENT_STATUS_TO_PROTO[agent.status],
            state=AGENT_STATE_TO_PROTO[agent.state],
            reason_code=agent.away_reason,
        )

    @_answers_refusals
    def StreamOffers(  # noqa: N802
        self, request: pb.StreamOffersRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.StreamOffersResponse]:
        # Everything that can refuse runs now, before the stream starts, so it becomes a status.
        tenant = current_tenant()
        agent_id = _required(request.agent_id, "agent_id")
        router = self._router()
        key = Keys(tenant).desk(agent_id)
        # Read before the pending offer: an offer made in between is then read again rather than
        # missed (desktops drop an offer_id they already have).
        after = _last_entry_id(router, key)
        pending = _pending_offer(router, router.core.require_agent(tenant, agent_id))
        try:
            stream = self._streams.open(tenant, agent_id)
        except StreamsFullError as exc:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        feed = self._desk_feed(router)
        subscription = feed.subscribe(tenant, key, after)

        # grpc may stop stepping a stream whose client went away without closing it: this ends the
        # subscription, and gives back the stream's place, either way (each at most once).
        def end() -> None:
            feed.unsubscribe(subscription)
            self._streams.close(stream)

        ended = _Once(end)
        context.add_callback(ended)
        return _offers(ended, subscription, stream, pending, context)

    @_answers_refusals
    def AcceptOffer(  # noqa: N802
        self, request: pb.AcceptOfferRequest, context: grpc.ServicerContext
    ) -> pb.AcceptOfferResponse:
        applied = self._router().answers.accept(
            current_tenant(), _required(request.agent_id, "agent_id"), _required(request.offer_id, "offer_id")
        )
        contact = applied.after.contact
        return pb.AcceptOfferResponse(
            contact_id=contact.contact_id, context=context_to_proto(contact.context, contact.priority)
        )

    @_answers_refusals
    def RejectOffer(  # noqa: N802
        self, request: pb.RejectOfferRequest, context: grpc.ServicerContext
    ) -> pb.RejectOfferResponse:
        self._router().answers.reject(
            current_tenant(),
            _required(request.agent_id, "agent_id"),
            _required(request.offer_id, "offer_id"),
            reason=request.reason,
        )
        return pb.RejectOfferResponse()

    @_answers_refusals
    def HoldContact(  # noqa: N802
        self, request: pb.HoldContactRequest, context: grpc.ServicerContext
    ) -> pb.HoldContactResponse:
        self._router().conversations.hold(
            current_tenant(),
            _required(request.contact_id, "contact_id"),
            _required(request.agent_id, "agent_id"),
        )
        return pb.HoldContactResponse()

    @_answers_refusals
    def ResumeContact(  # noqa: N802
        self, request: pb.ResumeContactRequest, context: grpc.ServicerContext
    ) -> pb.ResumeContactResponse:
        applied = self._router().conversations.resume(
            current_tenant(),
            _required(request.contact_id, "contact_id"),
            _required(request.agent_id, "agent_id"),
        )
        held = applied.after.contact.hold_total - applied.before.contact.hold_total
        return pb.ResumeContactResponse(hold_duration=duration(held))

    @_answers_refusals
    def TransferContact(  # noqa: N802
        self, request: pb.TransferContactRequest, context: grpc.ServicerContext
    ) -> pb.TransferContactResponse:
        contact_id = _required(request.contact_id, "contact_id")
        if request.warm:
            started = self._router().conversations.start_warm_transfer(
                current_tenant(),
                contact_id,
                _required(request.agent_id, "agent_id"),
                _required(request.to_agent_id, "to_agent_id"),
            )
            return pb.TransferContactResponse(contact_id=contact_id, queue_id=started.after.contact.queue_id)
        applied = self._router().conversations.transfer(
            current_tenant(),
            contact_id,
            _required(request.agent_id, "agent_id"),
            to_queue_id=request.to_queue_id,
            to_agent_id=request.to_agent_id,
            to_department=department_from_proto(request.to_department) if request.to_department else None,
            reason=request.reason,
        )
        queued = _queued_event(applied, contact_id)
        return pb.TransferContactResponse(
            contact_id=contact_id,
            queue_id=applied.after.contact.queue_id,
            position=queued.position if queued else 0,
        )

    @_answers_refusals
    def CompleteTransfer(  # noqa: N802
        self, request: pb.CompleteTransferRequest, context: grpc.ServicerContext
    ) -> pb.CompleteTransferResponse:
        contact_id = _required(request.contact_id, "contact_id")
        applied = self._router().conversations.complete_warm_transfer(
            current_tenant(), contact_id, _required(request.agent_id, "agent_id"), request.reason
        )
        return pb.CompleteTransferResponse(contact_id=contact_id, agent_id=applied.after.contact.agent_id)

    @_answers_refusals
    def CancelTransfer(  # noqa: N802
        self, request: pb.CancelTransferRequest, context: grpc.ServicerContext
    ) -> pb.CancelTransferResponse:
        self._router().conversations.cancel_warm_transfer(
            current_tenant(),
            _required(request.contact_id, "contact_id"),
            _required(request.agent_id, "agent_id"),
        )
        return pb.CancelTransferResponse()

    @_answers_refusals
    def EndContact(  # noqa: N802
        self, request: pb.EndContactRequest, context: grpc.ServicerContext
    ) -> pb.EndContactResponse:
        # The agent is optional: a gateway reports a hang-up without knowing who answered.
        applied = self._router().conversations.end(
            current_tenant(), _required(request.contact_id, "contact_id"), request.agent_id
        )
        response = pb.EndContactResponse()
        wrap_up_until = applied.after.contact.wrap_up_until
        if wrap_up_until is not None:
            response.after_contact_work_until.CopyFrom(timestamp(wrap_up_until))
        return response

    @_answers_refusals
    def CompleteContact(  # noqa: N802
        self, request: pb.CompleteContactRequest, context: grpc.ServicerContext
    ) -> pb.CompleteContactResponse:
        applied = self._router().conversations.complete(
            current_tenant(),
            _required(request.contact_id, "contact_id"),
            _required(request.agent_id, "agent_id"),
            request.disposition_code,
            ticket_id=request.ticket_id,
        )
        return _handle_times(applied.after.contact)

    @_answers_refusals
    def AbandonContact(  # noqa: N802
        self, request: pb.AbandonContactRequest, context: grpc.ServicerContext
    ) -> pb.AbandonContactResponse:
        router = self._router()
        # `reason` is not kept: ContactAbandoned has no field for it, and nothing decides on it.
        applied = router.waiting.abandon(current_tenant(), _required(request.contact_id, "contact_id"))
        contact = applied.after.contact
        assert contact.finished_at is not None  # an abandoned contact has finished
        queue = router.core.queue_of(contact)
        window = queue.resume_window if queue else timedelta(0)
        return pb.AbandonContactResponse(resumable_until=timestamp(contact.finished_at + window))

    @_answers_refusals
    def RequestCallback(  # noqa: N802
        self, request: pb.RequestCallbackRequest, context: grpc.ServicerContext
    ) -> pb.RequestCallbackResponse:
        scheduled_for = from_timestamp(request.scheduled_for) if request.HasField("scheduled_for") else None
        waiting = self._router().waiting
        tenant = current_tenant()
        applied = waiting.request_callback(
            tenant,
            _required(request.contact_id, "contact_id"),
            callback_number=request.callback_number,
            scheduled_for=scheduled_for,
        )
        spawned = applied.step.outcome.spawned
        if spawned is None:
            callback_id = applied.after.contact.callback_contact_id
            return pb.RequestCallbackResponse(
                callback_contact_id=callback_id, position=waiting.position_of(tenant, callback_id)
            )
        response = pb.RequestCallbackResponse(callback_contact_id=spawned.contact_id)
        queued = _queued_event(applied, spawned.contact_id)
        if queued is not None:
            response.position = queued.position
            if queued.HasField("estimated_wait"):
                response.estimated_wait.CopyFrom(queued.estimated_wait)
        return response

    @_answers_refusals
    def GetQueueStatus(  # noqa: N802
        self, request: pb.GetQueueStatusRequest, context: grpc.ServicerContext
    ) -> pb.GetQueueStatusResponse:
        router = self._router()
        queue = router.core.require_queue(current_tenant(), _required(request.queue_id, "queue_id"))
        now = router.core.now()
        return pb.GetQueueStatusResponse(
            queue_id=queue.queue_id,
            department=DEPARTMENT_TO_PROTO[queue.department],
            channels=[_channel_status(status) for status in channel_statuses(router.core, queue, now)],
            as_of=timestamp(now),
        )


def registration(
    router: Callable[[], Router], streams: OfferStreams | None = None
) -> Callable[[grpc.Server], None]:
    """What `ServiceRuntime.add_grpc` calls to add the servicer to its server; `streams` caps its
    offer streams (DEFAULT_OFFER_STREAMS by default)."""

    def register(server: grpc.Server) -> None:
        servicer = RouterServicer(router, streams or OfferStreams(DEFAULT_OFFER_STREAMS))
        router_service_pb2_grpc.add_RouterServiceServicer_to_server(servicer, server)

    return register
