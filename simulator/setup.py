"""The simulated centre's queues and agents, written through the router's REST admin as an
operator would (one PUT a queue and one an agent, each agent with its own routing profile), and
its tickets' SLA policy through the SLA service's."""

from __future__ import annotations

import time
from http import HTTPStatus
from typing import Any

import httpx

from simulator.retry import BACKOFF
from simulator.scenario import AgentGroup, Scenario


class SetupError(RuntimeError):
    """The router refused part of the scenario; the message carries its problem detail."""


def agent_ids(group: AgentGroup) -> list[str]:
    return [f"{group.name}-{number:02d}" for number in range(1, group.count + 1)]


def router_requests(scenario: Scenario) -> list[tuple[str, dict[str, Any]]]:
    """(path, body) of every PUT: skills, then queues, then agents, each naming what came before.
    The queues' times are the scenario's compressed to the wall clock the router keeps."""
    skills = sorted(
        {name for g in scenario.agents for name in g.skills}
        | {name for queue in scenario.queues.values() for name in queue.required_skills}
    )
    # Skills first: queues and agents may only name skills the tenant has.
    requests: list[tuple[str, dict[str, Any]]] = [
        (f"/v1/skills/{name}", {"description": f"{name} (simulated centre)"}) for name in skills
    ]
    for queue_id, channels in sorted(scenario.queue_channels().items()):
        spec = scenario.queue_spec(queue_id)
        requests.append(
            (
                f"/v1/queues/{queue_id}",
                {
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


def configure_router(client: httpx.Client, api_key: str, scenario: Scenario) -> int:
    """PUT the scenario's queues and agents into the tenant the key belongs to; returns how many.
    A PUT replaces, so running a scenario twice leaves the same configuration."""
    return _put_all(client, api_key, router_requests(scenario))


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
