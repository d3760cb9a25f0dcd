"""Bytes each record of the router's Redis state costs, measured with MEMORY USAGE on the records
the engine itself writes, so operators can size Redis (docs/router.md, Retention).

    uv run python -m bench.router_memory [--agents 200] [--queues 4] [--contacts 2000]

One tenant: voice and chat queues with a required skill and an overflow step, agents serving two
queues each. The contacts first wait with every agent offline (index entries and timers of waiting
contacts), then the agents take them one by one: an offer, accepted, completed (offers, desk
entries, finished contacts, the customers' last agents). Each figure is the memory of every key of
one kind divided by the records it holds, so a sorted set's own overhead is shared among its
entries; with more than 128 entries a sorted set changes encoding and its entries cost more, so
keep the contacts per queue above that for the conservative figures. Uses HELPLINE_REDIS_URL when
set, else its own Redis; deletes its tenant afterwards. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from bench.redis_keys import unlink_matching
from bench.stack import bench_stack
from helpline.clock import FakeClock
from helpline.logging import configure_logging
from services.router.composition import Router
from services.router.domain.contact import ContactContext
from services.router.domain.model import (
    AgentStatus,
    Channel,
    OverflowStep,
    Priority,
    Queue,
    QueueMembership,
    RoutingProfile,
    SkillRequirement,
)
from services.router.storage.store import Keys
from services.router.storage.tenants import TENANTS
from services.router.usecases.configuration import AgentConfig
from services.router.usecases.intake import NewContact

START = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)
CHANNELS = (Channel.VOICE, Channel.CHAT)


@dataclass(frozen=True)
class Cost:
    what: str
    per: str
    records: int
    total_bytes: int

    @property
    def each(self) -> float:
        return self.total_bytes / self.records if self.records else 0.0


# Each kind of key: a pattern on the part after `rt:{tenant}:`.
KINDS: dict[str, str] = {
    "contact": r"contact:",
    "offer": r"offer:",
    "desk": r"desk:",
    "last-agent": r"last-agent:",
    "agent": r"agent:",
    "queue": r"queue:",
    "stats": r"stats:",
    "sigs": r"sigs:",
    "waiting (cq)": r"cq:",
    "ready (aq)": r"aq:",
    "members": r"members:",
    "staffed": r"staffed:",
    "state": r"state:",
    "depth": r"depth:",
    "timers": r"timers$",
}


def usage(client: redis.Redis, tenant: str) -> dict[str, tuple[int, int]]:
    """Per kind: (keys, bytes), each key's MEMORY USAGE with every element sampled."""
    base = f"{Keys(tenant).base}:"
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for raw in client.scan_iter(match=f"{base}*", count=1000):
        rest = raw.decode()[len(base) :]
        kind = next((name for name, pattern in KINDS.items() if re.match(pattern, rest)), "other")
        size: Any = client.memory_usage(raw, samples=0)
        found[kind][0] += 1
        found[kind][1] += int(size or 0)
    return {kind: (keys, size) for kind, (keys, size) in found.items()}


def entries(client: redis.Redis, tenant: str, kind: str) -> int:
    """Members of every sorted set (or entries of every stream) of a kind."""
    base = f"{Keys(tenant).base}:"
    count = 0
    for raw in client.scan_iter(match=f"{base}*", count=1000):
        if re.match(KINDS[kind], raw.decode()[len(base) :]):
            length: Any = client.xlen(raw) if kind == "desk" else client.zcard(raw)
            count += int(length)
    return count


def configure(router: Router, tenant: str, agents: int, queues: int) -> list[str]:
    catalog = router.catalog
    catalog.put_skill(tenant, "billing", "Invoices and refunds")
    queue_ids = [f"q{index:02d}" for index in range(queues)]
    for queue_id in queue_ids:
        catalog.put_queue(
            Queue(
                queue_id,
                tenant,
                f"Queue {queue_id}",
                frozenset(CHANNELS),
                required_skills=(SkillRequirement("billing", 2),),
                overflow_steps=(OverflowStep(timedelta(seconds=60), accept_any_agent=True),),
                max_wait=timedelta(hours=1),
            )
        )
    for index in range(agents):
        memberships = (
            QueueMembership(queue_ids[index % queues]),
            QueueMembership(queue_ids[(index + 1) % queues]),
        )
        profile = RoutingProfile(memberships, {Channel.VOICE: 1, Channel.CHAT: 1})
        catalog.put_agent(tenant, AgentConfig(f"agent-{index:05d}", {"billing": 3}, profile=profile))
    return queue_ids


def context(index: int) -> ContactContext:
    """What a telephony or chat gateway typically knows of a customer."""
    return ContactContext(
        customer_id=f"cust-{index:08d}",
        language="en-GB",
        intent="billing.refund",
        priority=Priority.NORMAL,
        ticket_id=f"T-{index:07d}",
        attributes={"plan": "gold", "order": f"{900000 + index}"},
        customer_address=f"+4420{index:08d}",
    )


def measure(client: redis.Redis, agents: int, queues: int, contacts: int) -> list[Cost]:
    tenant = f"bench-memory-{uuid.uuid4().hex[:8]}"
    try:
        return _measure(client, tenant, agents, queues, contacts)
    finally:
        unlink_matching(client, f"{Keys(tenant).base}:*")
        client.srem(TENANTS, tenant)


def _measure(client: redis.Redis, tenant: str, agents: int, queues: int, contacts: int) -> list[Cost]:
    clock = FakeClock(START)
    router = Router(client, clock)
    queue_ids = configure(router, tenant, agents, queues)
    agent_ids = [f"agent-{index:05d}" for index in range(agents)]
    costs: list[Cost] = []

    def set_all(status: AgentStatus) -> None:
        for agent_id in agent_ids:
            router.agents.set_status(tenant, agent_id, status)

    set_all(AgentStatus.AVAILABLE)
    idle = usage(client, tenant)
    indexed = sum(idle[kind][1] for kind in ("ready (aq)", "members", "staffed", "state"))
    costs += [
        Cost("queue record", "queue", queues, idle["queue"][1]),
        Cost("requirement signatures (sigs)", "queue", queues, idle["sigs"][1]),
        Cost("agent record", "agent", agents, idle["agent"][1]),
        Cost("index entries of an idle agent (aq, members, staffed, state)", "agent", agents, indexed),
    ]
    set_all(AgentStatus.OFFLINE)
    for index in range(contacts):
        channel = CHANNELS[index % 2]
        queue_id = queue_ids[index % queues]
        new = NewContact(channel, queue_id=queue_id, contact_id=f"c{index:07d}", context=context(index))
        router.intake.submit(tenant, new)
    waiting = usage(client, tenant)
    costs += [
        Cost("contact record, waiting", "contact", contacts, waiting["contact"][1]),
        Cost("depth entry", "waiting contact", entries(client, tenant, "depth"), waiting["depth"][1]),
        Cost(
            "waiting entry (cq)",
            "waiting contact",
            entries(client, tenant, "waiting (cq)"),
            waiting["waiting (cq)"][1],
        ),
        Cost(
            "timer entry (2 a waiting contact)",
            "timer",
            entries(client, tenant, "timers"),
            waiting["timers"][1],
        ),
    ]
    set_all(AgentStatus.AVAILABLE)
    served = 0
    while offered := [record for record in router.store.agents(tenant, agent_ids) if record.offer]:
        for record in offered:
            assert record.offer is not None
            contact_id = record.offer.contact_id
            router.answers.accept(tenant, record.agent.agent_id, record.offer.offer_id)
            router.conversations.complete(tenant, contact_id, record.agent.agent_id, "refund-issued")
            served += 1
    assert served == contacts, f"{served} of {contacts} contacts served"
    done = usage(client, tenant)
    return [
        *costs,
        Cost("contact record, finished", "finished contact", contacts, done["contact"][1]),
        Cost("offer id", "offer", done["offer"][0], done["offer"][1]),
        Cost("desk entry", "offer", entries(client, tenant, "desk"), done["desk"][1]),
        Cost("desk stream (at most ~100 entries)", "agent", done["desk"][0], done["desk"][1]),
        Cost("last agent of a customer", "customer", done["last-agent"][0], done["last-agent"][1]),
        Cost("handle-time average (stats)", "queue", queues, done["stats"][1]),
    ]


def markdown(costs: Iterable[Cost], describe: Callable[[], str]) -> str:
    lines = [describe(), "", "| record | per | records | bytes each |", "|---|---|---|---|"]
    lines += [f"| {c.what} | {c.per} | {c.records:,} | {c.each:,.0f} |" for c in costs]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--queues", type=int, default=4)
    parser.add_argument("--contacts", type=int, default=2000)
    args = parser.parse_args()
    configure_logging("bench", level="WARNING", fmt="console")
    with bench_stack("bench-router-memory", kafka=False) as stack:
        client = redis.Redis.from_url(stack.redis_url)
        costs = measure(client, args.agents, args.queues, args.contacts)
        version: Any = client.info("server")
    print(
        markdown(
            costs,
            lambda: (
                f"{args.contacts:,} contacts, {args.agents:,} agents, {args.queues} queues "
                f"(voice and chat), Redis {version['redis_version']}:"
            ),
        )
    )


if __name__ == "__main__":
    main()
