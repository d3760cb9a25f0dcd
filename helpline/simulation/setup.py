"""The simulated centre's queues and agents, written through the router's REST admin as an
operator would: one PUT a queue and one an agent, each agent with its own routing profile."""

from __future__ import annotations

from typing import Any

import httpx

from helpline.simulation.scenario import AgentGroup, Scenario


class SetupError(RuntimeError):
    """The router refused part of the scenario; the message carries its problem detail."""


def agent_ids(group: AgentGroup) -> list[str]:
    return [f"{group.name}-{number:02d}" for number in range(1, group.count + 1)]


def router_requests(scenario: Scenario) -> list[tuple[str, dict[str, Any]]]:
    """(path, body) of every PUT, queues first: an agent's profile names its queues. The queues'
    times are the scenario's compressed to the wall clock the router keeps."""
    requests: list[tuple[str, dict[str, Any]]] = []
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
            body = {"display_name": f"{group.name} {agent_id[-2:]}", "routing_profile": profile}
            requests.append((f"/v1/agents/{agent_id}", body))
    return requests


def configure_router(client: httpx.Client, api_key: str, scenario: Scenario) -> int:
    """PUT the scenario's queues and agents into the tenant the key belongs to; returns how many.
    A PUT replaces, so running a scenario twice leaves the same configuration."""
    requests = router_requests(scenario)
    for path, body in requests:
        response = client.put(path, json=body, headers={"X-API-Key": api_key})
        if response.status_code >= 300:
            raise SetupError(f"PUT {path}: {response.status_code} {response.text}")
    return len(requests)
