"""Existing topics are compared with the settings, never changed silently."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from ingest.kafka.topics import (
    TopicLayout,
    layout_differences,
    layouts_of,
    topic_names,
    wanted_layout,
    wanted_topics,
)
from schemas.settings import IngestSettings, Settings, TopicSettings
from schemas.topics import (
    COMPACTED_CONFIGS,
    CORRELATION_TABLE,
    DEAD_LETTER_HEADERS,
    topic_specs,
    topics_table,
)


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
    settings = Settings(topics=TopicSettings(partitions=12, replication_factor=3,
                                             min_insync_replicas=2))  # fmt: skip
    wanted = wanted_topics(settings)
    assert set(wanted) == {"events.raw", "events.normalized", "events.dlq", "eventpipe.webhooks",
                           "eventpipe.event-rules"}  # fmt: skip
    assert wanted["events.raw"] == (TopicLayout(12, 3, 2), {})
    # One partition (one order for every reader), compacted, but replicated like the rest.
    assert wanted["eventpipe.webhooks"] == (TopicLayout(1, 3, 2), COMPACTED_CONFIGS)
    assert wanted["eventpipe.event-rules"] == (TopicLayout(1, 3, 2), COMPACTED_CONFIGS)
    assert COMPACTED_CONFIGS["cleanup.policy"] == "compact"


def test_the_declaration_covers_every_topic_the_settings_name() -> None:
    """A topic added to TopicSettings without a TopicSpec fails here; every spec is named
    by the settings (the changelog by the worker group)."""
    settings = Settings(
        topics=TopicSettings(raw="r", normalized="n", dlq="d", webhooks="w", event_rules="e"),
        ingest=IngestSettings(worker_group="g"),
    )
    named = {name for name, field in TopicSettings.model_fields.items()
             if field.annotation is str}  # fmt: skip
    specs = topic_specs(settings)
    assert named <= {field.name for field in fields(specs)}
    assert {getattr(specs, name).name for name in named} == {"r", "n", "d", "w", "e"}
    assert specs.changelog.name == "g-alert-state-changelog"
    assert len({spec.name for spec in specs}) == len(fields(specs)) == 6


def test_creation_reads_the_declaration() -> None:
    """wanted_topics makes what the specs say: compaction, one partition, the rest faust's."""
    settings = Settings(topics=TopicSettings(partitions=6, event_rules="rules.elsewhere"))
    specs = topic_specs(settings)
    wanted = wanted_topics(settings)
    assert set(wanted) == {spec.name for spec in specs if not spec.made_by_faust}
    assert specs.changelog.name not in wanted
    for spec in specs:
        if spec.made_by_faust:
            continue
        layout, configs = wanted[spec.name]
        assert layout.partitions == (1 if spec.single_partition else 6)
        assert (configs.get("cleanup.policy") == "compact") is spec.compacted
    assert wanted["rules.elsewhere"][1] == COMPACTED_CONFIGS
    assert topic_names(settings) == ["events.raw", "events.normalized", "events.dlq"]


def test_bad_records_of_the_event_topics_go_to_the_dead_letter_topic() -> None:
    specs = topic_specs(Settings(topics=TopicSettings(dlq="letters")))
    assert specs.raw.dead_letters == specs.normalized.dead_letters == "letters"
    assert specs.dlq.dead_letters is None and specs.dlq.headers == DEAD_LETTER_HEADERS
    assert all(spec.unreadable for spec in specs if spec.dead_letters is None)


def test_the_design_document_shows_the_declared_topics() -> None:
    design = (Path(__file__).parents[3] / "docs" / "design.md").read_text()
    assert topics_table(Settings()) in design


def test_too_few_replicas_says_a_broker_death_stops_the_topic() -> None:
    notes = layout_differences("eventpipe.webhooks", TopicLayout(1, 3, 2), TopicLayout(1, 1, 2))
    assert len(notes) == 1 and "replication factor 1" in notes[0]
    assert "death" in notes[0]


def test_the_declared_changelog_is_the_one_faust_names() -> None:
    import faust

    settings = Settings(ingest=IngestSettings(worker_group="workers-a"))
    app = faust.App(settings.ingest.worker_group, store="memory://")
    table = app.Table(CORRELATION_TABLE, partitions=settings.topics.partitions)
    assert topic_specs(settings).changelog.name == table.changelog_topic_name
