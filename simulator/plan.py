"""The run's contacts, decided before it starts: when each arrives and where, how long its customer
would wait, how long its agent will take, what a bot makes of it and what the customer answers to
the survey. The runner plays the plan against the stack; the plan and what the stack then did are
the simulator's ground truth.

Each channel, the bot and the surveys draw from their own stream of the seed, so changing one
channel's load leaves the others' contacts as they were.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from simulator.model import HOUR_S, arrivals, patience
from simulator.scenario import Scenario

BotOutcome = Literal["none", "contained", "escalated"]
# What customers ask a bot; a contained conversation resolved it, an escalated one hands it over.
INTENTS = ("account.password_reset", "orders.status", "billing.invoice", "billing.refund", "tech.outage")

# Answer weights, highest score last: most customers of a working centre are satisfied, a few are not.
CSAT_WEIGHTS = (0.04, 0.06, 0.12, 0.33, 0.45)
NPS_WEIGHTS = (0.02, 0.01, 0.02, 0.03, 0.03, 0.05, 0.06, 0.12, 0.16, 0.22, 0.28)
# Customer effort, 1 (very easy) to 7 (very hard).
CES_WEIGHTS = (0.30, 0.28, 0.18, 0.10, 0.07, 0.04, 0.03)


@dataclass(frozen=True)
class SurveyAnswers:
    csat: int
    nps: int
    ces: int


@dataclass(frozen=True)
class PlannedContact:
    contact_id: str
    # Simulated seconds from the run's start.
    at_s: float
    # "bot" for a bot conversation; an escalated one enters `queue_id` on chat afterwards.
    channel: str
    queue_id: str
    patience_s: float
    handle_s: float
    wrap_up_s: float
    bot: BotOutcome = "none"
    bot_s: float = 0.0
    intent: str = ""
    survey: SurveyAnswers | None = None


def plan_contacts(scenario: Scenario, run: str = "") -> list[PlannedContact]:
    """Every contact of the run, by arrival; ids `<tenant>-c000001` on, in that order, or
    `<tenant>-<run>-c000001` on: a contact id is the router's idempotency key, so each run against
    a stack names its contacts afresh."""
    prefix = f"{scenario.tenant}-{run}" if run else scenario.tenant
    curve = scenario.daily_curve()
    start = scenario.start_h * HOUR_S
    end = start + scenario.hours * HOUR_S
    drafts: list[PlannedContact] = []
    for channel, load in sorted(scenario.channels.items()):
        rng = stream(scenario.seed, channel)
        handle, wrap_up = load.handle.law(), load.wrap_up.law()
        for at in arrivals(rng, load.per_hour, curve, start, end):
            drafts.append(
                PlannedContact(
                    contact_id="",
                    at_s=at - start,
                    channel=channel,
                    queue_id=load.queue,
                    patience_s=patience(rng, load.patience_mean_s),
                    handle_s=handle.draw(rng),
                    wrap_up_s=wrap_up.draw(rng),
                )
            )
    bot = scenario.self_service
    if bot is not None:
        rng = stream(scenario.seed, "bot")
        for at in arrivals(rng, bot.per_hour, curve, start, end):
            contained = rng.random() < bot.contained
            drafts.append(
                PlannedContact(
                    contact_id="",
                    at_s=at - start,
                    channel="bot",
                    queue_id="" if contained else bot.escalate_to,
                    patience_s=patience(rng, bot.patience_mean_s),
                    handle_s=bot.handle.law().draw(rng),
                    wrap_up_s=bot.wrap_up.law().draw(rng),
                    bot="contained" if contained else "escalated",
                    bot_s=bot.conversation.law().draw(rng),
                    intent=rng.choice(INTENTS),
                )
            )
    drafts.sort(key=lambda c: (c.at_s, c.channel))
    surveys = stream(scenario.seed, "surveys")
    return [
        _numbered(draft, f"{prefix}-c{number:06d}", surveys, scenario.surveys.response_rate)
        for number, draft in enumerate(drafts, start=1)
    ]


def plan_number(contact: PlannedContact) -> str:
    """The contact's place in the plan (`c000042`), the same in every run of the seed, while its id
    carries the run's too: what the runner's own draws for the contact are keyed on."""
    return contact.contact_id.rsplit("-", 1)[-1]


def stream(seed: int, name: str) -> random.Random:
    """A named stream of the seed: the same draws whatever else the run draws."""
    # Reproducible draws for a simulation, not secrets.
    return random.Random(f"{seed}:{name}")  # noqa: S311


def _numbered(
    draft: PlannedContact, contact_id: str, rng: random.Random, response_rate: float
) -> PlannedContact:
    # Drawn for every contact, answered or not, so one contact's fate never shifts the next one's.
    responds = rng.random() < response_rate
    answers = SurveyAnswers(
        csat=_pick(rng, CSAT_WEIGHTS, 1), nps=_pick(rng, NPS_WEIGHTS, 0), ces=_pick(rng, CES_WEIGHTS, 1)
    )
    return replace(draft, contact_id=contact_id, survey=answers if responds else None)


def _pick(rng: random.Random, weights: Sequence[float], lowest: int) -> int:
    return lowest + rng.choices(range(len(weights)), weights=weights)[0]
