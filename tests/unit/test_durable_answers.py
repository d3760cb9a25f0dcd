"""The REST side of the replica barrier (helpline.durability): a successful write is answered only
once the barrier passed, and 503 problem+json with Retry-After when it refuses, and so is a refusal
that reports the data's state; reads never wait for it."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpline.durability import ReplicaLagError
from helpline.rest import PROBLEM_JSON, DurableAnswerMiddleware, ProblemError, install_problem_handlers


class Barrier:
    def __init__(self, *, lagging: bool) -> None:
        self.lagging = lagging
        self.passed = 0

    def __call__(self) -> None:
        self.passed += 1
        if self.lagging:
            raise ReplicaLagError("0 of 1 Redis replicas acknowledged within 1000 ms")


def _client(barrier: Barrier) -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(DurableAnswerMiddleware, barrier=barrier)

    @app.get("/v1/things/{name}")
    def read(name: str) -> dict[str, str]:
        return {"name": name}

    @app.post("/v1/things", status_code=201)
    def create(thing: dict[str, str]) -> dict[str, str]:
        if thing.get("name") == "taken":
            raise ProblemError(409, "Conflict", "a thing with that name exists")
        return thing

    return TestClient(app)


def test_a_write_is_answered_after_the_barrier_passed() -> None:
    barrier = Barrier(lagging=False)
    reply = _client(barrier).post("/v1/things", json={"name": "a"})
    assert (reply.status_code, reply.json()) == (201, {"name": "a"})
    assert barrier.passed == 1


def test_a_write_the_replicas_do_not_hold_yet_is_a_503_to_retry() -> None:
    barrier = Barrier(lagging=True)
    reply = _client(barrier).post("/v1/things", json={"name": "a"})
    assert reply.status_code == 503
    assert reply.headers["content-type"] == PROBLEM_JSON
    assert reply.headers["retry-after"] == "1"
    assert reply.json()["rule"] == "unavailable"
    assert "ReplicaLagError" in reply.json()["detail"]


def test_reads_do_not_wait() -> None:
    barrier = Barrier(lagging=True)
    assert _client(barrier).get("/v1/things/a").status_code == 200
    assert barrier.passed == 0


def test_a_refusal_for_the_datas_state_waits_too() -> None:
    """ "Taken" reports a write the replicas may not hold yet: a failover could take it back."""
    assert _client(Barrier(lagging=False)).post("/v1/things", json={"name": "taken"}).status_code == 409
    lagging = Barrier(lagging=True)
    assert _client(lagging).post("/v1/things", json={"name": "taken"}).status_code == 503
    assert lagging.passed == 1
