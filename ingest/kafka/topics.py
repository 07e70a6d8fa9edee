"""Every Kafka topic eventpipe uses, declared once, and their creation.

- `events.raw`, keyed by webhook_id: the sender's body as the intake got it (webhook id
  and signature in headers), or a CreateEventRequest JSON from a direct producer.
- `events.normalized`, keyed by domain, project and event key: EventInfo JSON.
- `events.dlq`, keyed like its source: the source record's bytes, with headers saying
  why (code, reason) and where from (topic, partition, offset).
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas.settings import Settings


def topic_names(settings: Settings) -> list[str]:
    return [settings.topics.raw, settings.topics.normalized, settings.topics.dlq]


async def ensure_topics(settings: Settings) -> None:
    """Create the topics that are missing, with the configured partition count."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in topic_names(settings) if name not in existing]
        if not missing:
            return
        new = [NewTopic(name, settings.topics.partitions, 1) for name in missing]
        try:
            await admin.create_topics(new)
        except TopicAlreadyExistsError:
            pass
    finally:
        await admin.close()
