"""The simulated centre through a minute without Redis, then a minute without the Kafka broker
(issue 16, "Nothing brings it down"): all four services as processes on a Redis and a broker of the
test's own, the centre running; Redis stopped for OUTAGE_S and started again (its AOF keeps what
it acknowledged), then, once the platform has worked off what waited, the broker the same way. An
outage ends, for this test, when every service is ready again and every consumer group has handled
what the log held once the outboxes were relayed: after the broker's restart that takes its
session timeout longer, as each group waits for its members' old sessions to expire.

Throughout, no service process exits or has a worker fail, and nothing reaches a `*.dlq` topic or
an outbox's `<stream>:dead`. Each outage makes every service unready and each recovery ready
again; while Redis is away, REST calls are answered 503 problem+json with a Retry-After, and the
same calls are answered once it is back.

The simulator rides the outages out as a well-behaved client (helpline.simulation.retry): it makes
a refused call again until the platform answers, so its ledger still says what its people did, each
act once, and no call is refused for a domain reason. Compared with the ledger after the recovery:

- Exactly, through the metrics service in Prometheus: contacts queued, answered, abandoned and
  completed per queue and channel, self-served contacts, callbacks per queue, the survey answers
  (CSAT satisfied or not, NPS by category, CES count and sum), tickets created, solved and solved
  on the first contact. Each is a count of events: a lost one is missing, one counted twice is in
  excess.
- Exactly, through the tickets API: the tenant's tickets are the ledger's, none missing and none
  made twice by a retried CreateTicket, each solved (or closed) only if the ledger solved it, with
  as many public agent replies and customer comments as the ledger's people wrote (a retried
  AddComment must not add one twice).
- The SLA events on Kafka: each ticket's two targets applied once; fulfilled exactly for the targets
  the ledger ended; no subject warned, breached, fulfilled or applied by two distinct events (a
  record the relay published twice is one event, with one id); no event for a ticket or queued
  contact the ledger does not know; the metrics service counted each event once. Whether a
  target was warned or breached is compared as exactly as tests/e2e/test_simulation.py does, but
  only for what ran wholly outside the outages and SETTLE_S after each: across one, the SLA
  service's timers and the replies they race are held up unequally, so which came first is the
  outage's doing.
- Not compared: waits and handle times, and the KPIs made of them (ASA, AHT, service level,
  occupancy). The simulator's clock runs on through an outage while the platform's acts wait: a
  call made during the Redis outage is answered a minute later, an arrival published during the
  Kafka outage reaches the router a minute late. Only counts and identities can hold.

At 5x, an outage is five simulated minutes: callers (three minutes' patience on average) mostly
hang up, chatters (ten) mostly hold on, emails always do.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
import redis
from kafka import KafkaConsumer, TopicPartition

from helpline.outbox import dead_letter_stream
from helpline.simulation.floor import Floor
from helpline.simulation.runner import Simulation
from helpline.simulation.scenario import (
    AgentGroup,
    ChannelLoad,
    Duration,
    QueueSpec,
    Scenario,
    SelfService,
    Surveys,
    Tickets,
)
from helpline.simulation.truth import ContactTruth, TicketTruth
from helpline.topics import CATALOG
from helpline.v1 import common_pb2, ticket_service_pb2, ticket_service_pb2_grpc
from services.metrics import app as metrics_app
from services.router import consumers as router_consumers
from services.router.store import OUTBOX_STREAM as ROUTER_OUTBOX
from services.sla import consumers as sla_consumers
from services.sla.store import OUTBOX_STREAM as SLA_OUTBOX
from services.tickets import consumers as tickets_consumers
from services.tickets.store import OUTBOX_STREAM as TICKETS_OUTBOX
from tests.e2e.platform import (
    Platform,
    SlaEvents,
    Slot,
    counted,
    eventually,
    kinds,
    running_platform,
    wait_for_queues,
)
from tests.e2e.prometheus import Prometheus
from tests.integration.helpers import wait_until
from tests.integration.private_stack import PrivateStack
from tests.integration.service_process import ServiceProcess

pytestmark = pytest.mark.integration

OUTAGE_S = 60.0
# The centre runs this long before the first outage (time for tickets and waits to run their whole
# course clear of any outage), and between one recovery and the next outage.
BEFORE_S = 35.0
BETWEEN_S = 20.0
# SLA alerts are compared only for what ran wholly outside each outage widened by this on both
# sides: an end just before the stop may not have reached the SLA service yet, and its timers are
# polled.
SETTLE_S = 2.0
SLA_TOLERANCE_S = 0.3
# Simulated seconds: far above any wrap-up, stretched by an outage or not, so the router never
# closes one itself.
WRAP_UP_TIMEOUT_S = 3600
OUTBOXES = (ROUTER_OUTBOX, TICKETS_OUTBOX, SLA_OUTBOX)
CONSUMERS = {
    module.GROUP: module.TOPICS
    for module in (router_consumers, tickets_consumers, sla_consumers, metrics_app)
}
REST_CHECKS = {
    "router": "/v1/queues/out-voice",
    "tickets": "/v1/tickets",
    "sla": "/v1/sla/policies/simulated-tickets",
}


def scenario(tenant: str) -> Scenario:
    """Arrivals for 16.8 simulated minutes at 5x (202 s: through both outages, until the broker is
    back), then up to 2.4 minutes of drain: voice busy enough to queue, abandon and take callbacks,
    some calls held or handed off to support, chat, a bot that keeps half its conversations, emails
    every 20 s as tickets held to a first reply in 60 s and a resolution in 120 s and answered
    quickly (so that some run their course before the first outage), some pending until the
    customer writes back, some on hold, half of the solved closed; surveys."""
    queue = {"wrap_up_timeout_s": WRAP_UP_TIMEOUT_S, "service_level_threshold_s": 40}
    return Scenario(
        seed=16,
        tenant=tenant,
        hours=0.28,
        speed=5,
        drain_h=0.04,
        curve=(1.0,) * 24,
        channels={
            "voice": ChannelLoad(
                per_hour=100, queue="out-voice", patience_mean_s=180, handle=Duration(mean_s=60),
                hold_rate=0.3, transfer_rate=0.3, transfer_to="out-support-voice", callback_acceptance=0.3,
            ),
            "chat": ChannelLoad(
                per_hour=60, queue="out-chat", patience_mean_s=600, handle=Duration(mean_s=90)
            ),
            "email": ChannelLoad(per_hour=180, queue="out-email", handle=Duration(mean_s=30)),
        },
        queues={
            "out-voice": QueueSpec(callback_threshold_s=20, **queue),
            "out-chat": QueueSpec(**queue),
            "out-email": QueueSpec(department="support", **queue),
            "out-support-voice": QueueSpec(department="support", required_skills={"technical": 2}, **queue),
        },
        self_service=SelfService(
            per_hour=60, contained=0.5, escalate_to="out-chat", conversation=Duration(mean_s=30),
            patience_mean_s=600, handle=Duration(mean_s=90),
        ),
        agents=(
            AgentGroup(
                name="voice", count=3, queues=("out-voice",), capacity={"voice": 1},
                shift_start_h=0, shift_end_h=24, reject_rate=0.05, miss_rate=0.05,
            ),
            AgentGroup(
                name="support", count=1, queues=("out-support-voice",), capacity={"voice": 1},
                skills={"technical": 3}, shift_start_h=0, shift_end_h=24, reject_rate=0.0, miss_rate=0.0,
            ),
            AgentGroup(
                name="digital", count=2, queues=("out-chat",), capacity={"chat": 1},
                shift_start_h=0, shift_end_h=24, reject_rate=0.05, miss_rate=0.0,
            ),
            AgentGroup(
                name="email", count=4, queues=("out-email",), capacity={"email": 1},
                shift_start_h=0, shift_end_h=24, reject_rate=0.0, miss_rate=0.0,
            ),
        ),
        tickets=Tickets(
            channels=("email",), first_reply_target_s=60, resolution_target_s=120, pending_rate=0.3,
            customer_reply=Duration(mean_s=30), on_hold_rate=0.2, third_party=Duration(mean_s=30),
            close_rate=0.5,
        ),
        surveys=Surveys(response_rate=0.5),
    )  # fmt: skip


@dataclass(frozen=True)
class Outage:
    """A dependency away, on the run's clock: from its stop until the platform had worked off what
    waited for it."""

    began_s: float
    ended_s: float

    def disturbs(self, start_s: float, end_s: float) -> bool:
        """Whether something that ran from `start_s` to `end_s` came near the outage."""
        return start_s <= self.ended_s + SETTLE_S and end_s + SETTLE_S >= self.began_s


@pytest.fixture
def platform(private_stack: PrivateStack, unique: str, tmp_path: Path) -> Iterator[Platform]:
    private_stack.start("redis")
    private_stack.start("kafka")
    with running_platform(
        private_stack.redis_url, private_stack.kafka_bootstrap, f"sim{unique}", unique, tmp_path
    ) as running:
        yield running


@contextmanager
def playing(sim: Simulation) -> Iterator[Future[Floor]]:
    """The run, on a loop of its own in another thread, while the test pulls the dependencies."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="simulation", daemon=True)
    thread.start()
    played = asyncio.run_coroutine_threadsafe(sim.run(), loop)
    try:
        yield played
    finally:
        played.cancel()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        if not thread.is_alive():
            loop.close()


@pytest.mark.timeout(600)
def test_the_centre_rides_out_a_minute_without_redis_and_one_without_kafka(
    platform: Platform, private_stack: PrivateStack, unique: str
) -> None:
    tenant = f"sim{unique}"
    sim = Simulation(scenario(tenant), platform.connections)
    outages = []
    try:
        sim.configure()
        wait_for_queues(platform.prometheus, tenant, {("out-voice", "voice"), ("out-chat", "chat")})
        with playing(sim) as played:
            wait_until(lambda: sim.floor.arrived > 0, what="the first customer")
            time.sleep(BEFORE_S)
            outages.append(pull("redis", platform, private_stack, sim))
            time.sleep(BETWEEN_S)
            outages.append(pull("kafka", platform, private_stack, sim))
            played.result(timeout=300)
    finally:
        sim.close()
    assert sim.problems == []
    assert_nothing_exited_or_failed(platform)
    # What the run's last acts emitted reaches the metrics service, Prometheus (a scrape a second)
    # and the tickets service a moment after the run: the comparisons are made again meanwhile.
    eventually(lambda: assert_counts(platform.prometheus, tenant, sim), timeout=60)
    eventually(lambda: assert_tickets(platform, sim), timeout=60)
    with SlaEvents(platform.connections.kafka_bootstrap, tenant) as alerts:
        eventually(lambda: assert_sla_events(alerts, sim, outages), timeout=60)
        assert_sla_counted_once(platform.prometheus, tenant, alerts)
    assert_nothing_dead_lettered(private_stack)
    assert_nothing_exited_or_failed(platform)


def pull(dependency: str, platform: Platform, private_stack: PrivateStack, sim: Simulation) -> Outage:
    """Stop `dependency` for OUTAGE_S under the running centre, checking the services meanwhile,
    then start it again; back when every service is ready and has worked off what waited."""
    began = sim.clock.now()
    private_stack.stop(dependency)
    services = platform.services.values()
    wait_until(
        lambda: all(readiness(s) == 503 for s in services),
        timeout=30,
        what=f"every service unready without {dependency}",
    )
    if dependency == "redis":
        assert_rest_refused(platform)
    time.sleep(max(0.0, began + OUTAGE_S - sim.clock.now()))
    assert_nothing_exited_or_failed(platform)
    private_stack.start(dependency)
    wait_until(
        lambda: all(readiness(s) == 200 for s in services),
        timeout=120,
        what=f"every service ready again with {dependency} back",
    )
    if dependency == "redis":
        assert_rest_answered(platform)
    work_off(private_stack)
    return Outage(began, sim.clock.now())


def work_off(private_stack: PrivateStack) -> None:
    """Until the relays have published what the outboxes held, and every consumer group has handled
    what the log held then (after a broker restart, a group waits for its members' old sessions to
    time out before it consumes again)."""
    store = redis.Redis.from_url(private_stack.redis_url)
    try:
        wait_until(
            lambda: all(store.xlen(stream) == 0 for stream in OUTBOXES),
            timeout=60,
            what="the outboxes relayed",
        )
    finally:
        store.close()
    readers = {
        group: KafkaConsumer(
            bootstrap_servers=private_stack.kafka_bootstrap, group_id=group, enable_auto_commit=False
        )
        for group in CONSUMERS
    }
    try:
        ends = {
            group: reader.end_offsets(
                [TopicPartition(t, p) for t in CONSUMERS[group] for p in reader.partitions_for_topic(t) or ()]
            )
            for group, reader in readers.items()
        }
        wait_until(
            lambda: all(
                (readers[group].committed(tp) or 0) >= end
                for group, offsets in ends.items()
                for tp, end in offsets.items()
            ),
            timeout=120,
            what="every consumer group to work off its backlog",
        )
    finally:
        for reader in readers.values():
            reader.close()


def readiness(service: ServiceProcess) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{service.port}/readyz", timeout=10).status_code
    except httpx.HTTPError:
        return None


def _rest(platform: Platform, name: str) -> httpx.Response:
    service = platform.services[name]
    return httpx.get(
        f"http://127.0.0.1:{service.port}{REST_CHECKS[name]}",
        headers={"X-API-Key": platform.connections.api_key},
        timeout=30,
    )


def assert_rest_refused(platform: Platform) -> None:
    for name in REST_CHECKS:
        refused = _rest(platform, name)
        assert refused.status_code == 503, (name, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json"), name
        assert int(refused.headers["retry-after"]) >= 1, name
        assert refused.json()["status"] == 503, name


def assert_rest_answered(platform: Platform) -> None:
    for name in REST_CHECKS:
        answered = _rest(platform, name)
        assert answered.status_code == 200, (name, answered.text)


def assert_nothing_exited_or_failed(platform: Platform) -> None:
    for service in platform.services.values():
        assert service.process is not None
        assert service.process.poll() is None, f"{service.name} exited; see {service.log}"
        assert "worker failed" not in service.log.read_text(), f"a worker of {service.name} failed"


def assert_counts(prometheus: Prometheus, tenant: str, sim: Simulation) -> None:
    """Every contact, survey and ticket the centre lived, counted once by the metrics service."""
    ledger = sim.floor.ledger
    truth = ledger.figures(sim.thresholds())
    queued = {slot: float(seen.queued) for slot, seen in truth.queues.items()}

    def count(name: str, known: dict[Slot, float]) -> dict[Slot, float]:
        return counted(prometheus, name, tenant, known)

    assert count("helpline_contacts_queued_total", queued) == queued
    assert count("helpline_contacts_answered_total", queued) == {
        slot: float(seen.answered) for slot, seen in truth.queues.items()
    }
    assert count("helpline_contacts_abandoned_total", queued) == {
        slot: float(seen.abandoned) for slot, seen in truth.queues.items()
    }
    completed = Counter((t.completed_queue, t.channel) for t in ledger.contacts.values() if t.handled)
    assert count("helpline_contacts_completed_total", queued) == {
        slot: float(completed[slot]) for slot in queued
    }
    assert_totals(prometheus, tenant, sim)


def ticketless(sim: Simulation) -> set[str]:
    """The contacts completed without a ticket of the simulator's: the tickets service opens one
    for each as it completes."""
    return {c for c, truth in sim.floor.ledger.contacts.items() if truth.handled and c not in sim.ticket_of}


def assert_totals(prometheus: Prometheus, tenant: str, sim: Simulation) -> None:
    ledger = sim.floor.ledger

    def total(name: str, **labels: str) -> float:
        selector = ",".join(f'{label}="{value}"' for label, value in {"tenant": tenant, **labels}.items())
        return sum(prometheus.values(f"sum({name}{{{selector}}})"))

    contacts = ledger.contacts.values()
    self_served = sum(t.self_served for t in contacts)
    callbacks = sum(1 for t in contacts if t.callback)
    assert self_served > 0
    assert total("helpline_contacts_self_served_total") == self_served
    assert total("helpline_callbacks_scheduled_total") == callbacks
    surveys = [t.survey for t in contacts if t.survey is not None]
    assert surveys
    satisfied = sum(1 for s in surveys if s.csat >= 4)
    assert total("helpline_csat_responses_total", satisfied="true") == satisfied
    assert total("helpline_csat_responses_total", satisfied="false") == len(surveys) - satisfied
    assert total("helpline_nps_responses_total", category="promoter") == sum(1 for s in surveys if s.nps >= 9)
    assert total("helpline_nps_responses_total", category="detractor") == sum(
        1 for s in surveys if s.nps <= 6
    )
    assert total("helpline_ces_responses_total") == len(surveys)
    assert total("helpline_ces_score_total") == sum(s.ces for s in surveys)
    solved = [t for t in ledger.tickets.values() if t.solved_at is not None]
    assert solved
    assert total("helpline_tickets_created_total") == len(ledger.tickets) + len(ticketless(sim))
    assert total("helpline_tickets_solved_total") == len(solved)
    assert total("helpline_tickets_solved_first_contact_total") == sum(1 for t in solved if t.contacts == 1)


def assert_tickets(platform: Platform, sim: Simulation) -> None:
    """The tenant's tickets, read from the tickets service: the ledger's, each as its people left
    it, and one for each contact completed without one."""
    metadata = (("x-api-key", platform.connections.api_key),)
    with grpc.insecure_channel(platform.connections.tickets_grpc) as channel:
        stub = ticket_service_pb2_grpc.TicketServiceStub(channel)
        found: dict[str, ticket_service_pb2.GetTicketResponse] = {}
        token = ""
        while True:
            page = stub.ListTickets(
                ticket_service_pb2.ListTicketsRequest(page_size=100, page_token=token), metadata=metadata
            )
            for ticket in page.tickets:
                found[ticket.ticket_id] = stub.GetTicket(
                    ticket_service_pb2.GetTicketRequest(ticket_id=ticket.ticket_id, include_comments=True),
                    metadata=metadata,
                )
            token = page.next_page_token
            if not token:
                break
    ledger = sim.floor.ledger
    assert set(ledger.tickets) <= set(found)
    for ticket_id, truth in ledger.tickets.items():
        assert lived(found[ticket_id]) == written(truth), ticket_id
    opened_for = Counter(
        tuple(answer.ticket.contact_ids)
        for ticket_id, answer in found.items()
        if ticket_id not in ledger.tickets
    )
    assert opened_for == Counter((contact_id,) for contact_id in ticketless(sim))


def lived(answer: ticket_service_pb2.GetTicketResponse) -> tuple[bool, int, int]:
    """Solved (or closed) or not, then the public agent replies and customer comments after the
    first comment (the description the ticket was opened with)."""
    assert not answer.next_comments_page_token
    authors = Counter(c.author_type for c in answer.comments[1:] if c.public)
    solved = answer.ticket.status in (common_pb2.TICKET_STATUS_SOLVED, common_pb2.TICKET_STATUS_CLOSED)
    return solved, authors[common_pb2.AUTHOR_TYPE_AGENT], authors[common_pb2.AUTHOR_TYPE_CUSTOMER]


def written(truth: TicketTruth) -> tuple[bool, int, int]:
    # The customer wrote back once for each contact after the first.
    return truth.solved_at is not None, truth.replies, truth.contacts - 1


def contact_span(truth: ContactTruth, now: float) -> tuple[float, float]:
    """From queueing to the last time the contact left a queue, or now if it still waits."""
    assert truth.queued_at is not None
    if truth.waiting():
        return truth.queued_at, now
    left = [truth.answered_at, truth.abandoned_at, truth.called_back_at]
    left += [instant for leg in truth.legs for instant in (leg.since, leg.answered_at, leg.abandoned_at)]
    return truth.queued_at, max(instant for instant in left if instant is not None)


def ticket_span(truth: TicketTruth, metric: str, now: float) -> tuple[float, float]:
    end = truth.replied_at if metric == "first_reply" else truth.solved_at
    return truth.opened_at, now if end is None else end


def assert_sla_events(alerts: SlaEvents, sim: Simulation, outages: list[Outage]) -> None:
    alerts.read()
    assert alerts.duplicates() == {}
    tickets = sim.scenario.tickets
    assert tickets is not None
    ledger = sim.floor.ledger
    now = sim.clock.now()
    targets = {
        "first_reply": sim.scenario.real_s(tickets.first_reply_target_s),
        "requester_wait": sim.scenario.real_s(tickets.resolution_target_s),
    }
    expected = ledger.ticket_slas(targets, tickets.warn_percent / 100, now)
    assert alerts.applied() == set(expected)
    assert set(alerts.tickets) <= set(expected)
    fulfilled = {key for key, kinds_ in alerts.tickets.items() if "fulfilled" in kinds_}
    assert fulfilled == {key for key, e in expected.items() if e.fulfilled}

    def calm(span: tuple[float, float]) -> bool:
        return not any(outage.disturbs(*span) for outage in outages)

    clear = {
        key: kinds(e)
        for key, e in expected.items()
        if e.margin_s > SLA_TOLERANCE_S and calm(ticket_span(ledger.tickets[key[0]], key[1], now))
    }
    assert clear, "no ticket target ran clear of the outages and of its warning and deadline"
    assert {key: alerts.tickets.get(key, set()) for key in clear} == clear
    watched = ledger.queue_watches(sim.thresholds(), ("voice", "chat", "social"), 0.75, now)
    assert set(alerts.contacts) <= set(watched)
    clear_watches = {
        key: kinds(e)
        for key, e in watched.items()
        if e.margin_s > SLA_TOLERANCE_S and calm(contact_span(ledger.contacts[key[0]], now))
    }
    assert clear_watches, "no wait ran clear of the outages and of its warning and deadline"
    assert {key: alerts.contacts.get(key, set()) for key in clear_watches} == clear_watches


def assert_sla_counted_once(prometheus: Prometheus, tenant: str, alerts: SlaEvents) -> None:
    """The metrics service counted each SLA event on the topic once."""
    events = Counter((subject, kind) for (subject, *_key, kind) in alerts.ids)
    expected = {
        "helpline_sla_applied_total": events["ticket", "applied"],
        "helpline_sla_warned_total": events["ticket", "warned"],
        "helpline_sla_breached_total": events["ticket", "breached"],
        "helpline_sla_fulfilled_total": events["ticket", "fulfilled"],
        "helpline_sla_queue_warned_total": events["contact", "warned"],
        "helpline_sla_queue_breached_total": events["contact", "breached"],
    }

    def check() -> None:
        found = {name: sum(prometheus.values(f'sum({name}{{tenant="{tenant}"}})')) for name in expected}
        assert found == expected

    eventually(check)


def assert_nothing_dead_lettered(private_stack: PrivateStack) -> None:
    """No record in any dead-letter topic of the catalog, and no outbox entry moved aside."""
    consumer = KafkaConsumer(bootstrap_servers=private_stack.kafka_bootstrap)
    try:
        dlqs = {spec.dlq for spec in CATALOG}
        assert dlqs <= consumer.topics()
        partitions = [
            TopicPartition(topic, p)
            for topic in sorted(dlqs)
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        dead = {tp: end for tp, end in consumer.end_offsets(partitions).items() if end}
        assert dead == {}
    finally:
        consumer.close()
    store = redis.Redis.from_url(private_stack.redis_url)
    try:
        for stream in (ROUTER_OUTBOX, TICKETS_OUTBOX, SLA_OUTBOX):
            assert store.exists(stream), stream
            assert not store.exists(dead_letter_stream(stream)), stream
    finally:
        store.close()
