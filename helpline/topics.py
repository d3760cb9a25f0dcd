"""The topic catalog: every Kafka topic Helpline uses, declared once, created idempotently at start.

Keys give order where it matters: contacts by contact id, agents by agent id, tickets and their SLA
by ticket id, the audit trail by tenant, webhook facts by subscription. Each topic lists the event
domains it carries (the `<domain>` of `helpline.<domain>.<fact>.v1`), which is its schema:
`helpline.events` maps each type to a message. helpline.topic_admin creates them.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpline.limits import TOPIC_MAX_MESSAGE_BYTES

DAY_MS = 24 * 3600 * 1000
DLQ_SUFFIX = ".dlq"
# The notify service's own facts (services.notify), which no consumer of platform facts counts.
WEBHOOKS_TOPIC = "helpline.webhooks"
DLQ_MAX_MESSAGE_BYTES = TOPIC_MAX_MESSAGE_BYTES + 65_536


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    partitions: int
    domains: tuple[str, ...]
    retention_ms: int = 7 * DAY_MS
    compacted: bool = False
    # Ingress topics are written by other systems; they also accept structured JSON CloudEvents.
    ingress: bool = False
    # Written by other systems without being an ingress (survey tools): checked like one.
    external: bool = False
    description: str = ""

    @property
    def dlq(self) -> str:
        return dlq_topic(self.name)

    @property
    def validated(self) -> bool:
        """Its events come from outside Helpline, so consumers hold them to helpline.limits."""
        return self.ingress or self.external

    def configs(self) -> dict[str, str]:
        configs = {"retention.ms": str(self.retention_ms), "max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES)}
        if self.compacted:
            configs["cleanup.policy"] = "compact"
        return configs


def dlq_topic(topic: str) -> str:
    return f"{topic}{DLQ_SUFFIX}"


CATALOG: tuple[TopicSpec, ...] = (
    TopicSpec(
        "helpline.contacts.ingress",
        key="contact_id",
        partitions=6,
        domains=("contact",),
        ingress=True,
        description="Contacts from gateways (telephony, chat, email, web, bots), binary or JSON CloudEvents.",
    ),
    TopicSpec(
        "helpline.contacts",
        key="contact_id",
        partitions=6,
        domains=("contact",),
        description="Every routing fact of a contact, from received to completed.",
    ),
    TopicSpec(
        "helpline.agents",
        key="agent_id",
        partitions=6,
        domains=("agent",),
        description="Agent status (set by people) and state (set by the router).",
    ),
    TopicSpec(
        "helpline.queues",
        key="queue_id",
        partitions=3,
        domains=("queue",),
        retention_ms=1 * DAY_MS,
        description="Periodic queue snapshots: depth, oldest age, agents by state, EWT.",
    ),
    TopicSpec(
        "helpline.tickets",
        key="ticket_id",
        partitions=6,
        domains=("ticket",),
        retention_ms=30 * DAY_MS,
        description="The ticket lifecycle: created, updated, status changes, comments, escalations.",
    ),
    TopicSpec(
        "helpline.sla",
        key="ticket_id",
        partitions=6,
        domains=("sla",),
        retention_ms=30 * DAY_MS,
        description="SLA facts: applied, warnings, breaches, fulfilments; keyed like the ticket or queue.",
    ),
    TopicSpec(
        "helpline.feedback",
        key="ticket_id",
        partitions=3,
        domains=("feedback",),
        retention_ms=30 * DAY_MS,
        external=True,
        description="Survey responses (CSAT, NPS, CES).",
    ),
    TopicSpec(
        # By tenant, not by object: an auditor reads a tenant's changes in the order they were made
        # (a queue created before the profile naming it), and changes are too few to crowd a partition.
        "helpline.audit",
        key="tenant_id",
        partitions=3,
        domains=("audit",),
        retention_ms=90 * DAY_MS,
        description="Every configuration change and API key created or revoked, with who made it.",
    ),
    TopicSpec(
        # By subscription: its dead letters and its disabling read in the order they happened.
        WEBHOOKS_TOPIC,
        key="subscription_id",
        partitions=3,
        domains=("webhook",),
        retention_ms=30 * DAY_MS,
        description="Outbound webhook facts: deliveries dead-lettered, subscriptions disabled.",
    ),
)

_BY_NAME = {spec.name: spec for spec in CATALOG}
VALIDATED_TOPICS = frozenset(s.name for s in CATALOG if s.validated)


def spec(name: str) -> TopicSpec:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}; the catalog has {sorted(_BY_NAME)}") from None


def topic_for_domain(domain: str) -> TopicSpec:
    """The non-ingress topic that carries a domain's facts."""
    for candidate in CATALOG:
        if domain in candidate.domains and not candidate.ingress:
            return candidate
    raise KeyError(f"no topic carries the event domain {domain!r}")
