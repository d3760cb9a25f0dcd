"""The local Kafka's broker configuration, alone and as a three-node cluster: node ids, the quorum,
listeners and replication, as deploy/local/kafka.properties renders them."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.local_stack import KafkaNode, StackConfig, StackError, kafka_properties


def _parsed(text: str) -> dict[str, str]:
    lines = (line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return dict(line.split("=", 1) for line in lines)


def _rendered(cfg: StackConfig, node: KafkaNode) -> dict[str, str]:
    return _parsed(kafka_properties(cfg, node, Path("/data") / node.name))


REPLICATION_KEYS = (
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "share.coordinator.state.topic.replication.factor",
    "default.replication.factor",
)
IN_SYNC_KEYS = (
    "transaction.state.log.min.isr",
    "share.coordinator.state.topic.min.isr",
    "min.insync.replicas",
)


def test_one_broker_is_its_own_dynamic_quorum_with_one_replica_of_everything() -> None:
    cfg = StackConfig()
    (node,) = cfg.kafka_nodes
    props = _rendered(cfg, node)

    assert node == KafkaNode(1, "kafka", 9092, 9093, 9094)
    assert props["node.id"] == "1"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:9093"
    assert "controller.quorum.voters" not in props
    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9093"
    )
    assert props["log.dirs"] == "/data/kafka"
    assert {props[key] for key in REPLICATION_KEYS + IN_SYNC_KEYS} == {"1"}
    assert cfg.kafka_bootstrap == "127.0.0.1:9092"


def test_one_broker_takes_a_sasl_ssl_listener_with_a_pem_keystore() -> None:
    cfg = StackConfig(kafka_sasl_ssl_listener=(19096, Path("/tls/keystore.pem")))
    props = _rendered(cfg, cfg.kafka_nodes[0])

    assert props["listeners"].endswith(",SASL_SSL://127.0.0.1:19096")
    assert props["advertised.listeners"].endswith(",SASL_SSL://127.0.0.1:19096")
    assert props["listener.security.protocol.map"].endswith(",SASL_SSL:SASL_SSL")
    assert props["listener.name.sasl_ssl.ssl.keystore.type"] == "PEM"
    assert props["listener.name.sasl_ssl.ssl.keystore.location"] == "/tls/keystore.pem"
    assert "PlainLoginModule" in props["listener.name.sasl_ssl.plain.sasl.jaas.config"]
    assert props["controller.listener.names"] == "CONTROLLER"


def test_a_cluster_takes_no_sasl_ssl_listener() -> None:
    cfg = StackConfig(kafka_brokers=3, kafka_sasl_ssl_listener=(19096, Path("/tls/keystore.pem")))
    with pytest.raises(StackError, match="single broker"):
        kafka_properties(cfg, cfg.kafka_nodes[0], Path("/data"))


def test_one_broker_takes_relayed_listeners() -> None:
    cfg = StackConfig(kafka_relayed_listeners=(("RELAYED", 19092, 29092),))
    props = _rendered(cfg, cfg.kafka_nodes[0])

    assert props["listeners"].endswith(",RELAYED://127.0.0.1:19092")
    assert props["advertised.listeners"].endswith(",RELAYED://127.0.0.1:29092")
    assert props["listener.security.protocol.map"].endswith(",RELAYED:PLAINTEXT")


def test_three_brokers_are_a_static_quorum_with_three_replicas_two_in_sync() -> None:
    cfg = StackConfig(kafka_brokers=3)
    nodes = cfg.kafka_nodes

    assert nodes == (
        KafkaNode(1, "kafka-1", 9092, 9093, 9094),
        KafkaNode(2, "kafka-2", 9102, 9103, 9104),
        KafkaNode(3, "kafka-3", 9112, 9113, 9114),
    )
    assert cfg.kafka_bootstrap == "127.0.0.1:9092,127.0.0.1:9102,127.0.0.1:9112"
    assert cfg.kafka_sasl_bootstrap == "127.0.0.1:9094,127.0.0.1:9104,127.0.0.1:9114"
    for node in nodes:
        props = _rendered(cfg, node)
        assert props["node.id"] == str(node.node_id)
        assert props["controller.quorum.voters"] == ("1@127.0.0.1:9093,2@127.0.0.1:9103,3@127.0.0.1:9113")
        assert "controller.quorum.bootstrap.servers" not in props
        own = (
            f"PLAINTEXT://127.0.0.1:{node.port},SASL_PLAINTEXT://127.0.0.1:{node.sasl_port},"
            f"CONTROLLER://127.0.0.1:{node.controller_port}"
        )
        assert props["listeners"] == own
        assert props["advertised.listeners"] == own
        assert props["log.dirs"] == f"/data/{node.name}"
        assert {props[key] for key in REPLICATION_KEYS} == {"3"}
        assert {props[key] for key in IN_SYNC_KEYS} == {"2"}


def test_a_cluster_takes_the_ports_it_is_given() -> None:
    cfg = StackConfig(
        kafka_port=41000,
        controller_port=41001,
        sasl_port=41002,
        kafka_brokers=3,
        kafka_other_ports=((42000, 42001, 42002), (43000, 43001, 43002)),
    )

    assert [(n.port, n.controller_port, n.sasl_port) for n in cfg.kafka_nodes] == [
        (41000, 41001, 41002),
        (42000, 42001, 42002),
        (43000, 43001, 43002),
    ]
    props = _rendered(cfg, cfg.kafka_nodes[1])
    assert props["controller.quorum.voters"] == "1@127.0.0.1:41001,2@127.0.0.1:42001,3@127.0.0.1:43001"
    assert props["listeners"].startswith("PLAINTEXT://127.0.0.1:42000,")


def test_two_brokers_keep_one_in_sync_so_either_may_stop() -> None:
    cfg = StackConfig(kafka_brokers=2)

    assert (cfg.kafka_replication_factor, cfg.kafka_min_insync_replicas) == (2, 1)


def test_a_cluster_refuses_too_few_ports_and_relayed_listeners() -> None:
    with pytest.raises(StackError, match="ports of 2"):
        _ = StackConfig(kafka_brokers=3, kafka_other_ports=((42000, 42001, 42002),)).kafka_nodes
    relayed = StackConfig(kafka_brokers=3, kafka_relayed_listeners=(("RELAYED", 19092, 29092),))
    with pytest.raises(StackError, match="single broker"):
        kafka_properties(relayed, relayed.kafka_nodes[0], Path("/data"))
