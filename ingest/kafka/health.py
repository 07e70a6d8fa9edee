"""How healthy the Kafka cluster is for eventpipe's topics: degraded is not down.

A broker's death on a replicated cluster costs a leader failover: its partitions get new
leaders among the in-sync replicas, and writes go on (acks=all needs
`min.insync.replicas` of them). Readiness must say so without failing: the partitions
that lost a replica (under-replicated), those below `min.insync.replicas` (writes to
them are refused until a replica is back), those with no leader (offline), and the
brokers named as replicas that the cluster no longer lists (down). Pure over a metadata
answer; `read_kafka_health` is the one I/O function.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

NO_LEADER = -1


@dataclass(frozen=True)
class PartitionState:
    topic: str
    partition: int
    leader: int  # NO_LEADER: offline
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True)
class KafkaHealth:
    """`status` is "ok" or "degraded"; `problems` says why, one sentence each."""

    brokers: int
    brokers_down: tuple[int, ...] = ()
    under_replicated: int = 0
    below_min_isr: int = 0
    offline: int = 0
    problems: tuple[str, ...] = field(default=())

    @property
    def status(self) -> str:
        return "degraded" if self.problems else "ok"


def kafka_health(
    partitions: Iterable[PartitionState], brokers: Iterable[int], min_insync_replicas: int = 1
) -> KafkaHealth:
    """Summarise the partitions of eventpipe's topics against the brokers the cluster lists."""
    live = set(brokers)
    states = list(partitions)
    named = {replica for state in states for replica in state.replicas}
    down = tuple(sorted(named - live))
    under = [s for s in states if len(s.isr) < len(s.replicas)]
    below = [s for s in states if len(s.isr) < min(min_insync_replicas, len(s.replicas))]
    offline = [s for s in states if s.leader == NO_LEADER or s.leader not in live]
    problems = []
    if down:
        problems.append(f"broker{'s' if len(down) > 1 else ''} {', '.join(map(str, down))} "
                        f"down ({len(live)} of {len(live | named)} up)")  # fmt: skip
    if under:
        topics = sorted({s.topic for s in under})
        problems.append(f"{len(under)} under-replicated partitions ({', '.join(topics)})")
    if below:
        problems.append(f"{len(below)} partitions below min.insync.replicas={min_insync_replicas}"
                        ": writes to them are refused until a replica is back")  # fmt: skip
    if offline:
        problems.append(f"{len(offline)} partitions without a leader")
    return KafkaHealth(len(live), down, len(under), len(below), len(offline), tuple(problems))


def partitions_of(metadata: Any, topics: Iterable[str]) -> list[PartitionState]:
    """The partitions of `topics` from aiokafka's ClusterMetadata (what a client last fetched)."""
    states = []
    for topic in topics:
        for partition in getattr(metadata, "_partitions", {}).get(topic, {}).values():
            states.append(PartitionState(
                topic, partition.partition, partition.leader,
                tuple(partition.replicas), tuple(partition.isr),
            ))  # fmt: skip
    return states


def health_of(metadata: Any, topics: Iterable[str], min_insync_replicas: int) -> KafkaHealth:
    """The health of `topics` as a fetched ClusterMetadata describes them."""
    brokers = [broker.nodeId for broker in metadata.brokers()]
    return kafka_health(partitions_of(metadata, topics), brokers, min_insync_replicas)


def partitions_described(described: Iterable[dict[str, Any]]) -> list[PartitionState]:
    """The partitions of an admin client's `describe_topics` answer."""
    return [
        PartitionState(topic["topic"], p["partition"], p["leader"], tuple(p["replicas"]),
                       tuple(p["isr"]))
        for topic in described if not topic.get("error_code")
        for p in topic["partitions"]
    ]  # fmt: skip
