"""What a simulated contact centre does: its channels' load, its customers' patience, its agents'
shifts and handle times, its bots and surveys. Validated as a whole, so a scenario that could not
run (a channel nobody serves, a shift that ends before it starts) is refused before it starts."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from simulator import hours as wall
from simulator.model import DAY_S, HOUR_S, DailyCurve, Lognormal

ChannelName = Literal["voice", "chat", "email", "sms", "social", "web_form"]
# The channels an agent has a capacity for: a web form is worked as an email, out of the email
# capacity (the router's rule; its admin API refuses a capacity for web_form).
CapacityChannel = Literal["voice", "chat", "email", "sms", "social"]
CAPACITY_OF: dict[str, CapacityChannel] = {"web_form": "email", "callback": "voice"}
Probability = float
# The router's proficiency scale.
Proficiency = Annotated[int, Field(ge=1, le=5)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Duration(_Strict):
    """A lognormal duration, as its mean and coefficient of variation."""

    mean_s: PositiveFloat
    cv: PositiveFloat = 0.6

    def law(self) -> Lognormal:
        return Lognormal(self.mean_s, self.cv)


class ChannelLoad(_Strict):
    per_hour: float = Field(ge=0, description="mean arrivals an hour over the day")
    queue: str = Field(min_length=1)
    patience_mean_s: PositiveFloat | None = Field(
        None,
        description="mean wait before a customer hangs up, on voice and chat; none: never (the router "
        "takes abandons on those two only)",
    )
    handle: Duration
    wrap_up: Duration = Duration(mean_s=30.0)
    hold_rate: Probability = Field(0.0, ge=0, le=1, description="share of contacts put on hold once")
    transfer_rate: Probability = Field(
        0.0, ge=0, le=1, description="share of answered contacts the agent sends on to `transfer_to`"
    )
    transfer_to: str = Field(
        "", description="the queue transfers go to; of the other department, a transfer is a hand-off"
    )
    callback_acceptance: Probability = Field(
        0.0, ge=0, le=1, description="share of callers offered a callback (a long wait) who take it"
    )


class SelfService(_Strict):
    """Bot conversations: the contained ones end self-served, the others go to a queue on chat."""

    per_hour: float = Field(ge=0)
    contained: Probability = Field(ge=0, le=1)
    escalate_to: str = Field(min_length=1)
    conversation: Duration = Duration(mean_s=120.0)
    # An escalated conversation then waits and is handled as a chat.
    patience_mean_s: PositiveFloat = 240.0
    handle: Duration = Duration(mean_s=480.0)
    wrap_up: Duration = Duration(mean_s=30.0)


class AgentGroup(_Strict):
    name: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9-]*$")
    count: PositiveInt
    queues: tuple[str, ...] = Field(min_length=1)
    capacity: dict[CapacityChannel, PositiveInt] = Field(min_length=1)
    skills: dict[str, Proficiency] = Field(default_factory=dict, description="skill name to proficiency")
    shift_start_h: float = Field(ge=0, lt=24)
    shift_end_h: float = Field(gt=0, le=24)
    reject_rate: Probability = Field(0.02, ge=0, lt=1)
    miss_rate: Probability = Field(0.01, ge=0, lt=1)
    # Each agent takes a break this often, the group's breaks staggered over the interval.
    break_every_h: PositiveFloat = 1.5
    break_length: Duration = Duration(mean_s=600.0, cv=0.2)

    @model_validator(mode="after")
    def _shift_in_order(self) -> Self:
        if self.shift_end_h <= self.shift_start_h:
            raise ValueError(
                f"group {self.name}: the shift ends at {self.shift_end_h} h, not after it starts"
            )
        return self

    def shifts(self, run_start_h: float) -> Iterator[tuple[float, float]]:
        """Each day's shift as (start, end) in simulated seconds from a run that starts at
        `run_start_h`, day after day without end (the run stops its agents): the shift under way at
        the start begins before it (a negative start), one already over that day is skipped."""
        for day in itertools.count():
            start_s = day * DAY_S + (self.shift_start_h - run_start_h) * HOUR_S
            end_s = day * DAY_S + (self.shift_end_h - run_start_h) * HOUR_S
            if end_s > 0:
                yield start_s, end_s


class HoursOfOperation(_Strict):
    """A queue open from `opens_h` to `closes_h` every simulated day and closed the rest of it, when
    a contact gets the `closed_action`: a ticket, a voicemail (which becomes a ticket too), or a
    callback at the next opening (callers only: the router gives other contacts a ticket). Open and
    close on the same day."""

    opens_h: float = Field(ge=0, lt=24)
    closes_h: float = Field(gt=0, le=24)
    closed_action: Literal["ticket", "voicemail", "callback"] = "ticket"

    @model_validator(mode="after")
    def _closes_after_opening(self) -> Self:
        if self.closes_h <= self.opens_h:
            raise ValueError(f"hours of operation close at {self.closes_h} h, not after they open")
        if (self.opens_h, self.closes_h) == (0, 24):
            raise ValueError("hours of operation from 0 to 24 never close: leave them out")
        return self


class QueueSpec(_Strict):
    """How the router treats a queue's contacts; a queue not listed gets the defaults."""

    department: Literal["service", "support"] = "service"
    service_level_threshold_s: int = Field(20, gt=0)
    service_level_target: float = Field(0.8, gt=0, lt=1)
    callback_threshold_s: int = Field(0, ge=0, description="estimated wait that offers a callback; 0: never")
    offer_timeout_s: int = Field(20, gt=0)
    # Longer than any simulated wrap-up: agents complete their contacts themselves.
    wrap_up_timeout_s: int = Field(600, gt=0)
    required_skills: dict[str, Proficiency] = Field(
        default_factory=dict, description="skill name to the lowest proficiency an agent needs for the queue"
    )
    hours: HoursOfOperation | None = Field(
        None, description="simulated hours of operation; none: always open"
    )


class Tickets(_Strict):
    """Contacts on these channels are tickets: the gateway opens one as the contact arrives; the
    agent who takes the contact assigns it, replies publicly and solves it (and may close it), or
    asks the customer for more and sets it pending, or puts it on hold for a third party. A pending
    ticket's customer writes back (a public comment, and a new contact on the ticket), which the
    next agent answers and solves; a ticket on hold is opened and solved when the third party
    answers. The SLA policy holds them to a first reply and a resolution (requester wait, paused
    while pending, not on hold) target, in round-the-clock time."""

    channels: tuple[ChannelName, ...] = Field(("email", "web_form"), min_length=1)
    first_reply_target_s: PositiveFloat = 3600.0
    resolution_target_s: PositiveFloat = 4 * 3600.0
    warn_percent: int = Field(75, ge=1, le=99)
    pending_rate: Probability = Field(0.0, ge=0, le=1, description="share of first replies that ask for more")
    customer_reply: Duration = Duration(mean_s=1800.0)
    on_hold_rate: Probability = Field(
        0.0,
        ge=0,
        le=1,
        description="share of first replies that wait on a third party: on hold until it answers",
    )
    third_party: Duration = Duration(mean_s=3600.0)
    close_rate: Probability = Field(
        0.0, ge=0, le=1, description="share of solved tickets closed at once (the customer confirmed)"
    )

    @model_validator(mode="after")
    def _one_fate(self) -> Self:
        if self.pending_rate + self.on_hold_rate > 1:
            raise ValueError("pending_rate and on_hold_rate share the first replies: together at most 1")
        return self


SurveyKindName = Literal["csat", "nps", "ces"]


class Surveys(_Strict):
    """The survey a solved ticket's requester is sent (the tenant's survey settings, which the run
    sets) and the share of requesters who answer it."""

    response_rate: Probability = Field(0.3, ge=0, le=1)
    kinds: tuple[SurveyKindName, ...] = Field(
        ("csat", "nps", "ces"), min_length=1, description="the questions a survey asks, each once"
    )

    @model_validator(mode="after")
    def _once_each(self) -> Self:
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"survey kinds repeat a kind: {list(self.kinds)}")
        return self


def _has(skills: dict[str, int], needs: dict[str, int]) -> bool:
    return all(skills.get(name, 0) >= level for name, level in needs.items())


def _office() -> tuple[float, ...]:
    return DailyCurve.office().weights


class Scenario(_Strict):
    seed: int = 1
    tenant: str = Field("sim", min_length=1)
    start_h: float = Field(8.0, ge=0, lt=24, description="the simulated clock's hour at the start")
    hours: PositiveFloat = Field(1.0, description="simulated hours to run")
    speed: PositiveFloat = Field(60.0, description="simulated seconds a real second")
    drain_h: float = Field(
        0.25, ge=0, description="simulated hours after the last arrival for the queues to empty"
    )
    curve: tuple[float, ...] = Field(default_factory=_office)
    channels: dict[ChannelName, ChannelLoad] = Field(min_length=1)
    queues: dict[str, QueueSpec] = {}
    self_service: SelfService | None = None
    agents: tuple[AgentGroup, ...] = Field(min_length=1)
    tickets: Tickets | None = None
    surveys: Surveys = Surveys()

    @model_validator(mode="after")
    def _served(self) -> Self:
        DailyCurve(self.curve)
        entered = self.queue_channels()
        entries = {(queue, channel) for queue, channels in entered.items() for channel in channels}
        for queue, channel in sorted(entries):
            taken_as = CAPACITY_OF.get(channel, channel)
            if not any(queue in g.queues and taken_as in g.capacity for g in self.agents):
                raise ValueError(f"no agent group serves queue {queue} on {channel}")
        known = set(entered)
        unknown_specs = sorted(set(self.queues) - known)
        if unknown_specs:
            raise ValueError(f"queues no contact enters are specified: {unknown_specs}")
        for group in self.agents:
            unknown = sorted(set(group.queues) - known)
            if unknown:
                raise ValueError(f"group {group.name} serves queues no contact enters: {unknown}")
        if self.tickets is not None:
            missing = sorted(set(self.tickets.channels) - set(self.channels))
            if missing:
                raise ValueError(f"tickets are opened for channels no contact comes on: {missing}")
        for channel, load in sorted(self.channels.items()):
            if load.transfer_rate and not load.transfer_to:
                raise ValueError(f"{channel} transfers contacts but names no queue to transfer them to")
            if load.transfer_to == load.queue:
                raise ValueError(f"{channel} transfers contacts to the queue they are in")
        for channel, load in sorted(self.channels.items()):
            if load.patience_mean_s is not None and channel not in ("voice", "chat"):
                raise ValueError(f"a customer on {channel} waits until answered: no patience_mean_s")
            if load.callback_acceptance and channel != "voice":
                raise ValueError(f"only a caller can be called back, not a contact on {channel}")
            if load.callback_acceptance and not self.queue_spec(load.queue).callback_threshold_s:
                raise ValueError(f"queue {load.queue} offers no callback: give it a callback_threshold_s")
        for queue_id, channels in sorted(entered.items()):
            needs = self.queue_spec(queue_id).required_skills
            for channel in sorted(channels):
                taken_as = CAPACITY_OF.get(channel, channel)
                if not any(
                    queue_id in g.queues and taken_as in g.capacity and _has(g.skills, needs)
                    for g in self.agents
                ):
                    raise ValueError(
                        f"no agent group with the skills {needs} serves queue {queue_id} on {channel}"
                    )
        held = sorted(
            channel for channel, load in self.channels.items() if load.hold_rate and channel != "voice"
        )
        if held:
            raise ValueError(f"only a call can be put on hold, not a contact on {held}")
        self._hours_on_the_wall_clock()
        return self

    def _hours_on_the_wall_clock(self) -> None:
        """The router's calendar is weekly, in whole minutes of the wall clock (simulator.hours): each
        queue's open and closed stretches must be whole wall minutes at this speed (at least one, or
        there is nothing to write), every queue's openings on the same second of the minute (the run
        starts at one instant that puts them all on the minute), and the open periods the run meets
        within a week of the wall clock."""
        phases = {}
        for queue_id, spec in sorted(self.queues.items()):
            if spec.hours is None:
                continue
            open_s = self.real_s((spec.hours.closes_h - spec.hours.opens_h) * HOUR_S)
            closed_s = self.real_s(DAY_S) - open_s
            minutes = wall.whole_minutes(open_s) and wall.whole_minutes(closed_s)
            if not minutes or min(open_s, closed_s) < wall.MINUTE_S:
                raise ValueError(
                    f"queue {queue_id} is open {open_s:g} s and closed {closed_s:g} s of the wall clock at "
                    f"speed {self.speed:g}: the router's calendar is in whole minutes, so each must be a "
                    "whole number of minutes, at least one"
                )
            phases[queue_id] = wall.minute_phase(spec.hours.opens_h, self.start_h, self.speed)
            periods = self.open_periods(queue_id)
            if not periods:
                raise ValueError(f"queue {queue_id} never opens during the run: leave its hours out")
            if self.real_s(periods[-1][1] - periods[0][0]) >= wall.WEEK_S:
                raise ValueError(
                    f"queue {queue_id}'s open periods during the run span a week or more of the wall "
                    "clock: the router's weekly calendar cannot hold them apart"
                )
        if any(not wall.whole_minutes(phase - min(phases.values())) for phase in phases.values()):
            raise ValueError(
                f"the queues' hours fall on different seconds of the wall-clock minute ({phases}): "
                "the run can put only one of them on the minute"
            )

    def open_periods(self, queue_id: str) -> list[tuple[float, float]]:
        """The queue's open periods the run meets, in simulated seconds from its start: none for a
        queue without hours."""
        hours = self.queue_spec(queue_id).hours
        if hours is None:
            return []
        until_s = (self.hours + self.drain_h) * HOUR_S
        return wall.open_periods(hours.opens_h, hours.closes_h, self.start_h, until_s)

    def is_open(self, queue_id: str, simulated_s: float) -> bool:
        hours = self.queue_spec(queue_id).hours
        return hours is None or wall.is_open(hours.opens_h, hours.closes_h, self.start_h, simulated_s)

    def minute_phase(self) -> float | None:
        """Seconds past a wall minute at which every queue's openings and closings fall from the
        run's start; None when no queue has hours."""
        for spec in self.queues.values():
            if spec.hours is not None:
                return wall.minute_phase(spec.hours.opens_h, self.start_h, self.speed)
        return None

    def daily_curve(self) -> DailyCurve:
        return DailyCurve(self.curve)

    def queue_channels(self) -> dict[str, set[str]]:
        """Each queue contacts enter, transferred ones included, with the channels they enter it on."""
        entered: dict[str, set[str]] = {}
        for channel, load in self.channels.items():
            entered.setdefault(load.queue, set()).add(channel)
            if load.transfer_to:
                entered.setdefault(load.transfer_to, set()).add(channel)
            if load.callback_acceptance:
                entered[load.queue].add("callback")
        for queue_id, spec in self.queues.items():
            # Closed, the queue calls its callers back at the next opening.
            hours = spec.hours
            if (
                hours is not None
                and hours.closed_action == "callback"
                and "voice" in entered.get(queue_id, ())
            ):
                entered[queue_id].add("callback")
        if self.self_service is not None:
            entered.setdefault(self.self_service.escalate_to, set()).add("chat")
        return entered

    def queue_spec(self, queue_id: str) -> QueueSpec:
        return self.queues.get(queue_id, QueueSpec())

    def real_s(self, simulated_s: float) -> float:
        """The platform runs on the wall clock, so a time it enforces (a service-level threshold, an
        offer's timeout) is configured compressed like the customers and agents it applies to."""
        return simulated_s / self.speed

    @classmethod
    def default(cls) -> Scenario:
        """A mid-sized service and support centre on a weekday morning."""
        chat_like = {"chat": 3, "sms": 3, "social": 3}
        return cls(
            channels={
                "voice": ChannelLoad(
                    per_hour=120, queue="service-voice", patience_mean_s=180, handle=Duration(mean_s=300),
                    hold_rate=0.15, transfer_rate=0.05, transfer_to="support-voice", callback_acceptance=0.5,
                ),
                "chat": ChannelLoad(
                    per_hour=60, queue="service-chat", patience_mean_s=240, handle=Duration(mean_s=480)
                ),
                "sms": ChannelLoad(per_hour=15, queue="service-chat", handle=Duration(mean_s=600)),
                "social": ChannelLoad(per_hour=15, queue="service-chat", handle=Duration(mean_s=600)),
                "email": ChannelLoad(per_hour=40, queue="support-email", handle=Duration(mean_s=420)),
                "web_form": ChannelLoad(per_hour=10, queue="support-email", handle=Duration(mean_s=420)),
            },
            queues={
                "service-voice": QueueSpec(callback_threshold_s=120),
                "support-email": QueueSpec(
                    department="support", service_level_threshold_s=4 * 3600, service_level_target=0.9
                ),
                "support-voice": QueueSpec(
                    department="support", service_level_threshold_s=60, required_skills={"technical": 3}
                ),
            },
            self_service=SelfService(per_hour=60, contained=0.6, escalate_to="service-chat"),
            tickets=Tickets(pending_rate=0.2, on_hold_rate=0.1, close_rate=0.3),
            agents=(
                AgentGroup(
                    name="voice", count=16, queues=("service-voice",), capacity={"voice": 1},
                    shift_start_h=7, shift_end_h=16,
                ),
                AgentGroup(
                    name="digital", count=8, queues=("service-chat",), capacity=chat_like,
                    shift_start_h=8, shift_end_h=17,
                ),
                AgentGroup(
                    name="support", count=5, queues=("support-email", "support-voice"),
                    capacity={"email": 1, "voice": 1}, skills={"technical": 4},
                    shift_start_h=8, shift_end_h=17,
                ),
            ),
        )  # fmt: skip
