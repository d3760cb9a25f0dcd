"""A record's version as its ETag, and If-Match read back as the version a write applies to."""

from __future__ import annotations

import pytest

from helpline.rest import ProblemError, etag, parse_if_match


def test_a_version_is_a_strong_etag_that_reads_back() -> None:
    assert etag(7) == '"7"'
    assert parse_if_match(etag(7)) == 7


@pytest.mark.parametrize("header", ['W/"7"', "7", ' "7" '])
def test_weak_and_bare_etags_pin_the_version_too(header: str) -> None:
    assert parse_if_match(header) == 7


def test_no_if_match_pins_nothing() -> None:
    assert parse_if_match(None) is None


@pytest.mark.parametrize("header", ['"seven"', '"-1"', "*", ""])
def test_anything_but_a_version_is_a_bad_request(header: str) -> None:
    with pytest.raises(ProblemError) as refused:
        parse_if_match(header)
    assert refused.value.status == 400
