"""Readiness tells a degraded cluster from a failed one: pure summaries of metadata."""

from __future__ import annotations

from ingest.elasticsearch.health import elasticsearch_health
from ingest.kafka.health import NO_LEADER, PartitionState, kafka_health


def part(partition: int, leader: int, replicas: tuple[int, ...], isr: tuple[int, ...]
         ) -> PartitionState:  # fmt: skip
    return PartitionState("events.raw", partition, leader, replicas, isr)


def test_a_healthy_cluster_is_ok() -> None:
    health = kafka_health([part(0, 1, (1, 2, 3), (1, 2, 3)), part(1, 2, (2, 3, 1), (2, 3, 1))],
                          [1, 2, 3], min_insync_replicas=2)  # fmt: skip
    assert health.status == "ok" and health.problems == () and health.brokers == 3


def test_a_dead_broker_is_degraded_not_down() -> None:
    # Broker 3 died: it is gone from the broker list and from every ISR; leaders moved.
    health = kafka_health(
        [part(0, 1, (1, 2, 3), (1, 2)), part(1, 2, (3, 2, 1), (2, 1)), part(2, 1, (1, 2), (1, 2))],
        [1, 2], min_insync_replicas=2,
    )  # fmt: skip
    assert health.status == "degraded"
    assert health.brokers_down == (3,) and health.under_replicated == 2
    assert health.below_min_isr == 0 and health.offline == 0
    assert health.problems[0] == "broker 3 down (2 of 3 up)"
    assert "2 under-replicated partitions (events.raw)" in health.problems[1]


def test_too_few_in_sync_replicas_and_no_leader_are_named() -> None:
    health = kafka_health([part(0, 1, (1, 2, 3), (1,)), part(1, NO_LEADER, (2, 3), ())],
                          [1], min_insync_replicas=2)  # fmt: skip
    assert health.brokers_down == (2, 3) and health.below_min_isr == 2 and health.offline == 1
    assert any("refused" in problem for problem in health.problems)
    assert any("without a leader" in problem for problem in health.problems)


def test_one_broker_with_replication_one_is_ok() -> None:
    assert kafka_health([part(0, 1, (1,), (1,))], [1]).status == "ok"


def test_elasticsearch_yellow_and_a_missing_node_are_degraded() -> None:
    assert elasticsearch_health({"status": "green", "number_of_nodes": 3}, 3).status == "ok"
    yellow = elasticsearch_health(
        {"status": "yellow", "number_of_nodes": 2, "unassigned_shards": 4}, expected_nodes=3
    )
    assert yellow.status == "degraded" and yellow.nodes == 2
    assert yellow.problems == (
        "2 of 3 Elasticsearch nodes in the cluster",
        "cluster yellow: 4 replica shards unassigned (every primary is active)",
    )
    red = elasticsearch_health({"status": "red", "number_of_nodes": 1, "unassigned_shards": 3,
                                "unassigned_primary_shards": 2})  # fmt: skip
    assert red.status == "degraded" and "2 primary shards unassigned" in red.problems[0]


def test_shards_being_created_are_no_degradation() -> None:
    """A new index is yellow (or red) while its shards start: nothing is unassigned."""
    creating = {"status": "yellow", "number_of_nodes": 1, "unassigned_shards": 0,
                "initializing_shards": 2}  # fmt: skip
    assert elasticsearch_health(creating).status == "ok"
