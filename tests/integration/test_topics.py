"""Topic creation on the real broker makes what `schemas.topics` declares, once."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from ingest.kafka.topics import TopicLayout, describe, ensure_topics, wanted_topics
from schemas.settings import Settings, TopicSettings
from schemas.topics import topic_specs


async def cleanup_policies(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, str]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, name, {"cleanup.policy": None})
                 for name in names]  # fmt: skip
    policies = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            for entry in resource["config_entries"]:
                if entry["config_names"] == "cleanup.policy":
                    policies[resource["resource_name"]] = entry["config_value"]
    return policies


async def test_every_declared_topic_is_created_as_declared(
    settings: Settings, unique_name: str
) -> None:
    ours = settings.model_copy(update={"topics": TopicSettings(
        raw=f"{unique_name}.raw", normalized=f"{unique_name}.normalized",
        dlq=f"{unique_name}.dlq", webhooks=f"{unique_name}.webhooks",
        event_rules=f"{unique_name}.event-rules", partitions=3,
    )})  # fmt: skip
    specs = topic_specs(ours)
    names = list(wanted_topics(ours))
    admin = AIOKafkaAdminClient(**ours.kafka.client_options())
    await admin.start()
    try:
        assert await ensure_topics(ours) == []
        layouts = await describe(admin, names)
        policies = await cleanup_policies(admin, names)
        for spec in specs:
            if spec.made_by_faust:
                assert spec.name not in layouts  # the worker's faust app makes it
                continue
            partitions = 1 if spec.single_partition else 3
            assert layouts[spec.name] == TopicLayout(partitions, 1, 1), spec.name
            assert (policies[spec.name] == "compact") is spec.compacted, spec.name
        # Made once: a second run finds them all as wanted and changes nothing.
        assert await ensure_topics(ours) == []
        assert await describe(admin, names) == layouts
    finally:
        await admin.delete_topics(names)
        await admin.close()
