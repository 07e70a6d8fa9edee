"""Which Kafka cluster the worker reads: its id goes into every event id.

A cluster's id is drawn when its storage is formatted (`kafka-storage format`) and
never changes after: a new cluster has a new one, a restarted broker the same.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from schemas.settings import KafkaSettings


class NoClusterId(Exception):
    """The brokers answered without a cluster id (a protocol before Kafka 0.10.1)."""


async def read_cluster_id(kafka: KafkaSettings) -> str:
    """The id of the cluster the settings' bootstrap servers belong to."""
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        described = await admin.describe_cluster()
    finally:
        await admin.close()
    cluster_id = described.get("cluster_id")
    if not cluster_id:
        raise NoClusterId(f"the brokers at {kafka.bootstrap_servers} sent no cluster id")
    return str(cluster_id)
