"""Configuration use cases: skills, queues, routing profiles and agents, and the agent sets they
feed. Every reference is checked (an unknown skill, queue or profile is refused with its rule),
and a change that moves agents between sets re-indexes them in chunks, each chunk one script."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from helpline.audit import Action, Kind, configuration_changed
from helpline.auth import current_actor
from helpline.business_hours import Calendar
from helpline.domain import NotFoundError, timestamp
from helpline.quotas import QuotaReachedError
from helpline.v1 import queue_events_pb2
from services.router.domain import agent_facts
from services.router.domain.convert import queue_to_proto
from services.router.domain.errors import InvalidConfiguration
from services.router.domain.model import (
    CAPACITY_CHANNEL,
    Agent,
    Channel,
    Queue,
    RoutingProfile,
    WaitingContact,
)
from services.router.domain.routing import overflow
from services.router.storage.records import (
    CALENDARS,
    PROFILES,
    QUEUES,
    SKILLS,
    AgentRecord,
    CalendarRecord,
    ProfileRecord,
    QueueRecord,
    SkillRecord,
)
from services.router.storage.store import Keys, Tx
from services.router.storage.tenants import TenantRegistry
from services.router.usecases.staging import Staging, require_id

# Agents re-indexed per script when a queue, profile or signature changes.
REINDEX_CHUNK = 100
# The channels a contact can wait on, whatever a queue's configuration routes now or did before.
QUEUED_CHANNELS = tuple(sorted(CAPACITY_CHANNEL))


@dataclass(frozen=True)
class AgentConfig:
    """What an administrator sets on an agent; status, state and load are the router's."""

    agent_id: str
    skills: Mapping[str, int]
    display_name: str = ""
    profile_id: str = ""
    # Used when `profile_id` is empty: the agent's own routing profile.
    profile: RoutingProfile | None = None


@dataclass(frozen=True)
class Quotas:
    """How many of each a tenant may keep (helpline.quotas)."""

    skills: int = 1000
    queues: int = 1000
    profiles: int = 1000
    agents: int = 10_000
    calendars: int = 100


class Catalog:
    """The configuration use cases: skills, queues, routing profiles and agents, what the REST
    admin API calls. Every reference is checked when it is made, and a change that moves agents
    between ready sets re-indexes them here, so no other use case has to."""

    def __init__(self, core: Staging, registry: TenantRegistry, quotas: Quotas | None = None) -> None:
        self.core = core
        self.store = core.store
        self.registry = registry
        self.quotas = quotas or Quotas()

    def _within_quota(self, tx: Tx, members: str, kind: str) -> None:
        """Let one more of `kind` in while the tenant keeps fewer than its quota; the count is
        checked again as `tx` commits, so creations at once cannot pass the quota together."""
        limit: int = getattr(self.quotas, kind)
        held = int(self.store.client.scard(members))
        if held >= limit:
            raise QuotaReachedError(kind, limit, f"HELPLINE_TENANT_MAX_{kind.upper()}")
        tx.expect_size(members, held)

    # -- skills --

    def put_skill(self, tenant: str, name: str, description: str) -> SkillRecord:
        if not name.strip() or "," in name or ":" in name or "@" in name:
            raise InvalidConfiguration("invalid_skill_name", f"skill name {name!r} is empty or has , : or @")
        now = self.core.now()

        def attempt() -> SkillRecord:
            keys = Keys(tenant)
            old = self.store.skill(tenant, name)
            new = SkillRecord(version=(old.version if old else 0) + 1, name=name, description=description)
            tx = Tx(keys)
            if old is None:
                self._within_quota(tx, keys.skills(), "skills")
            tx.expect_version(keys.skill(name), old.version if old else 0)
            tx.set(keys.skill(name), SKILLS.dumps(new))
            tx.sadd(keys.skills(), name)
            audit(tx, Kind.SKILL, name, Action.PUT, (new.version - 1, new.version), now)
            self.store.commit(tx)
            return new

        return self.core.retry(f"skill {name}", attempt)

    def skill(self, tenant: str, name: str) -> SkillRecord:
        record = self.store.skill(tenant, name)
        if record is None:
            raise NotFoundError("skill", name)
        return record

    def skills(self, tenant: str, names: Iterable[str] | None = None) -> list[SkillRecord]:
        """The tenant's skills, or those of them named, in the order of the names."""
        listed = sorted(self.store.skill_names(tenant)) if names is None else names
        return [record for record in (self.store.skill(tenant, name) for name in listed) if record]

    def ids(self, tenant: str, kind: str) -> list[str]:
        """The ids the tenant keeps of a kind of configuration (skills, queues, profiles, agents)."""
        keys = Keys(tenant)
        members = {
            "skills": keys.skills,
            "queues": keys.queues,
            "profiles": keys.profiles,
            "agents": keys.agents,
            "calendars": keys.calendars,
        }
        return self.store.members_of(members[kind]())

    def _require_skills(self, tenant: str, names: Iterable[str]) -> None:
        unknown = sorted(set(names) - self.store.skill_names(tenant))
        if unknown:
            raise InvalidConfiguration(
                "unknown_skill", f"no skill {', '.join(unknown)}; create it first", skill=unknown[0]
            )

    def _require_queues(self, tx: Tx, queue_ids: Iterable[str]) -> None:
        """The queues exist, and still do when `tx` commits (remove_queue may be at work)."""
        wanted = set(queue_ids)
        unknown = sorted(wanted - set(self.store.queues(tx.keys.tenant, wanted)))
        if unknown:
            raise InvalidConfiguration(
                "unknown_queue", f"no queue {', '.join(unknown)}; create it first", queue_id=unknown[0]
            )
        for queue_id in sorted(wanted):
            tx.expect_exists(tx.keys.queue(queue_id))

    # -- calendars --

    def put_calendar(
        self, tenant: str, calendar: Calendar, expected_version: int | None = None
    ) -> CalendarRecord:
        """Create or replace a business-hours calendar. Contacts already waiting in its queues
        follow a change at their next look at the hours (the old closing at the latest)."""
        require_id("calendar", calendar.calendar_id)
        now = self.core.now()

        def attempt() -> CalendarRecord:
            keys = Keys(tenant)
            old = self.store.calendar(tenant, calendar.calendar_id)
            old_version = old.version if old else 0
            _check_version("calendar", calendar.calendar_id, old_version, expected_version)
            new = CalendarRecord(old_version + 1, calendar)
            tx = Tx(keys)
            if old is None:
                self._within_quota(tx, keys.calendars(), "calendars")
            tx.expect_version(keys.calendar(calendar.calendar_id), old_version)
            tx.set(keys.calendar(calendar.calendar_id), CALENDARS.dumps(new))
            tx.sadd(keys.calendars(), calendar.calendar_id)
            audit(tx, Kind.CALENDAR, calendar.calendar_id, Action.PUT, (old_version, new.version), now)
            self.store.commit(tx)
            return new

        self.registry.add(tenant)
        return self.core.retry(f"calendar {calendar.calendar_id}", attempt)

    def calendar(self, tenant: str, calendar_id: str) -> CalendarRecord:
        record = self.store.calendar(tenant, calendar_id)
        if record is None:
            raise NotFoundError("calendar", calendar_id)
        return record

    def calendars(self, tenant: str, calendar_ids: Iterable[str]) -> list[CalendarRecord]:
        """Those of the tenant's calendars named, in the order of the ids."""
        return [record for record in (self.store.calendar(tenant, cid) for cid in calendar_ids) if record]

    def remove_calendar(self, tenant: str, calendar_id: str, expected_version: int | None = None) -> None:
        """Remove a calendar no queue names, so no queue is left without the hours it was given."""
        now = self.core.now()

        def attempt() -> None:
            keys = Keys(tenant)
            record = self.calendar(tenant, calendar_id)
            _check_version("calendar", calendar_id, record.version, expected_version)
            tx = Tx(keys)
            tx.expect_version(keys.calendar(calendar_id), record.version)
            queues = self.queues(tenant)
            # A queue put meanwhile that names this calendar changes a version or the set's size.
            tx.expect_size(keys.queues(), len(queues))
            for queue in queues:
                tx.expect_version(keys.queue(queue.queue_id), queue.version)
                if queue.calendar_id == calendar_id:
                    raise InvalidConfiguration(
                        "calendar_in_use",
                        f"queue {queue.queue_id} keeps the hours of calendar {calendar_id}",
                        queue_id=queue.queue_id,
                    )
            tx.delete(keys.calendar(calendar_id))
            tx.srem(keys.calendars(), calendar_id)
            audit(tx, Kind.CALENDAR, calendar_id, Action.REMOVE, (record.version, 0), now)
            self.store.commit(tx)

        self.core.retry(f"calendar {calendar_id}", attempt)

    # -- queues --

    def put_queue(self, queue: Queue, expected_version: int | None = None) -> Queue:
        tenant = queue.tenant_id
        require_id("queue", queue.queue_id)
        self._require_skills(tenant, [skill.name for skill in queue.required_skills])
        self._require_skills(tenant, [name for step in queue.overflow_steps for name in step.drop_skills])
        now = self.core.now()

        def attempt() -> Queue:
            keys = Keys(tenant)
            old = self.store.queue(tenant, queue.queue_id)
            old_version = old.version if old else 0
            if expected_version is not None and expected_version != old_version:
                raise InvalidConfiguration(
                    "version_mismatch",
                    f"queue {queue.queue_id} is at version {old_version}, not {expected_version}",
                )
            new = replace(queue, version=old_version + 1)
            tx = Tx(keys)
            self._require_queues(
                tx, [step.move_to_queue_id for step in queue.overflow_steps if step.move_to_queue_id]
            )
            if queue.calendar_id:
                if self.store.calendar(tenant, queue.calendar_id) is None:
                    raise InvalidConfiguration(
                        "unknown_calendar",
                        f"no calendar {queue.calendar_id}; create it first",
                        calendar_id=queue.calendar_id,
                    )
                tx.expect_exists(keys.calendar(queue.calendar_id))
            if old is None:
                self._within_quota(tx, keys.queues(), "queues")
            tx.expect_version(keys.queue(queue.queue_id), old_version)
            tx.set(keys.queue(queue.queue_id), QUEUES.dumps(QueueRecord(new.version, new)))
            tx.sadd(keys.queues(), queue.queue_id)
            configured = queue_to_proto(new)
            configured.configured_at.CopyFrom(timestamp(now))
            tx.emit([configured], queue.queue_id)
            audit(tx, Kind.QUEUE, queue.queue_id, Action.PUT, (old_version, new.version), now)
            signatures = queue_signatures(new, now)
            self.register_signatures(tx, new, signatures)
            self._stage_pruning(tx, new, signatures)
            self.store.commit(tx)
            return new

        # Before the commit, so a queue is never without its tenant registered (a crash right after
        # the commit); after it too, against a remove_queue of the tenant's last queue meanwhile.
        self.registry.add(tenant)
        saved = self.core.retry(f"queue {queue.queue_id}", attempt)
        self.registry.add(tenant)
        self.reindex(tenant, self.store.ids(Keys(tenant).members(queue.queue_id)))
        return saved

    def remove_queue(self, tenant: str, queue_id: str, expected_version: int | None = None) -> None:
        """Remove a queue nothing uses: no agent serves it, no routing profile lists it, no queue
        overflows to it and no contact waits in it. Contacts that passed through it keep its id.
        With the queue go its requirement signatures and its handle-time average; the agent and
        contact sets of the queue are empty already, since nobody serves or waits in it."""
        now = self.core.now()

        def attempt() -> None:
            keys = Keys(tenant)
            record = self.store.queue(tenant, queue_id)
            if record is None:
                raise NotFoundError("queue", queue_id)
            if expected_version is not None and expected_version != record.version:
                raise InvalidConfiguration(
                    "version_mismatch",
                    f"queue {queue_id} is at version {record.version}, not {expected_version}",
                )
            tx = Tx(keys)
            tx.expect_version(keys.queue(queue_id), record.version)
            self._refuse_while_used(tx, queue_id)
            tx.delete(keys.queue(queue_id))
            tx.srem(keys.queues(), queue_id)
            tx.delete(keys.queue_stats(queue_id))
            for channel in QUEUED_CHANNELS:
                tx.delete(keys.signatures(queue_id, channel))
            removed = queue_events_pb2.QueueRemoved(
                tenant_id=tenant, queue_id=queue_id, removed_at=timestamp(now)
            )
            tx.emit([removed], queue_id)
            audit(tx, Kind.QUEUE, queue_id, Action.REMOVE, (record.version, 0), now)
            self.store.commit(tx)

        self.core.retry(f"queue {queue_id}", attempt)
        if not self.store.members_of(Keys(tenant).queues()):
            self.registry.forget_if_idle(tenant)

    def _refuse_while_used(self, tx: Tx, queue_id: str) -> None:
        """Refuse to remove a queue in use, and stage the checks that it still is not at the commit."""
        keys = tx.keys
        tenant = keys.tenant
        serving = self.store.set_size(keys.members(queue_id))
        if serving:
            raise InvalidConfiguration(
                "queue_in_use", f"queue {queue_id} has agents who serve it ({serving})", queue_id=queue_id
            )
        tx.expect_exists(keys.members(queue_id), exists=False)
        waiting = sum(self.store.set_size(keys.depth(queue_id, channel)) for channel in QUEUED_CHANNELS)
        if waiting:
            raise InvalidConfiguration(
                "queue_in_use", f"queue {queue_id} has contacts waiting ({waiting})", queue_id=queue_id
            )
        for channel in QUEUED_CHANNELS:
            tx.expect_exists(keys.depth(queue_id, channel), exists=False)
        # A profile or queue put meanwhile that names this one changes a version or a set's size.
        profiles = self.profiles(tenant)
        tx.expect_size(keys.profiles(), len(profiles))
        for profile in profiles:
            tx.expect_version(keys.profile(profile.profile_id), profile.version)
            if any(member.queue_id == queue_id for member in profile.profile.queues):
                raise InvalidConfiguration(
                    "queue_in_use",
                    f"routing profile {profile.profile_id} lists queue {queue_id}",
                    queue_id=queue_id,
                )
        queues = self.queues(tenant)
        tx.expect_size(keys.queues(), len(queues))
        for queue in queues:
            tx.expect_version(keys.queue(queue.queue_id), queue.version)
            if any(step.move_to_queue_id == queue_id for step in queue.overflow_steps):
                raise InvalidConfiguration(
                    "queue_in_use",
                    f"queue {queue.queue_id} overflows to queue {queue_id}",
                    queue_id=queue_id,
                )

    def queue(self, tenant: str, queue_id: str) -> Queue:
        return self.core.require_queue(tenant, queue_id)

    def queues(self, tenant: str, queue_ids: Iterable[str] | None = None) -> list[Queue]:
        """The tenant's queues, or those of them named, by id."""
        ids = self.store.members_of(Keys(tenant).queues()) if queue_ids is None else queue_ids
        return [record.queue for record in self.store.queues(tenant, ids).values()]

    # -- signatures and re-indexing --

    def register_signatures(self, tx: Tx, queue: Queue, signatures: Mapping[Channel, set[str]]) -> bool:
        """Stage the signatures not registered yet; True when there were any (re-index after)."""
        keys = Keys(queue.tenant_id)
        slots = [(queue.queue_id, channel) for channel in sorted(signatures)]
        known = self.store.signatures(keys, slots)
        added = False
        for (queue_id, channel), present in known.items():
            for signature in sorted(signatures[channel] - present):
                tx.sadd(keys.signatures(queue_id, channel), signature)
                added = True
        if added:
            tx.incr(keys.signature_epoch())
        return added

    def prune_signatures(self, tenant: str, queue_id: str) -> bool:
        """Forget the queue's signatures that no contact waits on and its configuration does not
        make (those of contacts with skills of their own, or of an earlier configuration), so the
        agents leave their ready sets; True if any went. A contact that needs one again registers
        it again."""
        now = self.core.now()

        def attempt() -> bool:
            record = self.store.queue(tenant, queue_id)
            if record is None:
                return False
            tx = Tx(Keys(tenant))
            tx.expect_version(tx.keys.queue(queue_id), record.version)
            if not self._stage_pruning(tx, record.queue, queue_signatures(record.queue, now)):
                return False
            self.store.commit(tx)
            return True

        pruned = self.core.retry(f"queue {queue_id}", attempt)
        if pruned:
            self.reindex(tenant, self.store.ids(Keys(tenant).members(queue_id)))
        return pruned

    def _stage_pruning(self, tx: Tx, queue: Queue, keep: Mapping[Channel, set[str]]) -> bool:
        """Stage the removal of the registered signatures not in `keep` whose waiting set is empty,
        each checked empty at the commit (Staging.stage_contact checks the other way round)."""
        keys = tx.keys
        slots = [(queue.queue_id, channel) for channel in QUEUED_CHANNELS]
        unkept = [
            (channel, signature)
            for (_, channel), registered in sorted(self.store.signatures(keys, slots).items())
            for signature in sorted(registered - keep.get(channel, set()))
        ]
        waiting = [keys.waiting(queue.queue_id, channel, signature) for channel, signature in unkept]
        unused = [
            (channel, signature, key)
            for (channel, signature), key, present in zip(
                unkept, waiting, self.store.exist(waiting), strict=True
            )
            if not present
        ]
        for channel, signature, key in unused:
            tx.expect_exists(key, exists=False)
            tx.srem(keys.signatures(queue.queue_id, channel), signature)
        if unused:
            # An agent change computed with the pruned signatures retries without them.
            tx.incr(keys.signature_epoch())
        return bool(unused)

    def ensure_signature(self, queue: Queue, channel: Channel, signature: str) -> None:
        """Make sure the ready set of `signature` exists before a contact waits on it."""
        if signature.startswith("@"):
            return
        tx = Tx(Keys(queue.tenant_id))
        if self.register_signatures(tx, queue, {channel: {signature}}):
            self.store.commit(tx)
            self.reindex(queue.tenant_id, self.store.ids(Keys(queue.tenant_id).members(queue.queue_id)))

    def reindex(self, tenant: str, agent_ids: list[str]) -> None:
        for start in range(0, len(agent_ids), REINDEX_CHUNK):
            chunk = agent_ids[start : start + REINDEX_CHUNK]
            self.core.retry(f"agents of {tenant}", functools.partial(self._reindex_chunk, tenant, chunk))

    def _reindex_chunk(self, tenant: str, agent_ids: list[str]) -> None:
        now = self.core.now()
        tx = Tx(Keys(tenant))
        for record in self.store.agents(tenant, agent_ids):
            self.core.stage_agent(tx, record, record.agent, now)
        self.store.commit(tx)

    # -- routing profiles --

    def put_profile(self, tenant: str, profile_id: str, name: str, profile: RoutingProfile) -> ProfileRecord:
        require_id("profile", profile_id)
        now = self.core.now()

        def attempt() -> ProfileRecord:
            keys = Keys(tenant)
            old = self.store.profile(tenant, profile_id)
            new = ProfileRecord((old.version if old else 0) + 1, profile_id, name, profile)
            tx = Tx(keys)
            self._require_queues(tx, [member.queue_id for member in profile.queues])
            if old is None:
                self._within_quota(tx, keys.profiles(), "profiles")
            tx.expect_version(keys.profile(profile_id), old.version if old else 0)
            tx.set(keys.profile(profile_id), PROFILES.dumps(new))
            tx.sadd(keys.profiles(), profile_id)
            audit(tx, Kind.PROFILE, profile_id, Action.PUT, (new.version - 1, new.version), now)
            self.store.commit(tx)
            return new

        saved = self.core.retry(f"profile {profile_id}", attempt)
        for agent_id in self.store.members_of(Keys(tenant).profile_agents(profile_id)):
            self.core.retry(
                f"agent {agent_id}",
                functools.partial(self._follow_profile, tenant, agent_id, profile_id, now),
            )
        return saved

    def _follow_profile(self, tenant: str, agent_id: str, profile_id: str, now: datetime) -> None:
        record = self.core.require_agent(tenant, agent_id)
        current = self.store.profile(tenant, profile_id)
        if record.profile_id != profile_id or current is None:
            return
        agent = replace(record.agent, profile=current.profile)
        tx = Tx(Keys(tenant))
        # Two changes of one profile racing: the agent ends on the last one, not the slower one.
        tx.expect_version(Keys(tenant).profile(profile_id), current.version)
        configured = agent_facts.configured(
            agent, now, display_name=record.display_name, version=record.version + 1
        )
        self.core.stage_agent(tx, record, agent, now, events=[configured])
        self.store.commit(tx)

    def profile(self, tenant: str, profile_id: str) -> ProfileRecord:
        record = self.store.profile(tenant, profile_id)
        if record is None:
            raise NotFoundError("routing profile", profile_id)
        return record

    def profiles(self, tenant: str, profile_ids: Iterable[str] | None = None) -> list[ProfileRecord]:
        """The tenant's routing profiles, or those of them named, in the order of the ids."""
        ids = self.store.members_of(Keys(tenant).profiles()) if profile_ids is None else profile_ids
        return [record for record in (self.store.profile(tenant, pid) for pid in ids) if record]

    # -- agents --

    def put_agent(self, tenant: str, config: AgentConfig) -> AgentRecord:
        require_id("agent", config.agent_id)
        self._require_skills(tenant, config.skills)
        if config.profile is None and not config.profile_id:
            raise InvalidConfiguration("profile_required", "give the agent a profile_id or a routing profile")
        now = self.core.now()

        def attempt() -> AgentRecord:
            keys = Keys(tenant)
            tx = Tx(keys)
            profile = config.profile
            if profile is not None and not config.profile_id:
                self._require_queues(tx, [member.queue_id for member in profile.queues])
            if config.profile_id:
                named = self.store.profile(tenant, config.profile_id)
                if named is None:
                    raise InvalidConfiguration(
                        "unknown_profile",
                        f"no routing profile {config.profile_id}; create it first",
                        profile_id=config.profile_id,
                    )
                # A profile changed meanwhile would not reach this agent: it is not in the set yet.
                tx.expect_version(keys.profile(config.profile_id), named.version)
                profile = named.profile
            assert profile is not None
            old = self.store.agent(tenant, config.agent_id)
            if old is None:
                self._within_quota(tx, keys.agents(), "agents")
                old = AgentRecord(0, Agent(config.agent_id, tenant, profile))
            agent = replace(old.agent, profile=profile, skills=dict(config.skills))
            if old.profile_id != config.profile_id:
                if old.profile_id:
                    tx.srem(keys.profile_agents(old.profile_id), config.agent_id)
                if config.profile_id:
                    tx.sadd(keys.profile_agents(config.profile_id), config.agent_id)
            tx.sadd(keys.agents(), config.agent_id)
            configured = agent_facts.configured(
                agent, now, display_name=config.display_name, version=old.version + 1
            )
            new = self.core.stage_agent(
                tx,
                old,
                agent,
                now,
                events=[configured],
                display_name=config.display_name,
                profile_id=config.profile_id,
            )
            audit(tx, Kind.AGENT, config.agent_id, Action.PUT, (old.version, new.version), now)
            self.store.commit(tx)
            return new

        return self.core.retry(f"agent {config.agent_id}", attempt)

    def agent(self, tenant: str, agent_id: str) -> AgentRecord:
        return self.core.require_agent(tenant, agent_id)

    def agents(self, tenant: str, agent_ids: Sequence[str] | None = None) -> list[AgentRecord]:
        """The tenant's agents, or those of them named, in the order of the ids."""
        ids = self.store.members_of(Keys(tenant).agents()) if agent_ids is None else agent_ids
        return self.store.agents(tenant, ids)


def _check_version(kind: str, object_id: str, current: int, expected: int | None) -> None:
    if expected is not None and expected != current:
        raise InvalidConfiguration(
            "version_mismatch", f"{kind} {object_id} is at version {current}, not {expected}"
        )


def audit(
    tx: Tx, kind: Kind, object_id: str, action: Action, versions: tuple[int, int], now: datetime
) -> None:
    """Stage the audit event of a change the current actor makes (helpline.audit), so the change
    commits with its record or not at all."""
    change = configuration_changed(tx.keys.tenant, kind, object_id, action, versions, now, current_actor())
    tx.audit(change)


def queue_signatures(queue: Queue, now: datetime) -> dict[Channel, set[str]]:
    """The signatures a contact without skills of its own has in this queue, step by step: known
    up front, so the common contacts never wait for a set to be built."""
    found: dict[Channel, set[str]] = {}
    for channel in queue.routed_channels:
        probe = WaitingContact("probe", queue.tenant_id, queue.queue_id, channel, enqueued_at=now)
        moments = [now, *(now + step.after for step in queue.overflow_steps)]
        found[channel] = {overflow(queue, probe, moment).requirements.signature for moment in moments}
    return found
