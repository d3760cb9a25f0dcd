"""Enum values become bounded lower-case label words."""

from __future__ import annotations

from helpline.v1 import common_pb2
from services.metrics.labels import word


def test_an_enum_value_is_its_name_without_the_prefix_in_lower_case() -> None:
    assert word(common_pb2.Channel, "CHANNEL_", common_pb2.CHANNEL_WEB_FORM) == "web_form"
    assert word(common_pb2.SlaMetric, "SLA_METRIC_", common_pb2.SLA_METRIC_FIRST_REPLY) == "first_reply"


def test_unspecified_is_empty_and_a_value_newer_than_the_build_is_unknown() -> None:
    assert word(common_pb2.Department, "DEPARTMENT_", common_pb2.DEPARTMENT_UNSPECIFIED) == ""
    assert word(common_pb2.Department, "DEPARTMENT_", 99) == "unknown"
