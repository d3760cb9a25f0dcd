"""The provider chain's choice (tests/stack_provider.py): the order environment, testcontainers,
local processes; HELPLINE_TEST_STACK picking one, and failing rather than falling back; the Kafka
container's configuration (tests/container_stack.py)."""

from __future__ import annotations

import pytest

from tests import stack_provider
from tests.container_stack import KafkaBroker, images, kafka_environment


@pytest.fixture
def chain(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """No real provider runs: each stands as its name; `answers` says whether an engine answers."""
    state = {"answers": False}
    for name in ("HELPLINE_TEST_STACK", "HELPLINE_KAFKA_BOOTSTRAP", "HELPLINE_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(stack_provider, "docker_engine_answers", lambda: state["answers"])
    for name in ("_from_environment", "_from_testcontainers", "_from_local_processes"):
        monkeypatch.setattr(stack_provider, name, lambda name=name: name)
    return state


def _picked() -> str:
    """The provider provide() picked (each stands as its name here)."""
    return str(stack_provider.provide())


def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    monkeypatch.setenv("HELPLINE_REDIS_URL", "redis://127.0.0.1:6379/0")


def test_the_chain_is_environment_then_an_engine_then_local_processes(
    chain: dict[str, bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _picked() == "_from_local_processes"
    chain["answers"] = True
    assert _picked() == "_from_testcontainers"
    _environment(monkeypatch)
    assert _picked() == "_from_environment"
    monkeypatch.setenv("HELPLINE_TEST_STACK", "auto")
    assert _picked() == "_from_environment"


def test_a_choice_overrides_the_chain(chain: dict[str, bool], monkeypatch: pytest.MonkeyPatch) -> None:
    chain["answers"] = True
    _environment(monkeypatch)
    monkeypatch.setenv("HELPLINE_TEST_STACK", "local")
    assert _picked() == "_from_local_processes"
    monkeypatch.setenv("HELPLINE_TEST_STACK", "Testcontainers")
    assert _picked() == "_from_testcontainers"


@pytest.mark.parametrize("chosen", ["testcontainers", "environment", "docker"])
def test_a_choice_this_machine_cannot_meet_fails_instead_of_falling_back(
    chain: dict[str, bool], monkeypatch: pytest.MonkeyPatch, chosen: str
) -> None:
    monkeypatch.setenv("HELPLINE_TEST_STACK", chosen)
    with pytest.raises(stack_provider.StackChoiceError, match=chosen):
        stack_provider.provide()


def test_without_docker_host_nor_docker_socket_no_engine_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `make test` meets on a machine with podman installed but no socket service: the local
    processes (and `make test` picks them anyway)."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert stack_provider.docker_engine_answers() is False


def test_the_images_are_the_public_ones_unless_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HELPLINE_TEST_KAFKA_IMAGE", raising=False)
    monkeypatch.delenv("HELPLINE_TEST_REDIS_IMAGE", raising=False)
    assert images() == ("apache/kafka:4.3.1", "redis:7.4")
    monkeypatch.setenv("HELPLINE_TEST_KAFKA_IMAGE", "localhost/helpline-kafka:4.3.1")
    monkeypatch.setenv("HELPLINE_TEST_REDIS_IMAGE", "localhost/helpline-redis:bookworm")
    assert images() == ("localhost/helpline-kafka:4.3.1", "localhost/helpline-redis:bookworm")


def test_the_broker_advertises_the_published_port_to_the_tests_and_itself_inside() -> None:
    env = kafka_environment("127.0.0.1:40001")
    listeners = dict(entry.split("://") for entry in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(entry.split("://") for entry in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert listeners["EXTERNAL"] == f":{KafkaBroker.PORT}"
    assert advertised == {"BROKER": "localhost:9092", "EXTERNAL": "127.0.0.1:40001"}
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "BROKER"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@localhost:9093"
    # As the local broker (deploy/local/kafka.properties): no topic made by a typo.
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
