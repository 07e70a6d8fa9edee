"""The worker writes correlation state and its tombstones to the table changelog itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition
from elasticsearch import AsyncElasticsearch

from ingest.kafka.produce import partition_for
from ingest.process.correlate import correlate, correlation_key
from ingest.process.normalize import NormalizedEvent
from ingest.process.worker import Worker
from schemas.alert import KeyState
from schemas.event import format_timestamp
from schemas.settings import Settings
from tests.integration.pipeline import _remove, pipeline_settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = timedelta(minutes=10)


def state_after(event_key: str, at: datetime) -> bytes:
    event = NormalizedEvent(
        key=correlation_key("d", "p", event_key), event_id=f"event-{event_key}",
        event_type="ALERT", severity="NONE", created_at=format_timestamp(at), doc=b"{}",
    )  # fmt: skip
    return orjson.dumps(correlate(None, event, WINDOW).state)


async def read_changelog(settings: Settings, topic: str) -> dict[int, list[tuple[bytes, Any]]]:
    consumer = AIOKafkaConsumer(**settings.kafka.client_options(), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.topics.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found: dict[int, list[tuple[bytes, Any]]] = {}
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                for record in (await consumer.getmany(tp, timeout_ms=2000)).get(tp, []):
                    found.setdefault(tp.partition, []).append((record.key, record.value))
        return found
    finally:
        await consumer.stop()


async def test_states_then_tombstones_of_quiet_keys_reach_the_changelog_in_order(
    settings: Settings, es: AsyncElasticsearch, unique_name: str
) -> None:
    own = pipeline_settings(settings, unique_name)
    topic = f"{own.ingest.worker_group}-alert-state-changelog"
    admin = AIOKafkaAdminClient(**own.kafka.client_options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, own.topics.partitions, 1)])
    finally:
        await admin.close()
    worker = Worker(own)
    table = SimpleNamespace(data=SimpleNamespace(data={}), changelog_topic_name=topic)
    old, new = state_after("quiet", T0), state_after("busy", T0 + timedelta(hours=1))
    try:
        states = await worker.state_store(table)
        await states.write({b"d\x1fp\x1fquiet": old, b"d\x1fp\x1fbusy": new})
        forgotten = await states.forget_quiet(T0 + timedelta(minutes=30))
        changelog = await read_changelog(own, topic)
    finally:
        await worker.close()
        await _remove(own, es)

    assert forgotten == 1
    assert set(table.data.data) == {b"d\x1fp\x1fbusy"}
    quiet_partition = partition_for(b"d\x1fp\x1fquiet", own.topics.partitions)
    quiet = [value for key, value in changelog[quiet_partition] if key == b"d\x1fp\x1fquiet"]
    assert len(quiet) == 2 and quiet[1] is None  # the state, then its tombstone
    assert quiet[0] == old and KeyState.model_validate(json.loads(old))
    busy_partition = partition_for(b"d\x1fp\x1fbusy", own.topics.partitions)
    busy = [value for key, value in changelog[busy_partition] if key == b"d\x1fp\x1fbusy"]
    assert busy == [new]
