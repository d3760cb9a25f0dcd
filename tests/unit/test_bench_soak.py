"""The soak benchmark's pure parts: its settings, scaled by the speed, are ones the services take;
its centre is a valid scenario of the size asked; kinds of key; and the figures and verdicts the
report draws from samples. The run itself is tests/integration/test_bench_soak.py."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from bench.redis_census import Kind, key_kind
from bench.report import BENCHES
from bench.soak import HOUR_S, SETTINGS, centre, settings_env, settings_used
from bench.soak_report import (
    CONTACT_KIND,
    DAY_S,
    SLA_KINDS,
    TICKET_KIND,
    CentreDay,
    Sample,
    SoakRun,
    bytes_per_ticket,
    clock_text,
    delta,
    markdown,
    plateaus,
    size,
)
from helpline.settings import Settings
from services.metrics.app import MetricsSettings
from services.router.app import RouterSettings
from services.sla.app import SlaSettings
from services.tickets.app import TicketsSettings

SETTINGS_OF: dict[str, type[Settings]] = {
    "router": RouterSettings,
    "tickets": TicketsSettings,
    "sla": SlaSettings,
    "metrics": MetricsSettings,
}


def _quick(option: str) -> float:
    args = BENCHES["soak"].quick_args
    return float(args[args.index(option) + 1])


def _taken(service: str, speed: float, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for variable, value in settings_env(service, speed).items():
        monkeypatch.setenv(variable, value)
    return SETTINGS_OF[service]()


@pytest.mark.parametrize("speed", [480.0, _quick("--speed"), 30_000.0])
@pytest.mark.parametrize("service", list(SETTINGS_OF))
def test_the_scaled_settings_are_taken_by_each_service(
    service: str, speed: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = _taken(service, speed, monkeypatch)
    for variable in settings_env(service, speed):
        assert variable.removeprefix("HELPLINE_").lower() in type(taken).model_fields


def test_a_simulated_day_of_retention_is_a_day_divided_by_the_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    router = _taken("router", 480, monkeypatch)
    assert isinstance(router, RouterSettings)
    assert (router.contact_retention_seconds, router.desk_retention_seconds) == (180, 8)
    assert router.last_agent_retention_seconds == 360
    tickets = _taken("tickets", 480, monkeypatch)
    assert isinstance(tickets, TicketsSettings)
    assert tickets.close_after_days * DAY_S == pytest.approx(180)
    metrics = _taken("metrics", 480, monkeypatch)
    assert isinstance(metrics, MetricsSettings)
    assert (metrics.fcr_reopen_window_seconds, metrics.fcr_marker_retention_seconds) == (180, 360)
    assert metrics.staffing_window_seconds == 60


def test_every_retention_the_soak_shortens_is_reached_well_within_a_week() -> None:
    for setting in SETTINGS:
        assert setting.soak_s <= min(setting.default_s, 2 * DAY_S), setting
    used = {s.variable: s for s in settings_used(480)}
    assert used["HELPLINE_LAST_AGENT_RETENTION_SECONDS"].default == "30 days"
    assert used["HELPLINE_LAST_AGENT_RETENTION_SECONDS"].simulated == "2 days"
    assert used["HELPLINE_DESK_RETENTION_SECONDS"].simulated == "1 h"
    assert used["HELPLINE_STAFFING_WINDOW_SECONDS"].simulated == "8 h (its least, a real minute)"
    assert used["HELPLINE_STAFFING_WINDOW_SECONDS"].value == "60"


def test_the_full_centre_is_200_agents_over_a_week_of_every_channel() -> None:
    scenario = centre(agents=200, contacts_per_day=2400, days=7, speed=400)
    assert sum(group.count for group in scenario.agents) == 200
    assert scenario.hours == 7 * 24
    assert scenario.start_h == 0
    assert set(scenario.channels) == {"voice", "chat", "sms", "social", "email", "web_form"}
    assert scenario.tickets is not None
    assert scenario.self_service is not None
    daily = sum(load.per_hour for load in scenario.channels.values()) + scenario.self_service.per_hour
    assert daily * 24 == pytest.approx(2400)
    # An offer and an answer target last long enough on the wall clock for the platform's latency.
    for spec in scenario.queues.values():
        assert min(spec.offer_timeout_s, spec.service_level_threshold_s) / scenario.speed >= 0.3
    assert scenario.queues["support-email"].service_level_threshold_s == 4 * 3600
    # Someone is on shift at every hour of every day.
    assert any(group.shift_start_h == 0 and group.shift_end_h == 24 for group in scenario.agents)


def test_the_quick_centre_is_valid() -> None:
    scenario = centre(
        agents=int(_quick("--agents")),
        contacts_per_day=_quick("--contacts-per-day"),
        days=int(_quick("--days")),
        speed=_quick("--speed"),
    )
    assert sum(group.count for group in scenario.agents) == _quick("--agents")


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        (b"rt:{acme}:contact:c-1", "rt:{t}:contact"),
        (b"rt:{acme}:timers", "rt:{t}:timers"),
        (b"tk:{acme}:idem:contact:c-1", "tk:{t}:idem"),
        (b"metrics:answered:acme\x1fc-1", "metrics:answered"),
        (b"metrics:thresholds", "metrics:thresholds"),
        (b"sla:timers", "sla:timers"),
    ],
)
def test_a_key_kind_is_its_name_up_to_the_record(key: bytes, kind: str) -> None:
    assert key_kind(key) == kind


# -- the report -----------------------------------------------------------------------------------

KB = 1000


def _census(contacts: int, tickets: int, slas: int) -> dict[str, Mapping[str, Kind]]:
    return {
        "router": {CONTACT_KIND: Kind(contacts, contacts * 1500), "rt:{t}:agent": Kind(10, 8000)},
        "tickets": {TICKET_KIND: Kind(tickets, tickets * 900)},
        "sla": {SLA_KINDS[0]: Kind(slas, slas * 2000)},
        "metrics": {"metrics:answered": Kind(contacts, contacts * 90)},
    }


def _run(router: list[int], sla: list[int], tickets: list[int], kept: list[tuple[int, int, int]]) -> SoakRun:
    samples = []
    for day, (r, s, t, counts) in enumerate(zip(router, sla, tickets, kept, strict=True)):
        used = {"router": r, "sla": s, "tickets": t, "metrics": r // 10}
        samples.append(Sample(day * DAY_S, used, {"router": 0}, {"metrics": 0}, _census(*counts)))
        if day < len(router) - 1:
            samples.append(Sample(day * DAY_S + 12 * HOUR_S, used, {"router": 2}, {"metrics": 1200}))
    return SoakRun(
        days=len(router) - 1,
        agents=200,
        speed=480,
        contacts_per_day=4000,
        samples=samples,
        settings=settings_used(480),
        arrived=12_000,
        centre=[CentreDay(4000, 3500, 3000, 400, 61.5), CentreDay(4000, 3500, 2900, 500, None)],
        refusals=["voice-01: FAILED_PRECONDITION already_abandoned"],
    )


RUN = _run(
    router=[1000 * KB, 7000 * KB, 7200 * KB, 7250 * KB],
    sla=[1000 * KB, 5000 * KB, 8000 * KB, 9500 * KB],
    tickets=[1000 * KB, 4000 * KB, 7000 * KB, 10_000 * KB],
    kept=[(0, 0, 0), (4000, 1000, 1000), (4000, 2000, 2000), (4000, 3000, 2500)],
)


def test_the_last_days_growth_is_held_to_five_percent_of_the_first_days() -> None:
    router, sla, metrics = plateaus(RUN)
    assert (router.service, router.first, router.last) == ("router", 6000 * KB, 50 * KB)
    assert router.ratio == pytest.approx(50 / 6000)
    assert router.holds
    assert sla.ratio == pytest.approx(1500 / 4000)
    assert not sla.holds
    assert metrics.first == 600 * KB


def test_a_service_that_shrank_on_its_first_day_has_no_ratio_and_fails() -> None:
    shrinking = _run(
        [1000, 900, 900], [1000, 2000, 2000], [1000, 2000, 3000], [(0, 0, 0), (1, 1, 1), (1, 2, 1)]
    )
    router = plateaus(shrinking)[0]
    assert router.ratio is None
    assert not router.holds


def test_bytes_per_ticket_is_the_growth_over_the_tickets_created() -> None:
    assert bytes_per_ticket(RUN, 1, 3) == pytest.approx(9000 * KB / 3000)
    assert bytes_per_ticket(RUN, 3, 3) == pytest.approx(3000 * KB / 1000)


def test_the_report_has_every_table_and_verdict() -> None:
    text = markdown(RUN, ["wall time 24.0 min"])
    assert "A centre of 200 agents, 3 simulated days at 480x (a simulated day in 3.0 real minutes)" in text
    day_one = "| 1 | 7.00 MB | +6.00 MB | 4.00 MB | +3.00 MB | 5.00 MB | +4.00 MB | 700 kB | +600 kB |"
    assert f"{day_one} 4,000 | 1,000 |" in text
    assert "| router | +6.00 MB | +50 kB | 0.8% | PASS |" in text
    assert "| sla | +4.00 MB | +1.50 MB | 37.5% | FAIL |" in text
    assert "grows with its tickets: 3,000 bytes a ticket on the last day (1,000 created)" in text
    assert "| contact (router `rt:{t}:contact`) | 4,000 | 6.25 MB | 1,562 | 1,500 |" in text
    assert "| ticket (tickets `tk:{t}:ticket`) | 3,000 | 9.00 MB | 3,000 | 900 |" in text
    assert "| router | `rt:{t}:contact` | 4,000 | 6.00 MB | 1,500 | +0 | +0 B |" in text
    assert "| tickets | `tk:{t}:ticket` | 3,000 | 2.70 MB | 900 | +1,000 | +900 kB |" in text
    assert "| day 2 12:00 | 7.00 MB | 4.00 MB | 5.00 MB | 700 kB | 2 | 0 / 0 / 0 / 1,200 |" in text
    assert "| 1 | 4,000 | 3,500 | 3,000 | 400 | 62 s |" in text
    assert "| 2 | 4,000 | 3,500 | 2,900 | 500 | - |" in text
    assert "| router | `HELPLINE_CONTACT_RETENTION_SECONDS` | 1 day | 1 day | 180 |" in text
    assert "- the platform refused 1 calls of the simulated centre" in text
    assert text.endswith("- wall time 24.0 min")


def test_sizes_read_in_bytes_kilobytes_and_megabytes() -> None:
    assert [size(n) for n in (930, 1234, 81_200, 2_310_000)] == ["930 B", "1.2 kB", "81 kB", "2.31 MB"]
    assert (delta(1234), delta(-81_200)) == ("+1.2 kB", "-81 kB")
    assert clock_text(DAY_S + 6 * HOUR_S) == "day 2 06:00"
