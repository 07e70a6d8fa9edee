"""Creating the topics eventpipe makes, as `schemas.topics` declares them, and saying how
existing ones differ.

Missing topics are created with the configured replication factor and
`min.insync.replicas` (every topic, the compacted ones included: one broker's death must
cost only a leader failover), and the configured partitions (one for a single-partition
topic). An existing topic is never changed: when its layout differs from the settings,
eventpipe says so (a warning per difference) and uses it as it is. The correlation table's
changelog is declared too, but faust creates it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, for_code

from schemas.settings import Settings, TopicSettings
from schemas.topics import TopicSpec, topic_specs

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
    """The event topics: those eventpipe makes with the settings' partitions."""
    return [spec.name for spec in topic_specs(settings)
            if not spec.single_partition and not spec.made_by_faust]  # fmt: skip


def wanted_layout(topics: TopicSettings, spec: TopicSpec | None = None) -> TopicLayout:
    """The layout the settings ask of a topic (of an event topic when no spec is given)."""
    partitions = 1 if spec is not None and spec.single_partition else topics.partitions
    return TopicLayout(partitions, topics.replication_factor, topics.min_insync_replicas)


def wanted_topics(settings: Settings) -> dict[str, tuple[TopicLayout, dict[str, str]]]:
    """Every topic eventpipe creates: its layout and its own configs beside min.insync."""
    return {
        spec.name: (wanted_layout(settings.topics, spec), spec.configs)
        for spec in topic_specs(settings)
        if not spec.made_by_faust
    }


def layout_differences(name: str, wanted: TopicLayout, found: TopicLayout) -> list[str]:
    """Sentences naming each way an existing topic differs from the settings."""
    notes = []
    if found.partitions != wanted.partitions:
        notes.append(
            f"topic {name} has {found.partitions} partitions, the settings say "
            f"{wanted.partitions} (EVENTPIPE_TOPICS__PARTITIONS); it is used as it is"
        )
    if found.replication_factor < wanted.replication_factor:
        notes.append(
            f"topic {name} has replication factor {found.replication_factor}, the settings say "
            f"{wanted.replication_factor} (EVENTPIPE_TOPICS__REPLICATION_FACTOR): a broker's "
            "death stops it; eventpipe never changes an existing topic (reassign its "
            "partitions with kafka-reassign-partitions.sh)"
        )
    elif found.replication_factor != wanted.replication_factor:
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


async def ensure_topics(settings: Settings, names: list[str] | None = None) -> list[str]:
    """Create the missing topics (all of `wanted_topics`, or those of `names`); return (and
    log) how existing ones differ from the settings."""
    wanted = wanted_topics(settings)
    names = list(wanted) if names is None else names
    admin = AIOKafkaAdminClient(**settings.kafka.client_options())
    await admin.start()
    try:
        found = await describe(admin, names)
        notes = [note for name, layout in found.items()
                 for note in layout_differences(name, wanted[name][0], layout)]  # fmt: skip
        for note in notes:
            log.warning("%s", note)
        missing = [name for name in names if name not in found]
        if missing:
            await _create(admin, {name: wanted[name] for name in missing})
        return notes
    finally:
        await admin.close()


async def _create(
    admin: AIOKafkaAdminClient, topics: dict[str, tuple[TopicLayout, dict[str, str]]]
) -> None:
    new = [
        NewTopic(name, layout.partitions, layout.replication_factor,
                 topic_configs={MIN_ISR: str(layout.min_insync_replicas), **configs})
        for name, (layout, configs) in topics.items()
    ]  # fmt: skip
    response = await admin.create_topics(new)
    for name, code, message in _topic_errors(response):
        if code in (0, TOPIC_ALREADY_EXISTS):  # another worker made it first: fine
            continue
        layout = topics[name][0]
        reason = message or for_code(code).__name__
        raise TopicCreationError(
            f"creating topic {name} ({layout.partitions} partitions, replication factor "
            f"{layout.replication_factor}, {MIN_ISR}={layout.min_insync_replicas}) "
            f"was refused: {reason}"
        )
    for name in topics:
        log.info("created topic %s", name)


def _topic_errors(response: Any) -> list[tuple[str, int, str | None]]:
    errors = []
    for entry in response.topic_errors:
        name, code, *rest = entry
        errors.append((name, code, rest[0] if rest else None))
    return errors
