"""The two routing invariants, checked on the event stream in commit order: no agent's load
ever exceeds its capacity, and a contact is never on offer to two agents at once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from helpline.v1 import agent_events_pb2, contact_events_pb2

# The events that end an offer without the contact leaving the router's hands.
_OFFER_ENDS = (
    contact_events_pb2.ContactAccepted,
    contact_events_pb2.ContactRejected,
    contact_events_pb2.ContactOfferTimedOut,
    contact_events_pb2.ContactAbandoned,
    contact_events_pb2.ContactCallbackScheduled,
)


def violations(events: Iterable[Any]) -> list[str]:
    found: list[str] = []
    on_offer: dict[str, str] = {}
    offers = 0
    for event in events:
        if isinstance(event, agent_events_pb2.AgentStateChanged):
            found.extend(
                f"agent {event.agent_id} has {load.active} of {load.capacity} on channel {load.channel}"
                for load in event.loads
                if load.active > load.capacity
            )
        elif isinstance(event, contact_events_pb2.ContactOffered):
            offers += 1
            if event.contact_id in on_offer:
                found.append(
                    f"contact {event.contact_id} offered to {event.agent_id} while on offer to "
                    f"{on_offer[event.contact_id]}"
                )
            on_offer[event.contact_id] = event.agent_id
        elif isinstance(event, _OFFER_ENDS):
            on_offer.pop(event.contact_id, None)
    if offers == 0:
        found.append("no offer at all: the check saw nothing")
    return found
