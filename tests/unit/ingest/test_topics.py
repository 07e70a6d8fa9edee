"""Existing topics are compared with the settings, never changed silently."""

from __future__ import annotations

from ingest.kafka.topics import TopicLayout, layout_differences, layouts_of, wanted_layout
from schemas.settings import TopicSettings


def test_cluster_settings_make_the_wanted_layout() -> None:
    topics = TopicSettings(partitions=12, replication_factor=3, min_insync_replicas=2)
    assert wanted_layout(topics) == TopicLayout(12, 3, 2)


def test_matching_topic_has_no_notes() -> None:
    assert layout_differences("events.raw", TopicLayout(4, 3, 2), TopicLayout(4, 3, 2)) == []
    # A broker that did not say its min.insync.replicas is not blamed for it.
    assert layout_differences("events.raw", TopicLayout(4, 3, 2), TopicLayout(4, 3, None)) == []


def test_each_difference_is_named_with_its_setting() -> None:
    notes = layout_differences("events.raw", TopicLayout(4, 3, 2), TopicLayout(1, 1, 1))
    assert len(notes) == 3
    assert "events.raw has 1 partitions" in notes[0] and "TOPICS__PARTITIONS" in notes[0]
    assert "replication factor 1" in notes[1] and "REPLICATION_FACTOR" in notes[1]
    assert "min.insync.replicas=1" in notes[2] and "MIN_INSYNC_REPLICAS" in notes[2]


def test_layouts_from_a_metadata_answer() -> None:
    described = [
        {"error_code": 0, "topic": "a", "partitions": [
            {"partition": 0, "replicas": [1, 2, 3]}, {"partition": 1, "replicas": [2, 3, 1]}]},
        {"error_code": 3, "topic": "gone", "partitions": []},
    ]  # fmt: skip
    assert layouts_of(described, {"a": 2}) == {"a": TopicLayout(2, 3, 2)}


def test_every_topic_is_replicated_as_the_settings_ask_the_compacted_ones_included() -> None:
    from ingest.kafka.topics import WEBHOOKS_TOPIC_CONFIGS, wanted_topics
    from schemas.settings import Settings

    settings = Settings(topics=TopicSettings(partitions=12, replication_factor=3,
                                             min_insync_replicas=2))  # fmt: skip
    wanted = wanted_topics(settings)
    assert set(wanted) == {"events.raw", "events.normalized", "events.dlq", "eventpipe.webhooks",
                           "eventpipe.event-rules"}  # fmt: skip
    assert wanted["events.raw"] == (TopicLayout(12, 3, 2), {})
    # One partition (one order for every reader), compacted, but replicated like the rest.
    assert wanted["eventpipe.webhooks"] == (TopicLayout(1, 3, 2), WEBHOOKS_TOPIC_CONFIGS)
    assert wanted["eventpipe.event-rules"] == (TopicLayout(1, 3, 2), WEBHOOKS_TOPIC_CONFIGS)
    assert WEBHOOKS_TOPIC_CONFIGS["cleanup.policy"] == "compact"


def test_too_few_replicas_says_a_broker_death_stops_the_topic() -> None:
    notes = layout_differences("eventpipe.webhooks", TopicLayout(1, 3, 2), TopicLayout(1, 1, 2))
    assert len(notes) == 1 and "replication factor 1" in notes[0]
    assert "death" in notes[0]
