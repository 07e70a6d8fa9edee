"""A 3-node cluster of a test's own: Kafka brokers and Elasticsearch nodes it may SIGKILL.

Made by `deploy.engines.cluster` (what `eventpipe engines up --nodes 3` runs) in a
folder of the test's and on ports no one uses: the shared single-node engines are never
touched. The distributions are the ones the shared engines run from.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from deploy.engines import cluster
from schemas.settings import EngineSettings, Settings


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_offset(engines: EngineSettings, nodes: int) -> int:
    """An offset whose ports are all free, below the ephemeral range (32768 and up)."""
    for _ in range(200):
        offset = random.randrange(11000, 22000, 100)
        plan = cluster.ClusterPlan(
            nodes, engines.model_copy(update={"cluster_port_offset": offset})
        )
        if all(_free(port) for port in plan.ports()):
            return offset
    raise RuntimeError("no free block of ports for a cluster")


class LocalCluster:
    """Handles to a running cluster: settings pointing at it, and SIGKILL of one node."""

    def __init__(self, plan: cluster.ClusterPlan) -> None:
        self.plan = plan

    def settings(self, base: Settings) -> Settings:
        """`base` pointed at the cluster, with the replication the cluster asks for."""
        ours = base.model_copy(deep=True)
        ours.kafka.bootstrap_servers = self.plan.bootstrap_servers
        ours.elasticsearch.url = self.plan.elasticsearch_urls
        ours.elasticsearch.username = "elastic"
        password = (self.plan.state_dir / "elastic-password").read_text().strip()
        ours.elasticsearch.password = SecretStr(password)
        ours.topics.replication_factor = self.plan.replication_factor
        ours.topics.min_insync_replicas = self.plan.min_insync_replicas
        ours.indices.replicas = self.plan.index_replicas
        return ours

    def kafka_pid(self, node: int) -> int | None:
        return cluster.kafka_layout(self.plan, node).pid_file.running_pid()

    def elasticsearch_pid(self, node: int) -> int | None:
        return cluster.elasticsearch_layout(self.plan, node).pid_file.running_pid()

    def kill_broker(self, node: int) -> None:
        pid = self.kafka_pid(node)
        assert pid is not None, f"Kafka node {node} is not running"
        os.killpg(pid, signal.SIGKILL)

    def kill_elasticsearch(self, node: int) -> None:
        pid = self.elasticsearch_pid(node)
        assert pid is not None, f"Elasticsearch node {node} is not running"
        os.killpg(pid, signal.SIGKILL)

    async def leaders(self, topic: str) -> Counter[int]:
        """How many partitions of `topic` each broker leads."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.plan.bootstrap_servers)
        await admin.start()
        try:
            [described] = await admin.describe_topics([topic])
        finally:
            await admin.close()
        return Counter(p["leader"] for p in described["partitions"])


@asynccontextmanager
async def local_cluster(
    base: EngineSettings, home: Path, nodes: int = 3
) -> AsyncIterator[LocalCluster]:
    """Start a cluster under `home`; stop it (SIGKILL after 5 s) and delete it afterwards."""
    engines = base.model_copy(
        update={
            "cluster_dir": home,
            "cluster_port_offset": free_port_offset(base, nodes),
            # Six JVMs starting on 2 busy cores: 100-150 s measured, room for worse.
            "start_timeout": max(base.start_timeout, 360.0),
        }
    )
    try:
        plan = await asyncio.to_thread(cluster.up, engines, nodes)
        yield LocalCluster(plan)
    finally:
        await asyncio.to_thread(cluster.down, engines, nodes, lambda line: None, 5.0)
        await asyncio.to_thread(keep_logs, engines, nodes, home.parent / "cluster-logs")
        await asyncio.to_thread(cluster.remove, engines, nodes)


def keep_logs(engines: EngineSettings, nodes: int, into: Path) -> None:
    """Copy every node's logs out of the cluster before it is deleted."""
    plan = cluster.ClusterPlan(nodes, engines)
    for i in range(nodes):
        broker = cluster.kafka_layout(plan, i)
        node = cluster.elasticsearch_layout(plan, i)
        for name, logs in ((f"kafka-{i}", broker.log.parent), (f"elasticsearch-{i}", node.logs),
                           (f"elasticsearch-{i}-launcher", node.launcher_log.parent)):  # fmt: skip
            if logs.is_dir():
                shutil.copytree(logs, into / name, dirs_exist_ok=True)
