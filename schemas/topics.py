"""Every Kafka topic eventpipe uses, declared once: its name (from the settings), what its
key is, the format of its values, its headers, whether it is compacted, where a record that
cannot be read goes, and its layout.

Topic creation (`ingest.kafka.topics.wanted_topics`), the code that writes and reads the
headers and formats, and the table in `docs/design.md` (`topics_table`, a test keeps them
equal) all read this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields

from schemas.settings import Settings

# ---- headers -------------------------------------------------------------------------------

# events.raw, from the intake: the webhook and the HMAC of the record (`ingest.webhooks.envelope`).
HEADER_WEBHOOK = "eventpipe-webhook-id"
HEADER_SIGNATURE = "eventpipe-signature"
# events.normalized: which of the topic's value formats a record is.
HEADER_FORMAT = "eventpipe-format"
# Compacted topics: the offset of the version a change was made on (-1: a create).
HEADER_BASE = "eventpipe-base"
# events.dlq: why (an ERROR_* code and a sentence) and where from.
HEADER_ERROR_CODE = "eventpipe-error-code"
HEADER_ERROR_REASON = "eventpipe-error-reason"
HEADER_SOURCE_TOPIC = "eventpipe-source-topic"
HEADER_SOURCE_PARTITION = "eventpipe-source-partition"
HEADER_SOURCE_OFFSET = "eventpipe-source-offset"
DEAD_LETTER_HEADERS = (HEADER_ERROR_CODE, HEADER_ERROR_REASON, HEADER_SOURCE_TOPIC,
                       HEADER_SOURCE_PARTITION, HEADER_SOURCE_OFFSET)  # fmt: skip

# ---- value formats of events.normalized (the values of HEADER_FORMAT) ------------------------

# Many events to a record, two lines each (`ingest.process.normalize.encode_events`).
EVENTS_FORMAT = b"eventpipe-events-v1"
# A person's change to an alert (`ingest.process.alert_changes.encode_change`); the value
# starts with the format and a newline too, so a record reads without its headers.
ALERT_CHANGE_FORMAT = b"eventpipe-alert-change-v1"

# Compacted topics keep tombstones a week: a mirror back from a week-long Elasticsearch
# outage still sees the deletions.
COMPACTED_CONFIGS = {"cleanup.policy": "compact", "delete.retention.ms": str(7 * 86400_000)}
# The worker's faust table of correlation states (its changelog topic is faust's).
CORRELATION_TABLE = "alert-state"


@dataclass(frozen=True)
class TopicSpec:
    """One topic: what it carries and how it is laid out.

    `dead_letters`: the topic a record that cannot be read goes to; None: `unreadable` says
    what becomes of it. `single_partition`: one partition, so every reader sees every
    change in one order; else the settings' partitions. `made_by_faust`: faust creates it
    (eventpipe only names it). Every topic gets the settings' replication factor and
    min.insync.replicas.
    """

    name: str
    key: str
    value: str
    headers: tuple[str, ...] = ()
    formats: tuple[bytes, ...] = ()
    compacted: bool = False
    dead_letters: str | None = None
    unreadable: str = ""
    single_partition: bool = False
    made_by_faust: bool = False

    @property
    def configs(self) -> dict[str, str]:
        """The topic's own configs, beside min.insync.replicas."""
        return dict(COMPACTED_CONFIGS) if self.compacted else {}


@dataclass(frozen=True)
class TopicSpecs:
    """The topics of one set of settings, one attribute per topic."""

    raw: TopicSpec
    normalized: TopicSpec
    dlq: TopicSpec
    webhooks: TopicSpec
    event_rules: TopicSpec
    changelog: TopicSpec

    def __iter__(self) -> Iterator[TopicSpec]:
        return (getattr(self, field.name) for field in fields(self))


def changelog_name(settings: Settings) -> str:
    """faust's name for the correlation table's changelog: `<app id>-<table>-changelog`."""
    return f"{settings.ingest.worker_group}-{CORRELATION_TABLE}-changelog"


def source_of_truth(name: str, key: str, value: str) -> TopicSpec:
    """A compacted, single-partition topic holding a set's truth, read whole by every
    process (`ingest.kafka.compacted`): webhooks, event rules."""
    return TopicSpec(name, key, value, headers=(HEADER_BASE,), compacted=True,
                     unreadable="logged, read as deleted", single_partition=True)  # fmt: skip


def topic_specs(settings: Settings) -> TopicSpecs:
    """Every topic eventpipe uses, named as `settings` say."""
    topics = settings.topics
    return TopicSpecs(
        raw=TopicSpec(
            topics.raw,
            key="webhook_id (the intake); what a direct producer chooses",
            value="the sender's body as the intake got it, or a CreateEventRequest JSON "
            "(a direct producer)",
            headers=(HEADER_WEBHOOK, HEADER_SIGNATURE),
            dead_letters=topics.dlq,
        ),
        normalized=TopicSpec(
            topics.normalized,
            key="none, on the partition of its events' correlation key (an alert change: "
            "the alert's correlation key)",
            value="many events, two lines each; or an alert change (its format, a newline, "
            "the change's JSON)",
            headers=(HEADER_FORMAT,),
            formats=(EVENTS_FORMAT, ALERT_CHANGE_FORMAT),
            dead_letters=topics.dlq,
        ),
        dlq=TopicSpec(
            topics.dlq,
            key="its source record's (or its event's)",
            value="the source record's bytes, as they came",
            headers=DEAD_LETTER_HEADERS,
            unreadable="eventpipe never reads it",
        ),
        webhooks=source_of_truth(
            topics.webhooks,
            key="webhook_id",
            value="Webhook JSON (its access key only as a SHA-256); a tombstone: deleted",
        ),
        event_rules=source_of_truth(
            topics.event_rules,
            key="domain_id",
            value="DomainRules JSON (the domain's whole rule set); a tombstone: none",
        ),
        changelog=TopicSpec(
            changelog_name(settings),
            key="correlation key",
            value="the key's correlation state JSON; a tombstone: the key went quiet",
            compacted=True,
            unreadable="only the worker writes it",
            made_by_faust=True,
        ),
    )


def topics_table(settings: Settings) -> str:
    """The topics as a Markdown table, for `docs/design.md`."""
    rows = [
        "| topic | key | value | headers | compacted | unreadable records go to |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for spec in topic_specs(settings):
        layout = "one partition" if spec.single_partition else "`EVENTPIPE_TOPICS__PARTITIONS`"
        name = f"`{spec.name}` ({layout}{', made by faust' if spec.made_by_faust else ''})"
        headers = ", ".join(f"`{header}`" for header in spec.headers) or "none"
        if spec.formats:
            headers += " (" + ", ".join(f"`{f.decode()}`" for f in spec.formats) + ")"
        compacted = "yes" if spec.compacted else "no"
        bad = f"`{spec.dead_letters}`" if spec.dead_letters else spec.unreadable
        rows.append(f"| {name} | {spec.key} | {spec.value} | {headers} | {compacted} | {bad} |")
    return "\n".join(rows)
