"""What the end-to-end tests hold a platform to after a run of the simulated centre through
trouble (outages, faults, failovers): the simulator's ledger against the KPIs in Prometheus, the
tickets service's records and the SLA events on Kafka; nothing dead-lettered, no service exited.
See tests/e2e/test_outages_under_load.py for what each comparison holds and why."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import grpc
import httpx
import redis

from helpline.kafka import clients
from helpline.kafka.reading import partitions
from helpline.outbox import dead_letter_stream
from helpline.topics import CATALOG
from helpline.v1 import common_pb2, ticket_service_pb2, ticket_service_pb2_grpc
from services.metrics import app as metrics_app
from services.notify import consumer as notify_consumer
from services.notify.store import OUTBOX_STREAM as NOTIFY_OUTBOX
from services.router import consumers as router_consumers
from services.router.storage.store import OUTBOX_STREAM as ROUTER_OUTBOX
from services.sla import consumers as sla_consumers
from services.sla.store import OUTBOX_STREAM as SLA_OUTBOX
from services.tickets import consumers as tickets_consumers
from services.tickets.store import OUTBOX_STREAM as TICKETS_OUTBOX
from simulator.floor import Floor
from simulator.runner import Simulation
from simulator.truth import ContactTruth, TicketTruth
from tests.e2e.platform import Over, Platform, SlaEvents, as_is, counted, eventually, kinds, wait_for_queues
from tests.e2e.prometheus import Prometheus
from tests.integration.helpers import wait_committed, wait_until
from tests.integration.service_process import ServiceProcess

K = TypeVar("K")

# SLA alerts are compared only for what ran wholly outside each outage widened by this on both
# sides: an end just before the stop may not have reached the SLA service yet, and its timers are
# polled.
SETTLE_S = 2.0
SLA_TOLERANCE_S = 0.3
OUTBOXES = (ROUTER_OUTBOX, TICKETS_OUTBOX, SLA_OUTBOX, NOTIFY_OUTBOX)
CONSUMERS = {
    module.GROUP: module.TOPICS
    for module in (router_consumers, tickets_consumers, sla_consumers, metrics_app, notify_consumer)
}


@dataclass(frozen=True)
class Outage:
    """A dependency away, on the run's clock: from its stop until the platform had worked off what
    waited for it."""

    began_s: float
    ended_s: float

    def disturbs(self, start_s: float, end_s: float) -> bool:
        """Whether something that ran from `start_s` to `end_s` came near the outage."""
        return start_s <= self.ended_s + SETTLE_S and end_s + SETTLE_S >= self.began_s


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


@contextmanager
def centre_running(sim: Simulation, platform: Platform, warm_up_s: float) -> Iterator[Future[Floor]]:
    """The scenario configured and its voice and chat queues' series in Prometheus from zero, then
    the run playing in another thread, past its first customer and `warm_up_s` more (time for
    tickets and waits to run their whole course before any trouble); the simulator closed after."""
    try:
        sim.configure()
        channels = sim.scenario.channels
        slots = {(channels[channel].queue, channel) for channel in ("voice", "chat")}
        wait_for_queues(platform.prometheus, sim.scenario.tenant, slots)
        with playing(sim) as played:
            wait_until(lambda: sim.floor.arrived > 0, what="the first customer")
            time.sleep(warm_up_s)
            yield played
    finally:
        sim.close()


def assert_ledger_held(
    platform: Platform, sim: Simulation, outages: list[Outage], redis_url: str, kafka_bootstrap: str
) -> None:
    """After a run through trouble: the simulator met no refusal, and the platform is held to its
    ledger (counts, tickets, SLA events and their counts), with nothing dead-lettered and no
    service exited. What the run's last acts emitted reaches the metrics service, Prometheus (a
    scrape a second) and the tickets service a moment after the run: the comparisons are made
    again meanwhile."""
    assert sim.problems == [], "\n".join(sim.problems)
    assert_nothing_exited_or_failed(platform)
    assert_surveys_delivered(sim)
    tenant = sim.scenario.tenant
    eventually(lambda: assert_counts(platform.prometheus, tenant, sim), timeout=60)
    eventually(lambda: assert_tickets(platform, sim), timeout=60)
    with SlaEvents(platform.connections.kafka_bootstrap, tenant) as alerts:
        eventually(lambda: assert_sla_events(alerts, sim, outages), timeout=60)
        assert_sla_counted_once(platform.prometheus, tenant, alerts)
    assert_nothing_dead_lettered(redis_url, kafka_bootstrap)
    assert_nothing_exited_or_failed(platform)


def work_off(redis_url: str, kafka_bootstrap: str) -> None:
    """Until the relays have published what the outboxes held, and every consumer group has handled
    what the log held then (after a broker restart, a group waits for its members' old sessions to
    time out before it consumes again)."""
    store = redis.Redis.from_url(redis_url)
    try:
        wait_until(
            lambda: all(store.xlen(stream) == 0 for stream in OUTBOXES),
            timeout=60,
            what="the outboxes relayed",
        )
    finally:
        store.close()
    probe = clients.consumer(kafka_bootstrap, "test-probe")
    try:
        held = {group: partitions(probe, topics) for group, topics in CONSUMERS.items()}
    finally:
        probe.close()
    for group, group_partitions in held.items():
        wait_committed(kafka_bootstrap, group, group_partitions, timeout=120)


def readiness(service: ServiceProcess) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{service.port}/readyz", timeout=10).status_code
    except httpx.HTTPError:
        return None


def assert_nothing_exited_or_failed(platform: Platform) -> None:
    for service in platform.services.values():
        assert service.process is not None
        assert service.process.poll() is None, f"{service.name} exited; see {service.log}"
        assert "worker failed" not in service.log.read_text(), f"a worker of {service.name} failed"


def across_restarts(range_s: int) -> Over:
    """The counter's increase over the last `range_s` seconds counted through restarts, exactly:
    each second's rise over the series' last sample before it (a scrape missed in between, the
    series stale meanwhile, counts nothing twice), or its whole value where a process started it
    anew (its `_created` time changed, or it fell: a restarted process counts from zero, and may
    have counted past the old value by its first scrape) or it had no sample before (a new series).
    `increase()` would extrapolate, and miss a restart whose count did not fall. `+ 0` drops the
    metric name, as the difference does, so that the two sides of `or` are one series."""

    def over(selector: str) -> str:
        created = selector.replace("_total{", "_created{", 1)
        anew = f"{created} != last_over_time({created}[1m] offset 1s)"
        rise = f"({selector} - last_over_time({selector}[1m] offset 1s)) >= 0 unless {anew}"
        return f"sum_over_time((({rise}) or {selector} + 0)[{range_s}s:1s])"

    return over


@dataclass(frozen=True)
class Tally:
    """One figure as the metrics service counted it and as the ledger says it should be."""

    what: str
    found: float
    expected: float


def tallies(prometheus: Prometheus, tenant: str, sim: Simulation, over: Over = as_is) -> list[Tally]:
    """Every contact, survey and ticket count of the centre: the metrics service's, and the
    ledger's. Per queue and channel, each slot one tally."""
    ledger = sim.floor.ledger
    truth = ledger.figures(sim.thresholds())
    queued = {slot: float(seen.queued) for slot, seen in truth.queues.items()}
    completed = Counter((t.completed_queue, t.channel) for t in ledger.contacts.values() if t.handled)
    per_slot = {
        "helpline_contacts_queued_total": queued,
        "helpline_contacts_answered_total": {s: float(seen.answered) for s, seen in truth.queues.items()},
        "helpline_contacts_abandoned_total": {s: float(seen.abandoned) for s, seen in truth.queues.items()},
        "helpline_contacts_completed_total": {slot: float(completed[slot]) for slot in queued},
    }
    found: list[Tally] = []
    for name, expected in per_slot.items():
        counts = counted(prometheus, name, tenant, queued, over)
        found.extend(
            Tally(f"{name}{{queue={q},channel={c}}}", counts.get((q, c), 0.0), expected.get((q, c), 0.0))
            for q, c in sorted(set(counts) | set(expected))
        )

    def total(name: str, expected: float, **labels: str) -> None:
        selector = ",".join(f'{label}="{value}"' for label, value in {"tenant": tenant, **labels}.items())
        shown = ",".join(f"{label}={value}" for label, value in labels.items())
        got = sum(prometheus.values(f"sum({over(f'{name}{{{selector}}}')})"))
        found.append(Tally(f"{name}{{{shown}}}", got, float(expected)))

    contacts = ledger.contacts.values()
    total("helpline_contacts_self_served_total", sum(t.self_served for t in contacts))
    total("helpline_callbacks_scheduled_total", sum(1 for t in contacts if t.callback))
    csat, nps, ces = ledger.answers("csat"), ledger.answers("nps"), ledger.answers("ces")
    satisfied = sum(1 for score in csat if score >= 4)
    total("helpline_csat_responses_total", satisfied, satisfied="true")
    total("helpline_csat_responses_total", len(csat) - satisfied, satisfied="false")
    total("helpline_nps_responses_total", sum(1 for score in nps if score >= 9), category="promoter")
    total("helpline_nps_responses_total", sum(1 for score in nps if score <= 6), category="detractor")
    total("helpline_ces_responses_total", len(ces))
    total("helpline_ces_score_total", sum(ces))
    solved = [t for t in ledger.tickets.values() if t.solved_at is not None]
    total("helpline_tickets_created_total", len(ledger.tickets) + len(ticketless(sim)))
    total("helpline_tickets_solved_total", len(solved))
    total("helpline_tickets_solved_first_contact_total", sum(1 for t in solved if t.contacts == 1))
    return found


def assert_counts(prometheus: Prometheus, tenant: str, sim: Simulation, over: Over = as_is) -> None:
    """Every contact, survey and ticket the centre lived, counted once by the metrics service."""
    contacts = sim.floor.ledger.contacts.values()
    assert any(t.self_served for t in contacts)
    assert any(survey.answers for survey in sim.floor.ledger.surveys.values())
    assert any(t.solved_at is not None for t in sim.floor.ledger.tickets.values())
    wrong = [tally for tally in tallies(prometheus, tenant, sim, over) if tally.found != tally.expected]
    assert wrong == []


def assert_surveys_delivered(sim: Simulation) -> None:
    """Every ticket the centre solved got exactly one survey request through the notify service's
    webhook (repeats of one delivery dropped by the receiver), and no other ticket got one: the
    tenant's survey settings, which the run set, ask on every solve without a throttle. A repeated
    request (a second event for one solve) counts twice."""
    ledger = sim.floor.ledger
    requests = ledger.survey_requests()
    assert ledger.solved_tickets(), "no ticket was solved"
    assert dict(requests) == dict.fromkeys(ledger.solved_tickets(), 1)
    for survey in ledger.surveys.values():
        planned = sim.planned[ledger.tickets[survey.ticket_id].contact_id].survey
        assert bool(survey.answers) == (planned is not None), survey.survey_id
        assert survey.kinds == sim.scenario.surveys.kinds, survey.survey_id


def ticketless(sim: Simulation) -> set[str]:
    """The contacts completed without a ticket of the simulator's: the tickets service opens one
    for each as it completes."""
    return {c for c, truth in sim.floor.ledger.contacts.items() if truth.handled and c not in sim.ticket_of}


def read_tickets(platform: Platform) -> dict[str, ticket_service_pb2.GetTicketResponse]:
    """The tenant's tickets in the tickets service, each with its comments."""
    metadata = (("x-api-key", platform.connections.keys.admin),)
    found: dict[str, ticket_service_pb2.GetTicketResponse] = {}
    with grpc.insecure_channel(platform.connections.tickets_grpc) as channel:
        stub = ticket_service_pb2_grpc.TicketServiceStub(channel)
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
                return found


def assert_tickets(platform: Platform, sim: Simulation) -> None:
    """The tenant's tickets, read from the tickets service: the ledger's, each as its people left
    it, and one for each contact completed without one."""
    found = read_tickets(platform)
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
    assert_alerts(alerts.tickets, clear)
    watched = ledger.queue_watches(sim.thresholds(), ("voice", "chat", "social"), 0.75, now)
    assert set(alerts.contacts) <= set(watched)
    clear_watches = {
        key: kinds(e)
        for key, e in watched.items()
        if e.margin_s > SLA_TOLERANCE_S and calm(contact_span(ledger.contacts[key[0]], now))
    }
    assert clear_watches, "no wait ran clear of the outages and of its warning and deadline"
    assert_alerts(alerts.contacts, clear_watches)


def assert_alerts(found: Mapping[K, set[str]], expected: Mapping[K, set[str]]) -> None:
    """Each subject alerted as expected; the message names those that were not (a `make chaos`
    run, outside pytest, has no assert rewriting to say it)."""
    wrong = {
        key: (found.get(key, set()), kinds_)
        for key, kinds_ in expected.items()
        if found.get(key, set()) != kinds_
    }
    assert not wrong, f"(found, expected) alerts: {wrong}"


def sla_tallies(prometheus: Prometheus, tenant: str, alerts: SlaEvents, over: Over = as_is) -> list[Tally]:
    """The SLA events on the topic as the metrics service counted them, and as they are."""
    events = Counter((subject, kind) for (subject, *_key, kind) in alerts.ids)
    expected = {
        "helpline_sla_applied_total": events["ticket", "applied"],
        "helpline_sla_warned_total": events["ticket", "warned"],
        "helpline_sla_breached_total": events["ticket", "breached"],
        "helpline_sla_fulfilled_total": events["ticket", "fulfilled"],
        "helpline_sla_queue_warned_total": events["contact", "warned"],
        "helpline_sla_queue_breached_total": events["contact", "breached"],
    }
    found = []
    for name, count in expected.items():
        selector = f'{name}{{tenant="{tenant}"}}'
        found.append(Tally(name, sum(prometheus.values(f"sum({over(selector)})")), float(count)))
    return found


def assert_sla_counted_once(
    prometheus: Prometheus, tenant: str, alerts: SlaEvents, over: Over = as_is
) -> None:
    """The metrics service counted each SLA event on the topic once."""

    def check() -> None:
        wrong = [t for t in sla_tallies(prometheus, tenant, alerts, over) if t.found != t.expected]
        assert wrong == []

    eventually(check)


def assert_nothing_dead_lettered(redis_url: str, kafka_bootstrap: str) -> None:
    """No record in any dead-letter topic of the catalog, and no outbox entry moved aside."""
    probe = clients.consumer(kafka_bootstrap, "test-probe")
    try:
        dlqs = sorted(spec.dlq for spec in CATALOG)
        held = partitions(probe, dlqs)
        assert {tp.topic for tp in held} == set(dlqs)
        dead = {tp: end for tp, end in probe.end_offsets(held).items() if end}
        assert dead == {}
    finally:
        probe.close()
    store = redis.Redis.from_url(redis_url)
    try:
        for stream in OUTBOXES:
            assert store.exists(stream), stream
            assert not store.exists(dead_letter_stream(stream)), stream
    finally:
        store.close()
