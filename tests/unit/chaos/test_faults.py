"""The chaos run's seeded fault schedule (tests/chaos/faults.py)."""

from __future__ import annotations

from tests.chaos.faults import DEPENDENCIES, KINDS, SERVICES, schedule, targets


def test_the_short_schedule_injects_each_kind_alone_on_a_service_and_each_dependency_but_stops() -> None:
    steps = schedule(3, every_target=False, mixed=0, hold_s=(1.0, 3.0))
    faults = [step.faults[0] for step in steps]
    assert all(len(step.faults) == 1 for step in steps)
    assert {f.kind for f in faults} == set(KINDS)
    (stopped,) = [f.target for f in faults if f.kind == "stop"]
    assert stopped in SERVICES
    for kind in ("kill", "freeze"):
        hit = [f.target for f in faults if f.kind == kind]
        assert set(DEPENDENCIES) <= set(hit)
        assert len(set(hit) & set(SERVICES)) == 1
    assert all(1.0 <= f.hold_s <= 3.0 for f in faults)


def test_the_long_schedule_hits_every_target_of_every_kind_then_mixes_pairs() -> None:
    steps = schedule(5, every_target=True, mixed=6)
    alone = {(step.faults[0].kind, step.faults[0].target) for step in steps[:-6]}
    assert alone == {(kind, target) for kind in KINDS for target in targets(kind)}
    for step in steps[-6:]:
        first, second = step.faults
        assert first.target != second.target


def test_a_seed_gives_one_schedule() -> None:
    assert schedule(9, every_target=False, mixed=2) == schedule(9, every_target=False, mixed=2)
    assert schedule(9, every_target=False, mixed=2) != schedule(10, every_target=False, mixed=2)


def test_a_network_fault_names_its_link() -> None:
    steps = schedule(1, every_target=True, mixed=0)
    stalls = [fault.link for step in steps for fault in step.faults if fault.kind == "stall"]
    assert sorted(stalls) == sorted((s, d) for s in SERVICES for d in DEPENDENCIES)
