"""The KPI recording rules of deploy/prometheus/rules/recording.yml, written from one table here:
ten KPIs over three windows at up to three levels would be two hundred lines of near-copies by hand.

    uv run python scripts/prometheus_rules.py generate   # rewrite the file
    uv run python scripts/prometheus_rules.py check      # fail when the file is not what this writes

Names follow Prometheus' `level:metric:operation` convention: `tenant_queue_channel:helpline_service_
level:ratio_rate5m` is service level by tenant, queue and channel over 5 minutes. Every ratio is one
increase() over another in the same window, from series the metrics service exports from zero, so
the extrapolation increase() applies cancels out and the ratio is exact. A ratio whose denominator
is zero has no sample (`> 0` filters it) rather than NaN. The KPIs' definitions are DOMAIN.md's, as
services/metrics/domain/kpis.py computes them; docs/metrics.md says which series feed which.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "rules" / "recording.yml"
WINDOWS = ("5m", "1h", "1d")
QUEUE = ("tenant", "queue", "channel")
TENANT = ("tenant",)
TENANT_METRIC = ("tenant", "metric")

ON_CONTACTS = 'helpline_agent_state_seconds_total{state=~"busy|after_contact_work"}'
OPEN_FOR_CONTACTS = 'helpline_agent_state_seconds_total{state=~"idle|offered",status="available"}'
PROMOTERS = 'helpline_nps_responses_total{category="promoter"}'
DETRACTORS = 'helpline_nps_responses_total{category="detractor"}'
MET_IN_TIME = 'helpline_sla_fulfilled_total{late="false"}'

Expression = Callable[[Callable[[str], str]], str]


@dataclass(frozen=True)
class Kpi:
    metric: str
    operation: str
    levels: tuple[tuple[str, ...], ...]
    # Given `inc(series selector)` (its increase over the window, summed at the level), the KPI.
    expression: Expression
    help: str


def ratio(numerator: str, denominator: str) -> str:
    return f"{numerator}\n/\n({denominator} > 0)"


KPIS = (
    Kpi(
        "helpline_service_level",
        "ratio_rate",
        (QUEUE, TENANT),
        lambda inc: ratio(
            inc("helpline_contacts_answered_in_threshold_total"),
            f"{inc('helpline_contacts_answered_total')}\n"
            f"+ {inc('helpline_contacts_abandoned_total')}\n"
            f"- {inc('helpline_contacts_abandoned_short_total')}",
        ),
        "Answered within the queue's threshold / (answered + abandoned - short abandons).",
    ),
    Kpi(
        "helpline_asa_seconds",
        "mean",
        (QUEUE, TENANT),
        lambda inc: ratio(
            inc("helpline_contact_queue_wait_seconds_sum"), inc("helpline_contact_queue_wait_seconds_count")
        ),
        "Average speed of answer: mean queue time of answered contacts.",
    ),
    Kpi(
        "helpline_aht_seconds",
        "mean",
        (QUEUE, TENANT),
        lambda inc: ratio(
            inc("helpline_contact_handle_seconds_sum"), inc("helpline_contact_handle_seconds_count")
        ),
        "Average handle time: talk + hold + wrap-up per completed contact.",
    ),
    Kpi(
        "helpline_abandonment",
        "ratio_rate",
        (QUEUE, TENANT),
        lambda inc: ratio(inc("helpline_contacts_abandoned_total"), inc("helpline_contacts_queued_total")),
        "Abandoned / queued (callbacks in neither).",
    ),
    Kpi(
        "helpline_occupancy",
        "ratio_rate",
        (TENANT,),
        lambda inc: ratio(
            inc(ON_CONTACTS),
            f"{inc(ON_CONTACTS)}\n+ {inc(OPEN_FOR_CONTACTS)}",
        ),
        "Time on contacts / (time on contacts + idle or ringing time while available).",
    ),
    Kpi(
        "helpline_fcr",
        "ratio_rate",
        (TENANT,),
        lambda inc: ratio(
            f"clamp_min(\n{inc('helpline_tickets_solved_first_contact_total')}\n"
            f"- {inc('helpline_tickets_reopened_in_fcr_window_total')},\n0)",
            inc("helpline_tickets_solved_total"),
        ),
        "First-contact resolution: tickets solved on one contact and not reopened within 7 days / solved.",
    ),
    Kpi(
        "helpline_csat",
        "ratio_rate",
        (TENANT,),
        lambda inc: ratio(
            inc('helpline_csat_responses_total{satisfied="true"}'), inc("helpline_csat_responses_total")
        ),
        "CSAT: answers of 4 or 5 out of 5 / answers.",
    ),
    Kpi(
        "helpline_nps",
        "score",
        (TENANT,),
        lambda inc: (
            "100 * "
            + ratio(
                f"(\n{inc(PROMOTERS)}\n- {inc(DETRACTORS)}\n)",
                inc("helpline_nps_responses_total"),
            )
        ),
        "NPS: % promoters - % detractors, from -100 to 100.",
    ),
    Kpi(
        "helpline_ces",
        "score",
        (TENANT,),
        lambda inc: ratio(inc("helpline_ces_score_total"), inc("helpline_ces_responses_total")),
        "CES: mean effort on the 1-7 scale.",
    ),
    Kpi(
        "helpline_sla_compliance",
        "ratio_rate",
        (TENANT_METRIC, TENANT),
        lambda inc: ratio(
            inc(MET_IN_TIME),
            f"{inc(MET_IN_TIME)}\n+ {inc('helpline_sla_breached_total')}",
        ),
        "SLA compliance: targets met by their deadline / (met by it + breached).",
    ),
)


def _increase(level: tuple[str, ...], window: str) -> Callable[[str], str]:
    def inc(selector: str) -> str:
        name, brace, labels = selector.partition("{")
        return f"sum by ({', '.join(level)}) (increase({name}{brace}{labels}[{window}]))"

    return inc


def rules() -> dict[str, object]:
    groups = []
    for window in WINDOWS:
        recorded: list[dict[str, str]] = []
        for kpi in KPIS:
            for level in kpi.levels:
                recorded.append(
                    {
                        "record": f"{'_'.join(level)}:{kpi.metric}:{kpi.operation}{window}",
                        "expr": _Literal(kpi.expression(_increase(level, window)) + "\n"),
                    }
                )
        groups.append({"name": f"helpline-kpis-{window}", "rules": recorded})
    return {"groups": groups}


class _Literal(str):
    """Written as a YAML block, so each rule's expression reads as it would be typed."""

    __slots__ = ()


# This script's own process is the only user of the safe dumper it teaches blocks to.
yaml.SafeDumper.add_representer(
    _Literal, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
)


def render() -> str:
    header = (
        "# Generated by scripts/prometheus_rules.py from its KPI table: edit that, then run\n"
        "# `uv run python scripts/prometheus_rules.py generate`. `make lint` fails when they differ.\n"
    )
    return header + str(yaml.safe_dump(rules(), sort_keys=False, width=200))


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else ""
    if mode == "generate":
        RULES.parent.mkdir(parents=True, exist_ok=True)
        RULES.write_text(render())
        return 0
    if mode == "check":
        if not RULES.exists() or RULES.read_text() != render():
            stale = RULES.relative_to(ROOT)
            print(f"{stale} is not what scripts/prometheus_rules.py writes: run it with generate")  # noqa: T201
            return 1
        return 0
    print("usage: prometheus_rules.py generate|check")  # noqa: T201
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
