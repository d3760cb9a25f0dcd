"""The contact centre's KPIs, each a recording rule of deploy/prometheus/rules/recording.yml:
the overview shows them all, the agents and tickets dashboards the ones about them."""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.models import units

from scripts.dashboards.panels import GOOD_HIGH_SL, NEUTRAL, Scale


@dataclass(frozen=True)
class Kpi:
    title: str
    rule: str  # the recording rule without level and window: helpline_service_level:ratio_rate
    scale: Scale
    description: str


KPIS = (
    Kpi(
        "Service level",
        "helpline_service_level:ratio_rate",
        Scale(units.PercentUnit, GOOD_HIGH_SL, 0, 1),
        "Contacts answered within their queue's threshold / (answered + abandoned - short abandons). "
        "Red below 80 %, the default target; the queues dashboard compares each queue with its own.",
    ),
    Kpi(
        "ASA",
        "helpline_asa_seconds:mean",
        Scale(units.Seconds, ((None, "green"), (30, "yellow"), (60, "red")), 0),
        "Average speed of answer: the mean queue time of answered contacts.",
    ),
    Kpi(
        "AHT",
        "helpline_aht_seconds:mean",
        Scale(units.Seconds, NEUTRAL, 0),
        "Average handle time: talk + hold + after-contact work per completed contact.",
    ),
    Kpi(
        "Abandonment",
        "helpline_abandonment:ratio_rate",
        Scale(units.PercentUnit, ((None, "green"), (0.05, "yellow"), (0.1, "red")), 0, 1),
        "Abandoned / queued contacts (callbacks in neither).",
    ),
    Kpi(
        "Occupancy",
        "helpline_occupancy:ratio_rate",
        Scale(units.PercentUnit, ((None, "blue"), (0.6, "green"), (0.9, "red")), 0, 1),
        "Time on contacts / (time on contacts + time available and idle). Blue is under-used, red "
        "above 90 % is more than agents sustain.",
    ),
    Kpi(
        "FCR",
        "helpline_fcr:ratio_rate",
        Scale(units.PercentUnit, ((None, "red"), (0.6, "yellow"), (0.7, "green")), 0, 1),
        "First-contact resolution: tickets solved on one contact and not reopened within 7 days / solved.",
    ),
    Kpi(
        "CSAT",
        "helpline_csat:ratio_rate",
        Scale(units.PercentUnit, ((None, "red"), (0.7, "yellow"), (0.8, "green")), 0, 1),
        "Customer satisfaction: answers of 4 or 5 out of 5 / answers.",
    ),
    Kpi(
        "NPS",
        "helpline_nps:score",
        Scale(units.Short, ((None, "red"), (0, "yellow"), (30, "green")), -100, 100, 0),
        "Net promoter score: % promoters (9-10) - % detractors (0-6), in points from -100 to 100.",
    ),
    Kpi(
        "CES",
        "helpline_ces:score",
        Scale(units.Short, NEUTRAL, 1, 7, 2),
        "Customer effort score: the mean answer on the 1-7 scale (1-5 answers mapped onto it). "
        "Not coloured: which end is good depends on the survey's wording.",
    ),
    Kpi(
        "SLA compliance",
        "helpline_sla_compliance:ratio_rate",
        Scale(units.PercentUnit, ((None, "red"), (0.9, "yellow"), (0.95, "green")), 0, 1),
        "Ticket SLA targets met by their deadline / (met by it + breached), over every SLA metric.",
    ),
)
