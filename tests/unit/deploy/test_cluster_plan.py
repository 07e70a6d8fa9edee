"""The cluster's ports, configs and client settings follow from its size: pure."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.engines.cluster import (
    ClusterPlan,
    client_environment,
    elasticsearch_layout,
    kafka_layout,
    render_elasticsearch_config,
    render_kafka_properties,
)
from deploy.engines.errors import EngineError
from schemas.settings import EngineSettings, Settings


def plan(nodes: int = 3, **engines: object) -> ClusterPlan:
    return ClusterPlan(nodes, EngineSettings(cache_dir=Path("/cache"), **engines))


def test_node_i_adds_the_offset_and_ten_per_node_to_the_single_node_ports() -> None:
    three = plan()
    assert [three.kafka_port(i) for i in range(3)] == [19092, 19102, 19112]
    assert [three.controller_port(i) for i in range(3)] == [19093, 19103, 19113]
    assert [three.elasticsearch_port(i) for i in range(3)] == [19200, 19210, 19220]
    assert [three.transport_port(i) for i in range(3)] == [19300, 19310, 19320]
    assert three.bootstrap_servers == "127.0.0.1:19092,127.0.0.1:19102,127.0.0.1:19112"
    # No port twice, and none of the single node's or the secured engines'.
    for size in range(1, 10):
        ports = plan(size).ports()
        assert len(set(ports)) == len(ports)
        assert not set(ports) & {9092, 9093, 9094, 9095, 9200, 9201, 9300, 9301}
    assert plan(3, cluster_port_offset=20000).kafka_port(1) == 29102


def test_replication_follows_the_size() -> None:
    assert (plan(3).replication_factor, plan(3).min_insync_replicas) == (3, 2)
    assert (plan(2).replication_factor, plan(2).min_insync_replicas) == (2, 1)
    assert (plan(5).replication_factor, plan(5).min_insync_replicas) == (3, 2)
    assert plan(3).index_replicas == 1
    with pytest.raises(EngineError, match="between 1 and 9"):
        plan(10)


def test_every_broker_is_a_voter_of_one_static_quorum() -> None:
    three = plan()
    text = render_kafka_properties(three, 1, Path("/data"))
    props = dict(line.split("=", 1) for line in text.splitlines())
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == (
        "0@127.0.0.1:19093,1@127.0.0.1:19103,2@127.0.0.1:19113"
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19102,CONTROLLER://127.0.0.1:19103"
    assert props["default.replication.factor"] == props["offsets.topic.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["unclean.leader.election.enable"] == "false"


def test_every_elasticsearch_node_seeds_from_all_and_has_its_own_folders() -> None:
    three = plan()
    layouts = [elasticsearch_layout(three, i) for i in range(3)]
    assert len({layout.config for layout in layouts}) == 3
    assert len({layout.pid_file.marker for layout in layouts}) == 3
    text = render_elasticsearch_config(three, 2, layouts[2])
    assert "node.name: node-2\n" in text and "http.port: 19220\n" in text
    assert '"127.0.0.1:19300", "127.0.0.1:19310", "127.0.0.1:19320"' in text
    assert 'cluster.initial_master_nodes: ["node-0", "node-1", "node-2"]' in text
    assert "single-node" not in text
    # Kafka's state stays in the cluster folder, its jars are the single node's.
    broker = kafka_layout(three, 0)
    assert broker.config == Path("/cache/cluster/kafka-0/config")
    assert broker.libs == Path("/cache/kafka-4.4.0/libs")


def test_env_points_eventpipe_at_the_cluster() -> None:
    env = client_environment(EngineSettings(cache_dir=Path("/cache")), 3)
    assert env["EVENTPIPE_KAFKA__BOOTSTRAP_SERVERS"] == (
        "127.0.0.1:19092,127.0.0.1:19102,127.0.0.1:19112"
    )
    assert env["EVENTPIPE_TOPICS__REPLICATION_FACTOR"] == "3"
    assert env["EVENTPIPE_TOPICS__MIN_INSYNC_REPLICAS"] == "2"
    assert env["EVENTPIPE_INDICES__REPLICAS"] == "1"
    assert env["EVENTPIPE_ELASTICSEARCH__PASSWORD_FILE"] == "/cache/cluster/elastic-password"
    # The settings take the list of nodes as they are printed.
    settings = Settings.model_validate({"elasticsearch": {
        "url": env["EVENTPIPE_ELASTICSEARCH__URL"], "password": "x"}})  # fmt: skip
    assert settings.elasticsearch.client_options()["hosts"] == [
        "http://127.0.0.1:19200", "http://127.0.0.1:19210", "http://127.0.0.1:19220"]  # fmt: skip
    single = client_environment(EngineSettings(cache_dir=Path("/cache")), 1)
    assert single["EVENTPIPE_KAFKA__BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
