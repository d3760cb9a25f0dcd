"""The words every service's domain shares with the contracts (common.proto): priority,
department and support tier, with their protobuf values. Channels stay per service, since the
tickets model adds `api` and the router gives channels their capacity rules."""

from __future__ import annotations

from enum import StrEnum

from helpline.domain import enum_map
from helpline.v1 import common_pb2


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Department(StrEnum):
    SERVICE = "service"
    SUPPORT = "support"


class Tier(StrEnum):
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"


PRIORITY_TO_PROTO = enum_map(Priority, common_pb2.Priority, "PRIORITY_")
DEPARTMENT_TO_PROTO = enum_map(Department, common_pb2.Department, "DEPARTMENT_")
TIER_TO_PROTO = enum_map(Tier, common_pb2.Tier, "TIER_")
