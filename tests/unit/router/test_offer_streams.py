"""A replica's offer streams: capped, one per agent, a newer replacing the older."""

from __future__ import annotations

import pytest

from services.router.api.offer_streams import OfferStreams, StreamsFullError


def test_streams_past_the_cap_are_refused_until_one_closes() -> None:
    streams = OfferStreams(cap=2)
    ann, bob = streams.open("t", "ann"), streams.open("t", "bob")
    with pytest.raises(StreamsFullError, match="holds 2 offer streams"):
        streams.open("t", "cid")
    streams.close(bob)
    cid = streams.open("t", "cid")
    assert streams.held == 2
    assert not ann.replaced.is_set()
    assert not cid.replaced.is_set()


def test_a_newer_stream_of_an_agent_replaces_the_older_even_at_the_cap() -> None:
    streams = OfferStreams(cap=1)
    first = streams.open("t", "ann")
    second = streams.open("t", "ann")
    assert first.replaced.is_set()
    assert not second.replaced.is_set()
    streams.close(first)
    assert streams.held == 1
    # The agent's stream is the newer one still: a third replaces it, not the closed first.
    third = streams.open("t", "ann")
    assert second.replaced.is_set()
    streams.close(second)
    streams.close(third)
    assert streams.held == 0
    streams.open("t", "bob")


def test_the_same_agent_id_of_two_tenants_is_two_agents() -> None:
    streams = OfferStreams(cap=2)
    acme = streams.open("acme", "ann")
    streams.open("globex", "ann")
    assert not acme.replaced.is_set()


def test_a_full_replica_is_not_ready_until_a_stream_closes() -> None:
    streams = OfferStreams(cap=1)
    assert streams.has_room()
    ann = streams.open("t", "ann")
    with pytest.raises(StreamsFullError, match="1 offer streams open"):
        streams.has_room()
    streams.close(ann)
    assert streams.has_room()
