"""The simulated centre's queues and agents, written through the router's REST admin as an
operator would (one PUT a queue and one an agent, each agent with its own routing profile), and
its tickets' SLA policy through the SLA service's."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import httpx

from simulator import hours
from simulator.retry import BACKOFF
from simulator.scenario import AgentGroup, Scenario


class SetupError(RuntimeError):
    """The router refused part of the scenario; the message carries its problem detail."""


def agent_ids(group: AgentGroup) -> list[str]:
    return [f"{group.name}-{number:02d}" for number in range(1, group.count + 1)]


def calendar_id(queue_id: str) -> str:
    return f"{queue_id}-hours"


def run_start(scenario: Scenario, earliest: datetime) -> datetime:
    """The first instant from `earliest` a run can start at: one that puts the queues' openings
    and closings on whole wall minutes, if the scenario has hours."""
    phase = scenario.minute_phase()
    return earliest if phase is None else hours.aligned_start(earliest, phase)


def calendar_requests(scenario: Scenario, start: datetime | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The calendar of each queue with hours of operation, for a run that starts at `start` (from
    `run_start`; none: the first such instant from now, for a configuration the run's start will
    write again): its simulated open periods as the wall clock's weekly intervals."""
    start = start or run_start(scenario, datetime.now(UTC))
    requests: list[tuple[str, dict[str, Any]]] = []
    for queue_id in sorted(scenario.queues):
        periods = scenario.open_periods(queue_id)
        if not periods:
            continue
        windows = hours.wall_windows(periods, start, scenario.speed)
        body = {
            "name": f"{queue_id} (simulated hours)",
            "time_zone": "UTC",
            "open_intervals": hours.weekly_intervals(windows),
        }
        requests.append((f"/v1/calendars/{calendar_id(queue_id)}", body))
    return requests


def router_requests(scenario: Scenario, start: datetime | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(path, body) of every PUT: skills, calendars, then queues, then agents, each naming what
    came before. The queues' times are the scenario's compressed to the wall clock the router keeps,
    their hours those of a run starting at `start` (as for `calendar_requests`)."""
    skills = sorted(
        {name for g in scenario.agents for name in g.skills}
        | {name for queue in scenario.queues.values() for name in queue.required_skills}
    )
    # Skills first: queues and agents may only name skills the tenant has.
    requests: list[tuple[str, dict[str, Any]]] = [
        (f"/v1/skills/{name}", {"description": f"{name} (simulated centre)"}) for name in skills
    ]
    requests += calendar_requests(scenario, start)
    for queue_id, channels in sorted(scenario.queue_channels().items()):
        spec = scenario.queue_spec(queue_id)
        opening = (
            {}
            if spec.hours is None
            else {"calendar_id": calendar_id(queue_id), "closed_action": spec.hours.closed_action}
        )
        requests.append(
            (
                f"/v1/queues/{queue_id}",
                {
                    **opening,
                    "name": queue_id,
                    "channels": sorted(channels),
                    "department": spec.department,
                    "service_level_threshold_seconds": scenario.real_s(spec.service_level_threshold_s),
                    "service_level_target": spec.service_level_target,
                    "callback_threshold_seconds": scenario.real_s(spec.callback_threshold_s),
                    "offer_timeout_seconds": scenario.real_s(spec.offer_timeout_s),
                    "after_contact_work_timeout_seconds": scenario.real_s(spec.wrap_up_timeout_s),
                    "required_skills": [
                        {"name": name, "min_proficiency": level}
                        for name, level in sorted(spec.required_skills.items())
                    ],
                },
            )
        )
    for group in scenario.agents:
        profile = {
            "queues": [{"queue_id": queue_id} for queue_id in group.queues],
            "capacity": dict(group.capacity),
            # A digital agent takes chats, messages and posts side by side up to each capacity.
            "cross_channel": "any" if "voice" not in group.capacity else "current_only",
        }
        for agent_id in agent_ids(group):
            body = {
                "display_name": f"{group.name} {agent_id[-2:]}",
                "skills": dict(group.skills),
                "routing_profile": profile,
            }
            requests.append((f"/v1/agents/{agent_id}", body))
    return requests


def configure_router(
    client: httpx.Client, api_key: str, scenario: Scenario, start: datetime | None = None
) -> int:
    """PUT the scenario's queues and agents into the tenant the key belongs to, the queues' hours
    those of a run starting at `start` (as for `calendar_requests`); returns how many. A PUT
    replaces, so running a scenario twice leaves the same configuration."""
    return _put_all(client, api_key, router_requests(scenario, start))


def configure_calendars(client: httpx.Client, api_key: str, scenario: Scenario, start: datetime) -> int:
    """PUT the queues' calendars again for the instant the run really starts at."""
    return _put_all(client, api_key, calendar_requests(scenario, start))


def _put_all(client: httpx.Client, api_key: str, requests: list[tuple[str, dict[str, Any]]]) -> int:
    for path, body in requests:
        response = _put(client, path, body, api_key)
        if response.status_code >= 300:
            raise SetupError(f"PUT {client.base_url}{path}: {response.status_code} {response.text}")
    return len(requests)


def _put(client: httpx.Client, path: str, body: dict[str, Any], api_key: str) -> httpx.Response:
    """The PUT's answer, made again while the service answers 503 (a dependency away, for as long
    as that lasts), no sooner than its Retry-After asks."""
    failures = 0
    while True:
        response = client.put(path, json=body, headers={"X-API-Key": api_key})
        if response.status_code != HTTPStatus.SERVICE_UNAVAILABLE:
            return response
        failures += 1
        time.sleep(max(BACKOFF.delay(failures), _retry_after_s(response)))


def _retry_after_s(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else 0.0


POLICY_ID = "simulated-tickets"


def sla_requests(scenario: Scenario) -> list[tuple[str, dict[str, Any]]]:
    """The SLA policy the scenario's tickets are held to, its targets compressed to the wall clock;
    none without tickets. First in order, so an operator's own policies do not take the tickets."""
    tickets = scenario.tickets
    if tickets is None:
        return []
    targets = (("first_reply", tickets.first_reply_target_s), ("requester_wait", tickets.resolution_target_s))
    policy = {
        "name": "Simulated tickets",
        "position": 0,
        "conditions": {"channels": list(tickets.channels)},
        "targets": [
            {
                "metric": metric,
                "priority": priority,
                "target_seconds": scenario.real_s(target_s),
                "time_basis": "calendar",
            }
            for metric, target_s in targets
            for priority in ("low", "normal", "high", "urgent")
        ],
        "warn_percent": tickets.warn_percent,
    }
    return [(f"/v1/sla/policies/{POLICY_ID}", policy)]


def configure_sla(client: httpx.Client, api_key: str, scenario: Scenario) -> int:
    return _put_all(client, api_key, sla_requests(scenario))


SURVEY_SETTINGS = "/v1/settings/surveys"


def survey_settings(scenario: Scenario) -> dict[str, Any]:
    """The tenant's survey settings the run needs: the scenario's questions on every solve. No
    throttle, so each solved ticket is surveyed and the ledger can hold the platform to exactly
    one request per solve (the run's requesters are one per ticket anyway)."""
    return {"kinds": list(scenario.surveys.kinds), "throttle_days": 0}


def configure_surveys(client: httpx.Client, api_key: str, scenario: Scenario) -> int:
    return _put_all(client, api_key, [(SURVEY_SETTINGS, survey_settings(scenario))])
