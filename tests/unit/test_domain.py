"""helpline.domain: what every service's domain shares."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import pytest

from helpline.domain import DomainError, EnumReader, NotFoundError, enum_map, new_id
from helpline.v1 import common_pb2
from helpline.vocabulary import (
    DEPARTMENT_TO_PROTO,
    PRIORITY_TO_PROTO,
    TIER_TO_PROTO,
    Department,
    Priority,
    Tier,
)


def test_a_missing_record_names_its_kind_and_id() -> None:
    missing = NotFoundError("queue", "q1")
    assert str(missing) == "no queue q1"
    assert (missing.kind, missing.identifier) == ("queue", "q1")
    assert isinstance(missing, LookupError)


def test_new_ids_are_unique_and_sort_by_creation() -> None:
    ids = [new_id() for _ in range(100)]
    assert len(set(ids)) == 100
    assert all(len(i) == 26 and i.isalnum() for i in ids)
    assert ids[0][:10] <= ids[-1][:10]


class Channel(StrEnum):
    VOICE = "voice"
    WEB_FORM = "web_form"
    API = "api"


def test_enum_map_maps_each_member_to_the_proto_value_of_its_name_and_back() -> None:
    table = enum_map(Channel, common_pb2.Channel, "CHANNEL_", {Channel.API: common_pb2.CHANNEL_UNSPECIFIED})
    assert table == {
        Channel.VOICE: common_pb2.CHANNEL_VOICE,
        Channel.WEB_FORM: common_pb2.CHANNEL_WEB_FORM,
        Channel.API: common_pb2.CHANNEL_UNSPECIFIED,
    }
    read = EnumReader(table, "Channel", DomainError)
    assert all(read(table[member]) is member for member in Channel)


def test_a_member_the_contract_does_not_name_fails_when_the_table_is_built() -> None:
    with pytest.raises(ValueError, match="CHANNEL_API"):
        enum_map(Channel, common_pb2.Channel, "CHANNEL_")


def test_unspecified_is_the_default_when_there_is_one_and_unknown_values_are_refused() -> None:
    read = EnumReader(enum_map(Tier, common_pb2.Tier, "TIER_"), "Tier", DomainError)
    assert read(0, default=Tier.L1) is Tier.L1
    with pytest.raises(DomainError) as unset:
        read(0)
    assert (unset.value.rule, unset.value.detail) == ("unspecified_enum", {"enum": "Tier"})
    with pytest.raises(DomainError) as unknown:
        read(99, default=Tier.L1)
    assert unknown.value.rule == "unknown_enum"


@pytest.mark.parametrize(
    ("enum", "table"),
    [(Priority, PRIORITY_TO_PROTO), (Department, DEPARTMENT_TO_PROTO), (Tier, TIER_TO_PROTO)],
)
def test_the_shared_vocabulary_maps_every_member_both_ways(
    enum: type[StrEnum], table: Mapping[Any, int]
) -> None:
    read = EnumReader(table, enum.__name__, DomainError)
    assert len(set(table.values())) == len(enum)
    assert all(read(table[member]) is member for member in enum)
