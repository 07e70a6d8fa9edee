"""How healthy the Elasticsearch cluster is: degraded is not down.

With one replica per index, a node's death leaves every shard with a copy on another
node: the cluster turns yellow (replicas unassigned) while it promotes replicas, then
green again once it has made new replicas on the nodes left. Reads and writes go on
throughout. Red means some primary shard has no copy at all: indexing into it waits.
Shards being created (a new index's, a replica being rebuilt) make the color yellow or
red for a moment too; only unassigned shards count. Pure over a `_cluster/health` answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ElasticsearchHealth:
    """`status` is "ok", "degraded" or "unreachable"; `problems` says why."""

    status: str
    nodes: int = 0
    problems: tuple[str, ...] = ()


UNREACHABLE = ElasticsearchHealth("unreachable", 0, ("Elasticsearch unreachable",))


def elasticsearch_health(answer: dict[str, Any], expected_nodes: int = 0) -> ElasticsearchHealth:
    """From a `_cluster/health` answer; `expected_nodes` (0: unknown) names missing nodes."""
    nodes = int(answer.get("number_of_nodes", 0))
    unassigned = int(answer.get("unassigned_shards", 0))
    primaries = int(answer.get("unassigned_primary_shards", 0))
    problems = []
    if expected_nodes and nodes < expected_nodes:
        problems.append(f"{nodes} of {expected_nodes} Elasticsearch nodes in the cluster")
    if primaries:
        problems.append(f"cluster red: {primaries} primary shards unassigned (writes to their "
                        "indices wait)")  # fmt: skip
    elif unassigned:
        problems.append(f"cluster yellow: {unassigned} replica shards unassigned (every "
                        "primary is active)")  # fmt: skip
    return ElasticsearchHealth("degraded" if problems else "ok", nodes, tuple(problems))
