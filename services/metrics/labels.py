"""Label values from the events' enums: the value's name without its prefix, in lower case
(CHANNEL_VOICE is "voice"), so labels stay bounded by the enums; ids never are labels."""

from __future__ import annotations

from typing import Any, get_args

from helpline.v1 import common_pb2
from services.metrics.domain.kpis import NpsCategory

UNKNOWN = "unknown"

# A generated proto enum wrapper (common_pb2.Channel...): its stubs type each one apart.
ProtoEnum = Any


def word(wrapper: ProtoEnum, prefix: str, value: int) -> str:
    """The label of an enum value: its name without the prefix, in lower case; '' for UNSPECIFIED and
    "unknown" for a value newer than this build, so labels stay bounded."""
    if value == 0:
        return ""
    try:
        return str(wrapper.Name(value)).removeprefix(prefix).lower()
    except ValueError:
        return UNKNOWN


def words(wrapper: ProtoEnum, prefix: str) -> tuple[str, ...]:
    """Every label an enum gives but '' (UNSPECIFIED) and "unknown"."""
    return tuple(word(wrapper, prefix, value) for value in wrapper.values() if value != 0)


def channel_label(value: int) -> str:
    return word(common_pb2.Channel, "CHANNEL_", value)


def department_label(value: int) -> str:
    return word(common_pb2.Department, "DEPARTMENT_", value)


def tier_label(value: int) -> str:
    return word(common_pb2.Tier, "TIER_", value)


def ticket_status_label(value: int) -> str:
    return word(common_pb2.TicketStatus, "TICKET_STATUS_", value)


def sla_metric_label(value: int) -> str:
    return word(common_pb2.SlaMetric, "SLA_METRIC_", value)


def agent_state_label(value: int) -> str:
    return word(common_pb2.AgentState, "AGENT_STATE_", value)


CHANNELS = words(common_pb2.Channel, "CHANNEL_")
# Every channel label an event can give, the unspecified and unknown ones included.
EVERY_CHANNEL = ("", *CHANNELS, UNKNOWN)
DEPARTMENTS = words(common_pb2.Department, "DEPARTMENT_")
PRIORITIES = words(common_pb2.Priority, "PRIORITY_")
TIERS = words(common_pb2.Tier, "TIER_")
SLA_METRICS = words(common_pb2.SlaMetric, "SLA_METRIC_")
AGENT_STATES = words(common_pb2.AgentState, "AGENT_STATE_")
AGENT_STATUSES = words(common_pb2.AgentStatus, "AGENT_STATUS_")
NPS_CATEGORIES: tuple[str, ...] = get_args(NpsCategory)
