"""The tests' Kafka and Redis as containers, through testcontainers (tests/stack_provider.py): on
Docker, or on podman's Docker-compatible API (`podman system service`).

Kafka is a container class of our own, not testcontainers' KafkaContainer: that one drives
Confluent's image only (at start it rewrites scripts under /etc/confluent/docker, and it refuses a
tag below 7.0.0), which neither apache/kafka nor the local stand-in (`make compose-images`) has.
Both of those take their whole configuration from KAFKA_* variables, so a generic container with
the variables docker-compose.yml sets is all it takes. Redis is testcontainers' RedisContainer,
which runs any image's default command and waits for a PING.

A broker must advertise the address its clients reach it at: the host port the engine publishes.
That port is chosen free before the container is created and published as asked (as the local
stack chooses its ports), so the advertised listener is in the environment the image's entrypoint
reads at start. The broker is ready when a metadata request through that address lists it, as the
local stack's readiness check asks.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import docker
from testcontainers.community.redis import RedisContainer
from testcontainers.core.container import DockerContainer

from devstack.local_stack import free_port
from helpline.kafka import clients
from helpline.kafka.port import KafkaError

KAFKA_IMAGE = "apache/kafka:4.3.1"
REDIS_IMAGE = "redis:7.4"
# On every container started here: whose it is, so a later session removes those of a session that
# was killed before its `with` blocks could (with Ryuk disabled, nothing else would).
OWNER_LABEL = "helpline.test-stack.owner"
LOCALHOSTS = {"localhost", "127.0.0.1", "::1"}


def images() -> tuple[str, str]:
    """The Kafka and Redis images: the public ones unless HELPLINE_TEST_KAFKA_IMAGE and
    HELPLINE_TEST_REDIS_IMAGE name others (localhost/helpline-kafka:4.3.1 and
    localhost/helpline-redis:bookworm where no registry answers)."""
    return (
        os.environ.get("HELPLINE_TEST_KAFKA_IMAGE") or KAFKA_IMAGE,
        os.environ.get("HELPLINE_TEST_REDIS_IMAGE") or REDIS_IMAGE,
    )


def owner() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


def reap_abandoned_containers() -> list[str]:
    """Remove the containers earlier sessions on this machine started and left: their pytest
    process is gone. The names of those removed."""
    client = docker.from_env(timeout=30)
    removed = []
    try:
        for container in client.containers.list(all=True, filters={"label": OWNER_LABEL}):
            host, _, pid = str(container.labels.get(OWNER_LABEL, "")).partition("/")
            if host == socket.gethostname() and pid.isdigit() and not Path(f"/proc/{pid}").exists():
                container.remove(force=True, v=True)
                removed.append(str(container.name))
    finally:
        client.close()
    return removed


def host_address(container: DockerContainer) -> str:
    """Where this process reaches the ports the engine publishes: testcontainers' docker host (its
    default connection mode; TESTCONTAINERS_HOST_OVERRIDE sets it), with `localhost` as the IPv4
    loopback the ports are published on (a client trying ::1 first would find nothing there).
    Known before the container starts, as the broker's advertised listener must be."""
    host = container.get_docker_client().host()
    return "127.0.0.1" if host in LOCALHOSTS else host


def kafka_environment(advertised: str) -> dict[str, str]:
    """One KRaft process as broker and controller, as docker-compose.yml configures apache/kafka:
    BROKER for the broker itself inside the container, EXTERNAL for the tests, advertised as
    `advertised` (the host and the port the engine publishes), CONTROLLER for the quorum."""
    return {
        "CLUSTER_ID": "4L6g3nShT-eMCtK--X86sw",
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_LISTENERS": f"BROKER://:9092,CONTROLLER://:9093,EXTERNAL://:{KafkaBroker.PORT}",
        "KAFKA_ADVERTISED_LISTENERS": f"BROKER://localhost:9092,EXTERNAL://{advertised}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
        "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "4",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_DEFAULT_REPLICATION_FACTOR": "1",
        "KAFKA_MIN_INSYNC_REPLICAS": "1",
        "KAFKA_NUM_PARTITIONS": "3",
        # As the local broker: topics come from the tests (make_topic), never from a typo.
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_HEAP_OPTS": "-Xms256m -Xmx512m",
    }


class KafkaBroker(DockerContainer):
    """A broker of apache/kafka or the local stand-in, on a host port chosen before it starts."""

    PORT = 19092

    def __init__(self, image: str, labels: dict[str, str]) -> None:
        super().__init__(image, labels=labels)
        self.host_port = free_port()
        host = host_address(self)
        self.bootstrap = f"{host}:{self.host_port}"
        self.with_bind_ports(self.PORT, self.host_port)
        self.with_envs(**kafka_environment(self.bootstrap))

    def start(self, timeout_s: float = 120) -> KafkaBroker:
        super().start()
        deadline = time.monotonic() + timeout_s
        while not self._answers():
            self.reload()
            if self.status in {"exited", "dead"}:
                raise RuntimeError(f"the Kafka container stopped:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the Kafka container did not answer at {self.bootstrap} within {timeout_s:.0f} s:\n"
                    f"{self._log_tail()}"
                )
            time.sleep(0.5)
        return self

    def _answers(self) -> bool:
        admin = clients.admin(self.bootstrap, "helpline-test-probe", timeout_s=3)
        try:
            return admin.brokers() == 1
        except KafkaError:
            return False
        finally:
            admin.close()

    def _log_tail(self) -> str:
        stdout, stderr = self.get_logs()
        return (stdout + stderr).decode(errors="replace")[-3000:]


@contextmanager
def kafka_and_redis() -> Iterator[tuple[str, str]]:
    """A Kafka broker and a Redis, started together-ish and removed (with their volumes) at the
    end, whatever happened: their bootstrap address and URL."""
    kafka_image, redis_image = images()
    labels = {OWNER_LABEL: owner()}
    reap_abandoned_containers()
    with ExitStack() as stack:
        kafka = stack.enter_context(KafkaBroker(kafka_image, labels))
        redis_c = stack.enter_context(RedisContainer(redis_image, labels=labels))
        redis_url = f"redis://{host_address(redis_c)}:{redis_c.get_exposed_port(6379)}/0"
        yield kafka.bootstrap, redis_url
