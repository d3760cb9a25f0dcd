"""The words every service's domain shares with the contracts (common.proto): priority,
department and support tier, with their protobuf values. Channels stay per service, since the
tickets model adds `api` and the router gives channels their capacity rules."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

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


PRIORITY_TO_PROTO: Mapping[Priority, common_pb2.Priority.ValueType] = {
    Priority.LOW: common_pb2.PRIORITY_LOW,
    Priority.NORMAL: common_pb2.PRIORITY_NORMAL,
    Priority.HIGH: common_pb2.PRIORITY_HIGH,
    Priority.URGENT: common_pb2.PRIORITY_URGENT,
}
DEPARTMENT_TO_PROTO: Mapping[Department, common_pb2.Department.ValueType] = {
    Department.SERVICE: common_pb2.DEPARTMENT_SERVICE,
    Department.SUPPORT: common_pb2.DEPARTMENT_SUPPORT,
}
TIER_TO_PROTO: Mapping[Tier, common_pb2.Tier.ValueType] = {
    Tier.L1: common_pb2.TIER_L1,
    Tier.L2: common_pb2.TIER_L2,
    Tier.L3: common_pb2.TIER_L3,
}
