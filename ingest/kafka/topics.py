"""Every Kafka topic eventpipe uses, declared once, and their creation.

- `events.raw`, keyed by webhook_id: the sender's body as the intake got it (webhook id
  and signature in headers), or a CreateEventRequest JSON from a direct producer.
- `events.normalized`, unkeyed, on the partition of its events' correlation keys: many
  events to a record (`normalize.encode_events`, header `eventpipe-format`).
- `events.dlq`, keyed like its source: the source record's bytes, with headers saying
  why (code, reason) and where from (topic, partition, offset).

Missing topics are created with the configured partitions, replication factor and
`min.insync.replicas`. An existing topic is never changed: when its layout differs
from the settings, eventpipe says so (a warning per difference) and uses it as it is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, for_code

from schemas.settings import Settings, TopicSettings

log = logging.getLogger("eventpipe.topics")

MIN_ISR = "min.insync.replicas"
TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class TopicLayout:
    """What matters of a topic for eventpipe: partitions, replicas, min.insync.replicas."""

    partitions: int
    replication_factor: int
    min_insync_replicas: int | None  # None: not known (the broker did not say)


class TopicCreationError(Exception):
    """The cluster refused to create a topic; the message says which and why."""


def topic_names(settings: Settings) -> list[str]:
    return [settings.topics.raw, settings.topics.normalized, settings.topics.dlq]


def wanted_layout(topics: TopicSettings) -> TopicLayout:
    return TopicLayout(topics.partitions, topics.replication_factor, topics.min_insync_replicas)


def layout_differences(name: str, wanted: TopicLayout, found: TopicLayout) -> list[str]:
    """Sentences naming each way an existing topic differs from the settings."""
    notes = []
    if found.partitions != wanted.partitions:
        notes.append(
            f"topic {name} has {found.partitions} partitions, the settings say "
            f"{wanted.partitions} (EVENTPIPE_TOPICS__PARTITIONS); it is used as it is"
        )
    if found.replication_factor != wanted.replication_factor:
        notes.append(
            f"topic {name} has replication factor {found.replication_factor}, the settings say "
            f"{wanted.replication_factor} (EVENTPIPE_TOPICS__REPLICATION_FACTOR); "
            "eventpipe never changes an existing topic"
        )
    if found.min_insync_replicas is not None and (
        found.min_insync_replicas != wanted.min_insync_replicas
    ):
        notes.append(
            f"topic {name} has {MIN_ISR}={found.min_insync_replicas}, the settings say "
            f"{wanted.min_insync_replicas} (EVENTPIPE_TOPICS__MIN_INSYNC_REPLICAS); "
            f"change it with kafka-configs.sh --alter --add-config {MIN_ISR}=N"
        )
    return notes


def layouts_of(described: list[dict[str, Any]], configs: dict[str, int]) -> dict[str, TopicLayout]:
    """Topic layouts from a metadata answer and the topics' min.insync.replicas values."""
    layouts = {}
    for topic in described:
        if topic.get("error_code"):
            continue
        partitions = topic["partitions"]
        replicas = max((len(p["replicas"]) for p in partitions), default=0)
        layouts[topic["topic"]] = TopicLayout(
            len(partitions), replicas, configs.get(topic["topic"])
        )
    return layouts


async def _min_isr(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, name, {MIN_ISR: None}) for name in names]
    values: dict[str, int] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            for entry in resource["config_entries"]:
                if entry["config_names"] == MIN_ISR and entry["config_value"]:
                    values[resource["resource_name"]] = int(entry["config_value"])
    return values


async def describe(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, TopicLayout]:
    """The layout of those of `names` that exist."""
    existing = set(await admin.list_topics())
    present = [name for name in names if name in existing]
    if not present:
        return {}
    try:
        configs = await _min_isr(admin, present)
    except KafkaError as error:  # e.g. no DescribeConfigs permission: partitions still count
        log.warning("could not read %s of the topics (%s)", MIN_ISR, error)
        configs = {}
    return layouts_of(await admin.describe_topics(present), configs)


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics; return (and log) how existing ones differ from the settings."""
    admin = AIOKafkaAdminClient(**settings.kafka.client_options())
    await admin.start()
    try:
        names = topic_names(settings)
        wanted = wanted_layout(settings.topics)
        found = await describe(admin, names)
        notes = [note for name, layout in found.items()
                 for note in layout_differences(name, wanted, layout)]  # fmt: skip
        for note in notes:
            log.warning("%s", note)
        missing = [name for name in names if name not in found]
        if missing:
            await _create(admin, missing, wanted)
        return notes
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, names: list[str], wanted: TopicLayout) -> None:
    configs = {MIN_ISR: str(wanted.min_insync_replicas)}
    new = [NewTopic(n, wanted.partitions, wanted.replication_factor, topic_configs=configs)
           for n in names]  # fmt: skip
    response = await admin.create_topics(new)
    for name, code, message in _topic_errors(response):
        if code in (0, TOPIC_ALREADY_EXISTS):  # another worker made it first: fine
            continue
        reason = message or for_code(code).__name__
        raise TopicCreationError(
            f"creating topic {name} ({wanted.partitions} partitions, replication factor "
            f"{wanted.replication_factor}, {MIN_ISR}={wanted.min_insync_replicas}) "
            f"was refused: {reason}"
        )
    for name in names:
        log.info("created topic %s", name)


def _topic_errors(response: Any) -> list[tuple[str, int, str | None]]:
    errors = []
    for entry in response.topic_errors:
        name, code, *rest = entry
        errors.append((name, code, rest[0] if rest else None))
    return errors
