"""Queue answer targets (DOMAIN.md, SLA): a contact queued on voice, chat or social is watched
against its queue's service-level threshold ("answered within X"); the SLA service warns at a
share of it and reports a breach at it, and the router decides what to do (raise the priority,
overflow), as the queue configures.

A watch counts every second (a caller waits on weekends too) from the contact's effective enqueue
instant, which the router moves back after a transfer, a callback or a return within the resume
window: the wait so far counts. Each queue entry is one instance: a warning and a breach fire at
most once for it; entering another queue starts a new instance.

A contact's record outlives its watch by a retention (`lifetime`), so that a redelivered older fact
still finds `last_at` and changes nothing; a watch whose end never arrives (the event
dead-lettered) goes a retention after its deadline.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

WATCHED_CHANNELS = frozenset({"voice", "chat", "social"})
DEFAULT_WARN_PERCENT = 75


@dataclass(frozen=True)
class QueueTarget:
    """What the SLA service knows of a queue: its answer target, from the router's configuration."""

    queue_id: str
    threshold: timedelta
    # The queue's configuration version, so a late, older configuration does not win.
    version: int


@dataclass(frozen=True)
class Watch:
    contact_id: str
    queue_id: str
    channel: str
    since: datetime
    threshold: timedelta
    warn_percent: int = DEFAULT_WARN_PERCENT
    warned: bool = False
    breached: bool = False

    @property
    def instance_id(self) -> str:
        return f"{self.contact_id}:{self.queue_id}:{int(self.since.timestamp() * 1000)}"

    @property
    def warn_at(self) -> datetime:
        return self.since + self.threshold * self.warn_percent / 100

    @property
    def deadline(self) -> datetime:
        return self.since + self.threshold


@dataclass(frozen=True)
class WatchRecord:
    """A contact's watch, or None once answered or gone; `last_at` is the instant of the latest
    fact applied, so a redelivered older fact changes nothing."""

    contact_id: str
    watch: Watch | None
    last_at: datetime


@dataclass(frozen=True)
class Alert:
    """A warning (breach=False) or a breach of a watch, with the wait so far."""

    watch: Watch
    breach: bool
    at: datetime

    @property
    def waited(self) -> timedelta:
        return self.at - self.watch.since


def queued(
    record: WatchRecord | None,
    contact_id: str,
    queue_id: str,
    channel: str,
    since: datetime,
    at: datetime,
    target: QueueTarget | None,
) -> WatchRecord | None:
    """The record after the contact entered a queue; None when nothing changes."""
    if record is not None and at < record.last_at:
        return None
    watch = None
    if channel in WATCHED_CHANNELS and target is not None and target.threshold > timedelta(0):
        watch = Watch(contact_id, queue_id, channel, since, target.threshold)
        current = record.watch if record else None
        if current is not None and current.instance_id == watch.instance_id:
            # The same entry announced again (a re-offer after a reject): its alerts stay sent.
            watch = replace(watch, warned=current.warned, breached=current.breached)
    return WatchRecord(contact_id, watch, at)


def left_queue(record: WatchRecord | None, at: datetime) -> WatchRecord | None:
    """The record after the contact was answered, abandoned, self-served or otherwise left the
    queue; None when nothing changes."""
    if record is None or record.watch is None or at < record.last_at:
        return None
    return WatchRecord(record.contact_id, None, at)


def fire(
    record: WatchRecord, instance_id: str, breach: bool, now: datetime
) -> tuple[WatchRecord, Alert] | None:
    """The alert a due timer raises, with the record that marks it sent; None when the timer is
    stale (answered since, another entry, already sent) or early."""
    watch = record.watch
    if watch is None or watch.instance_id != instance_id:
        return None
    if breach:
        if watch.breached or now < watch.deadline:
            return None
        # A breach implies the warning: one that never fired will not fire after it.
        sent = replace(watch, warned=True, breached=True)
    else:
        if watch.warned or watch.breached or now < watch.warn_at:
            return None
        sent = replace(watch, warned=True)
    return replace(record, watch=sent), Alert(sent, breach, now)


def timers(record: WatchRecord | None) -> dict[tuple[str, bool], datetime]:
    """(instance id, breach) -> due instant, for the alerts still to fire."""
    if record is None or record.watch is None:
        return {}
    watch = record.watch
    due: dict[tuple[str, bool], datetime] = {}
    if not watch.warned:
        due[(watch.instance_id, False)] = watch.warn_at
    if not watch.breached:
        due[(watch.instance_id, True)] = watch.deadline
    return due


def lifetime(record: WatchRecord, retention: timedelta) -> timedelta:
    """How long the record is kept from the change that wrote it: `retention` once the contact left
    the queue (or was never watched), and a watch still waiting `retention` past its deadline as
    well, counted from its latest fact, so a record never goes before its timers are due. Its
    latest fact happened no later than the change that wrote it, so this errs long, never short."""
    if record.watch is None:
        return retention
    return retention + max(record.watch.deadline - record.last_at, timedelta(0))
