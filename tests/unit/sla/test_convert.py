"""The SLA service's enums in the contracts' terms, mapped by name like the router's and tickets'."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

import pytest

from helpline.v1 import common_pb2
from helpline.vocabulary import AUTHOR_TYPE_TO_PROTO, TICKET_STATUS_TO_PROTO
from services.sla.api import convert_config
from services.sla.domain import convert
from services.sla.domain.model import Author, Basis, Metric, SlaError, Status, Trigger

ROUND_TRIPS: list[tuple[type[StrEnum], Mapping[Any, int], Callable[..., Any]]] = [
    (Metric, convert.METRIC_TO_PROTO, convert.metric_from_proto),
    (Basis, convert.BASIS_TO_PROTO, convert.basis_from_proto),
    (Status, TICKET_STATUS_TO_PROTO, convert.status_from_proto),
    (Author, AUTHOR_TYPE_TO_PROTO, convert.author_from_proto),
    (Trigger, convert_config.TRIGGER_TO_PROTO, convert_config.trigger_from_proto),
]


@pytest.mark.parametrize(("enum", "to_proto", "from_proto"), ROUND_TRIPS)
def test_every_member_maps_to_a_distinct_value_and_back(
    enum: type[StrEnum], to_proto: Mapping[Any, int], from_proto: Callable[..., Any]
) -> None:
    assert set(to_proto) == set(enum)
    assert len(set(to_proto.values())) == len(enum)
    for member in enum:
        assert from_proto(to_proto[member]) is member


def test_unset_and_unknown_values_are_refused_with_the_rules_the_consumer_dead_letters() -> None:
    with pytest.raises(SlaError) as unset:
        convert.status_from_proto(common_pb2.TICKET_STATUS_UNSPECIFIED)
    with pytest.raises(SlaError) as unknown:
        convert.metric_from_proto(99)
    assert {unset.value.rule, unknown.value.rule} == convert.ENUM_RULES


def test_type_and_channel_are_words_and_unknown_ones_are_empty() -> None:
    assert convert.type_word(common_pb2.TICKET_TYPE_FIELD_SERVICE) == "field_service"
    assert convert.channel_word(common_pb2.CHANNEL_WEB_FORM) == "web_form"
    # A ticket opened through the API has no channel a policy can name.
    assert convert.channel_word(common_pb2.CHANNEL_UNSPECIFIED) == ""
    assert convert.type_word(99) == ""
    assert convert.channel_proto("web_form") == common_pb2.CHANNEL_WEB_FORM
    assert convert.channel_proto("") == common_pb2.CHANNEL_UNSPECIFIED
