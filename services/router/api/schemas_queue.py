"""A queue's configuration as the admin API takes and shows it: every field of the domain's Queue,
durations in seconds."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, Field, Strict

from services.router.api.schemas import (
    MAX_COUNT,
    Flag,
    Id,
    In,
    Proficiency,
    RoutableChannel,
    Seconds,
    SkillName,
    Text,
)
from services.router.domain.model import (
    DEFAULT_SERVICE_LEVEL_TARGET,
    MAX_PROFICIENCY,
    MAX_REQUIRED_SKILLS,
    Department,
    OverflowStep,
    Queue,
    SkillRequirement,
    SlaReaction,
    Strategy,
    Tier,
    TimeoutAction,
)

Skills = Annotated[list[SkillName], Field(max_length=MAX_REQUIRED_SKILLS)]


class SkillRequirementIn(In):
    name: SkillName
    min_proficiency: Proficiency = 1


class OverflowStepIn(In):
    """After `after_seconds` of waiting, widen who may take the contact, or move it."""

    after_seconds: Seconds
    drop_skills: Skills = Field([], description="Required skills no longer required.")
    min_proficiency: Annotated[int, Strict(), Field(ge=0, le=MAX_PROFICIENCY)] = Field(
        0, description="Lowers every remaining requirement to at most this level; 0 keeps them."
    )
    move_to_queue_id: Id | None = Field(None, description="Move the contact to this queue; the last step.")
    accept_any_agent: Flag = Field(False, description="Any agent of the queue, whatever their skills.")


class QueueIn(In):
    name: Annotated[Text, Field(min_length=1)]
    channels: Annotated[list[RoutableChannel], Field(min_length=1, max_length=10)]
    department: Department = Department.SERVICE
    tier: Tier = Tier.L1
    strategy: Strategy = Strategy.LONGEST_IDLE
    fallback_strategy: Strategy = Field(
        Strategy.LONGEST_IDLE,
        description="Who takes a preferred_agent contact once the window has passed; not "
        "preferred_agent itself.",
    )
    preferred_agent_window_seconds: Seconds = 0
    required_skills: Annotated[list[SkillRequirementIn], Field(max_length=MAX_REQUIRED_SKILLS)] = []
    overflow_steps: Annotated[list[OverflowStepIn], Field(max_length=20)] = Field(
        [], description="In increasing `after_seconds`; nothing follows a move."
    )
    service_level_threshold_seconds: Seconds = 20
    service_level_target: float = Field(
        DEFAULT_SERVICE_LEVEL_TARGET,
        gt=0,
        lt=1,
        description="The share of contacts to answer within the threshold (0.8 for 80/20).",
    )
    max_wait_seconds: Seconds = Field(0, description="Then `timeout_action`; 0 waits as long as it takes.")
    timeout_action: TimeoutAction = TimeoutAction.TICKET
    callback_threshold_seconds: Seconds = Field(0, description="0 never offers a callback.")
    offer_timeout_seconds: Annotated[Seconds, Field(gt=0)] = 20
    max_no_answer: Annotated[int, Strict(), Field(ge=0, le=MAX_COUNT)] = Field(
        3, description="Offers in a row an agent lets time out before being set away; 0 never."
    )
    after_contact_work_timeout_seconds: Seconds = 60
    resume_window_seconds: Seconds = 60
    sla_warning_reaction: SlaReaction = SlaReaction.NONE
    sla_breach_reaction: SlaReaction = SlaReaction.NONE
    calendar_id: Id | None = Field(
        None,
        description="The calendar (/v1/calendars) of the queue's hours of operation; none: always open. "
        "It must exist (else 422 `unknown_calendar`).",
    )
    closed_action: TimeoutAction = Field(
        TimeoutAction.TICKET,
        description="What a contact gets while the queue is closed, new or still waiting at the closing: "
        "`callback` at the next opening (callers; others get `ticket`), `voicemail` or `ticket`.",
    )

    def to_queue(self, tenant_id: str, queue_id: str) -> Queue:
        return Queue(
            queue_id=queue_id,
            tenant_id=tenant_id,
            name=self.name,
            channels=frozenset(self.channels),
            department=self.department,
            tier=self.tier,
            strategy=self.strategy,
            fallback_strategy=self.fallback_strategy,
            preferred_agent_window=timedelta(seconds=self.preferred_agent_window_seconds),
            required_skills=tuple(
                SkillRequirement(skill.name, skill.min_proficiency) for skill in self.required_skills
            ),
            overflow_steps=tuple(
                OverflowStep(
                    after=timedelta(seconds=step.after_seconds),
                    drop_skills=frozenset(step.drop_skills),
                    min_proficiency=step.min_proficiency,
                    move_to_queue_id=step.move_to_queue_id or "",
                    accept_any_agent=step.accept_any_agent,
                )
                for step in self.overflow_steps
            ),
            service_level_threshold=timedelta(seconds=self.service_level_threshold_seconds),
            service_level_target=self.service_level_target,
            max_wait=timedelta(seconds=self.max_wait_seconds),
            timeout_action=self.timeout_action,
            callback_threshold=timedelta(seconds=self.callback_threshold_seconds),
            offer_timeout=timedelta(seconds=self.offer_timeout_seconds),
            max_no_answer=self.max_no_answer,
            after_contact_work_timeout=timedelta(seconds=self.after_contact_work_timeout_seconds),
            resume_window=timedelta(seconds=self.resume_window_seconds),
            sla_warning_reaction=self.sla_warning_reaction,
            sla_breach_reaction=self.sla_breach_reaction,
            calendar_id=self.calendar_id or "",
            closed_action=self.closed_action,
        )


class QueueOut(QueueIn):
    id: str
    version: int

    @classmethod
    def of(cls, queue: Queue) -> QueueOut:
        return cls(
            id=queue.queue_id,
            version=queue.version,
            name=queue.name,
            channels=sorted(queue.channels),
            department=queue.department,
            tier=queue.tier,
            strategy=queue.strategy,
            fallback_strategy=queue.fallback_strategy,
            preferred_agent_window_seconds=queue.preferred_agent_window.total_seconds(),
            required_skills=[
                SkillRequirementIn(name=skill.name, min_proficiency=skill.min_proficiency)
                for skill in queue.required_skills
            ],
            overflow_steps=[
                OverflowStepIn(
                    after_seconds=step.after.total_seconds(),
                    drop_skills=sorted(step.drop_skills),
                    min_proficiency=step.min_proficiency,
                    move_to_queue_id=step.move_to_queue_id or None,
                    accept_any_agent=step.accept_any_agent,
                )
                for step in queue.overflow_steps
            ],
            service_level_threshold_seconds=queue.service_level_threshold.total_seconds(),
            service_level_target=queue.service_level_target,
            max_wait_seconds=queue.max_wait.total_seconds(),
            timeout_action=queue.timeout_action,
            callback_threshold_seconds=queue.callback_threshold.total_seconds(),
            offer_timeout_seconds=queue.offer_timeout.total_seconds(),
            max_no_answer=queue.max_no_answer,
            after_contact_work_timeout_seconds=queue.after_contact_work_timeout.total_seconds(),
            resume_window_seconds=queue.resume_window.total_seconds(),
            sla_warning_reaction=queue.sla_warning_reaction,
            sla_breach_reaction=queue.sla_breach_reaction,
            calendar_id=queue.calendar_id or None,
            closed_action=queue.closed_action,
        )


class QueueList(BaseModel):
    items: list[QueueOut] = Field(description="By id.")
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; absent on the last."
    )
