"""helpline.domain: what every service's domain shares."""

from __future__ import annotations

from helpline.domain import NotFoundError, new_id


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
