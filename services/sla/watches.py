"""Queue answer targets, applied: the queues' thresholds as the router configures them, a watch per
queued contact, and the warning and breach events when a watch's timers come due."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from google.protobuf.duration_pb2 import Duration

from helpline.codec import Codec
from helpline.domain import timestamp
from helpline.events import new_event, to_record
from helpline.logging import get_logger
from helpline.optimistic import retry_on_conflict
from helpline.records import OutgoingRecord
from helpline.v1 import sla_events_pb2
from services.sla.domain.convert import channel_proto
from services.sla.domain.queue_watch import (
    Alert,
    QueueTarget,
    WatchRecord,
    fire,
    left_queue,
    lifetime,
    queued,
    timers,
)
from services.sla.store import ConflictError, Keys, SlaStore, Subject, TimerKey

log = get_logger(__name__)

TOPIC = "helpline.sla"
SOURCE = "/helpline/sla"
WARNING, BREACH = "warning", "breach"
# A contact's record is kept this long after it left the queue by default (docs/sla.md, Retention).
WATCH_RETENTION = timedelta(days=1)

RECORDS = Codec(WatchRecord)
TARGETS = Codec(QueueTarget)

# Stores the queue's target unless the stored one is as new or newer (a late, older configuration).
_PUT_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and tonumber(cjson.decode(current)['version']) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


def _duration(value: timedelta) -> Duration:
    out = Duration()
    out.FromTimedelta(value)
    return out


def alert_record(tenant_id: str, alert: Alert) -> OutgoingRecord:
    watch = alert.watch
    subject = sla_events_pb2.QueuedContact(contact_id=watch.contact_id, queue_id=watch.queue_id)
    message: sla_events_pb2.SlaQueueWarning | sla_events_pb2.SlaQueueBreached
    if alert.breach:
        message = sla_events_pb2.SlaQueueBreached(breached_at=timestamp(alert.at))
    else:
        message = sla_events_pb2.SlaQueueWarning(warned_at=timestamp(alert.at))
    # Both messages share these fields and their numbers.
    message.tenant_id = tenant_id
    message.queued_contact.CopyFrom(subject)
    message.channel = channel_proto(watch.channel)
    message.service_level_threshold.CopyFrom(_duration(watch.threshold))
    message.wait_duration.CopyFrom(_duration(alert.waited))
    return to_record(new_event(message, source=SOURCE, subject=watch.contact_id), TOPIC)


class QueueWatches:
    def __init__(self, store: SlaStore, retention: timedelta = WATCH_RETENTION) -> None:
        self.store = store
        self.retention = retention
        self._put_if_newer = store.client.register_script(_PUT_IF_NEWER)

    def configure_queue(self, tenant_id: str, target: QueueTarget) -> bool:
        """Keep a queue's answer target; False when a newer configuration is stored already."""
        stored = self._put_if_newer(
            keys=[Keys(tenant_id).queues], args=[target.queue_id, target.version, TARGETS.dumps(target)]
        )
        return bool(stored)

    def remove_queue(self, tenant_id: str, queue_id: str) -> None:
        """Forget a removed queue's answer target; its contacts still waiting keep their watches."""
        self.store.delete_config(Keys(tenant_id).queues, queue_id)

    def target(self, tenant_id: str, queue_id: str) -> QueueTarget | None:
        raw = self.store.config(Keys(tenant_id).queues, queue_id)
        return None if raw is None else TARGETS.loads(raw)

    def record(self, tenant_id: str, contact_id: str) -> WatchRecord | None:
        loaded = self.store.load(tenant_id, Subject.CONTACT, contact_id)
        return None if loaded.data is None else RECORDS.loads(loaded.data)

    def contact_queued(
        self, tenant_id: str, contact_id: str, queue_id: str, channel: str, since: datetime, at: datetime
    ) -> None:
        target = self.target(tenant_id, queue_id)
        self._change(
            tenant_id,
            contact_id,
            lambda record: (queued(record, contact_id, queue_id, channel, since, at, target), None),
        )

    def contact_left(self, tenant_id: str, contact_id: str, at: datetime) -> None:
        self._change(tenant_id, contact_id, lambda record: (left_queue(record, at), None))

    def fire(self, timer: TimerKey, now: datetime) -> None:
        def decide(record: WatchRecord | None) -> tuple[WatchRecord | None, Alert | None]:
            fired = None if record is None else fire(record, timer.instance_id, timer.trigger == BREACH, now)
            return fired if fired is not None else (None, None)

        if not self._change(timer.tenant_id, timer.subject_id, decide, claimed=timer):
            log.debug(
                "queue timer no longer due; dropped", contact_id=timer.subject_id, trigger=timer.trigger
            )

    def _change(
        self,
        tenant_id: str,
        contact_id: str,
        decide: Callable[[WatchRecord | None], tuple[WatchRecord | None, Alert | None]],
        claimed: TimerKey | None = None,
    ) -> bool:
        """Read the record, decide, commit; a decision of None changes nothing (but a claimed timer
        that is no longer due is dropped). True when the record changed."""

        def attempt() -> bool:
            loaded = self.store.load(tenant_id, Subject.CONTACT, contact_id)
            before = None if loaded.data is None else RECORDS.loads(loaded.data)
            after, alert = decide(before)
            old = self._timer_keys(tenant_id, contact_id, before)
            if after is None and claimed is None:
                return False
            # A claimed timer that is not due after all (another replica's clock runs ahead) goes
            # back at its own instant rather than at the end of the claim's lease.
            new = old if after is None else self._timer_keys(tenant_id, contact_id, after)
            data = _raw(loaded.data) if after is None else RECORDS.dumps(after)
            kept = after or before
            self.store.commit(
                tenant_id,
                Subject.CONTACT,
                contact_id,
                loaded.revision,
                data,
                kept=None if kept is None else lifetime(kept, self.retention),
                remove=(old.keys() | ({claimed} if claimed else set())) - new.keys(),
                add=new,
                records=[alert_record(tenant_id, alert)] if alert else [],
            )
            if alert:
                log.info(
                    "queue answer target " + (BREACH if alert.breach else WARNING),
                    contact_id=contact_id,
                    queue_id=alert.watch.queue_id,
                    waited_s=alert.waited.total_seconds(),
                )
            return after is not None

        return retry_on_conflict(attempt, f"contact {contact_id}", conflict=ConflictError)

    @staticmethod
    def _timer_keys(tenant_id: str, contact_id: str, record: WatchRecord | None) -> dict[TimerKey, datetime]:
        return {
            TimerKey(tenant_id, Subject.CONTACT, contact_id, instance_id, BREACH if breach else WARNING): due
            for (instance_id, breach), due in timers(record).items()
        }


def _raw(data: bytes | None) -> str | None:
    return None if data is None else data.decode()
