"""Nothing twice from a sender's retry, and no id reused by a new life of events.raw.

- The duplicate window (SPEC §4.6) on a real pipeline: a resent payload inside the window
  adds nothing, another payload for the same key does, the same payload after the window
  does; all of it again after the worker was SIGKILLed (the state is in the changelog).
- `events.raw` deleted and made again, or a new Kafka cluster, behind the same
  Elasticsearch: offsets start over, yet every new event is indexed (event ids carry the
  record's timestamp and the cluster's id, not only its position).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from ingest.kafka.topics import ensure_topics
from schemas.settings import Settings
from tests.integration.faults import (
    distinct_event_keys,
    second_worker,
    wait_indexed,
    worker_joined,
)
from tests.integration.kafka_instance import SeparateKafka
from tests.integration.pipeline import (
    Pipeline,
    produce_standard_events,
    running_pipeline,
)

WINDOW = 20.0  # seconds: long enough for a worker restart, short enough to wait out


async def titles(pipeline: Pipeline) -> Counter[str]:
    """How many events of each title are indexed."""
    index = pipeline.settings.indices.events
    if not await pipeline.es.indices.exists_alias(name=index):
        return Counter()
    await pipeline.es.indices.refresh(index=index)
    page = await pipeline.es.search(index=index, size=1000, source=["title"])
    return Counter(hit["_source"]["title"] for hit in page["hits"]["hits"])


async def wait_titles(pipeline: Pipeline, wanted: dict[str, int], seconds: float = 120) -> None:
    async def there() -> bool:
        found = await titles(pipeline)
        return all(found[title] >= count for title, count in wanted.items())

    await pipeline.wait_for(there, seconds, f"events {wanted}")


async def test_retries_inside_the_window_are_dropped_before_and_after_a_restart(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    async with running_pipeline(settings, unique_name, tmp_path) as pipeline:
        created = await pipeline.http.post(
            "/monitoring/v1/webhook/create", headers=pipeline.auth(),
            json={"name": "retries", "plugin_info": {"plugin_id": "standard"},
                  "project_id": "project-1", "domain_id": "domain-1",
                  "duplicate_window_seconds": 5},
        )  # fmt: skip
        assert created.status_code == 200, created.text
        webhook = created.json()
        assert webhook["duplicate_window_seconds"] == 5
        hook = {"webhook_id": webhook["webhook_id"], "domain_id": "domain-1"}
        updated = await pipeline.http.post(
            "/monitoring/v1/webhook/update", headers=pipeline.auth(),
            json={**hook, "duplicate_window_seconds": WINDOW},
        )  # fmt: skip
        assert updated.status_code == 200, updated.text
        got = await pipeline.http.post(
            "/monitoring/v1/webhook/get", headers=pipeline.auth(), json=hook
        )
        assert got.json()["duplicate_window_seconds"] == WINDOW
        await pipeline.wait_for(
            lambda: worker_joined(pipeline.settings), 120, "the worker in its group"
        )
        url = f"/monitoring/v1/webhook/{webhook['webhook_id']}/{webhook['access_key']}/events"

        async def send(title: str) -> None:
            body: dict[str, Any] = {"event_key": "disk-full", "title": title, "severity": "ERROR"}
            response = await pipeline.http.post(url, json=body)
            assert response.status_code == 200, response.text

        first_sent = time.monotonic()
        await send("a")
        await send("a")  # the sender's retry
        await send("b")  # another payload for the same key
        # One key, one partition, in order: once "b" is in, the retry was dealt with.
        await wait_titles(pipeline, {"a": 1, "b": 1})
        await asyncio.sleep(1)
        assert await titles(pipeline) == {"a": 1, "b": 1}

        await pipeline.worker.kill()  # SIGKILL: the state comes back from the changelog
        await pipeline.worker.start()
        await send("a")  # still inside the window (the record's time is when it is sent)
        await send("c")
        assert time.monotonic() - first_sent < WINDOW, "too slow to send inside the window"
        await wait_titles(pipeline, {"c": 1}, 180)
        await asyncio.sleep(1)
        assert await titles(pipeline) == {"a": 1, "b": 1, "c": 1}

        await asyncio.sleep(max(0.0, first_sent + WINDOW + 2 - time.monotonic()))
        await send("a")  # after the window: a new event (a repeat notification)
        await send("a")  # and its retry, inside the new event's window
        await send("d")
        await wait_titles(pipeline, {"a": 2, "d": 1})
        await asyncio.sleep(1)
        assert await titles(pipeline) == {"a": 2, "b": 1, "c": 1, "d": 1}


async def recreate_topic(settings: Settings, name: str, within: float = 60) -> None:
    """Delete topic `name`, wait until the cluster no longer lists it, make it again."""
    admin = AIOKafkaAdminClient(**settings.kafka.client_options())
    await admin.start()
    try:
        await admin.delete_topics([name])
        deadline = time.monotonic() + within
        while name in set(await admin.list_topics()):
            assert time.monotonic() < deadline, f"topic {name} still listed"
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    deadline = time.monotonic() + within
    while True:  # the deletion may still be under way on the broker
        try:
            await ensure_topics(settings)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


async def test_events_raw_made_again_indexes_every_new_event(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    count = 400
    async with running_pipeline(settings, unique_name, tmp_path) as pipeline:
        webhook = await pipeline.create_webhook("standard")
        await produce_standard_events(pipeline.settings, webhook, 0, count)
        await wait_indexed(pipeline, count, 180)
        await pipeline.worker.stop()
        await recreate_topic(pipeline.settings, pipeline.settings.topics.raw)
        # The new topic's offsets start at 0 again: the same positions as the first events.
        await produce_standard_events(pipeline.settings, webhook, count, count)
        await pipeline.worker.start()
        await wait_indexed(pipeline, 2 * count, 180)
        await asyncio.sleep(2)  # a late duplicate would show up here
        assert await pipeline.count_indexed() == 2 * count
        assert await distinct_event_keys(pipeline) == {f"k{i}" for i in range(2 * count)}


async def test_a_new_kafka_cluster_behind_the_same_elasticsearch_indexes_every_event(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    """A pipeline moved to a new Kafka cluster (its own broker here) writes into the indices
    the old one filled: offsets start over there, yet no new event is taken for an old one."""
    count = 400
    broker = SeparateKafka(settings.engines, tmp_path / "kafka")
    await broker.start()
    try:
        async with running_pipeline(settings, unique_name, tmp_path) as old:
            webhook = await old.create_webhook("standard")
            await produce_standard_events(old.settings, webhook, 0, count)
            await wait_indexed(old, count, 180)
            await old.worker.stop()
            moved = settings.model_copy(deep=True)
            moved.kafka.bootstrap_servers = broker.bootstrap
            async with running_pipeline(moved, unique_name, tmp_path) as new:
                webhook = await new.create_webhook("standard")
                await produce_standard_events(new.settings, webhook, count, count)
                await wait_indexed(new, 2 * count, 240)
                await asyncio.sleep(2)  # a late duplicate would show up here
                assert await new.count_indexed() == 2 * count
                keys = await distinct_event_keys(new)
                assert keys == {f"k{i}" for i in range(2 * count)}
    finally:
        broker.stop()


async def test_retries_are_caught_by_the_worker_a_key_moved_to(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    """Two workers share the partitions; one is SIGKILLed; every payload is sent again: the
    keys it held moved to the other with their deliveries (the changelog), so no retry
    makes a second event, and new payloads for the same keys still do."""
    keys = 40
    async with running_pipeline(settings, unique_name, tmp_path) as pipeline:
        async with second_worker(pipeline, tmp_path) as second:
            webhook = await pipeline.create_webhook("standard")
            url = f"/monitoring/v1/webhook/{webhook['webhook_id']}/{webhook['access_key']}/events"

            async def send(i: int, title: str) -> None:
                body = {"event_key": f"key-{i}", "title": title, "severity": "ERROR"}
                response = await pipeline.http.post(url, json=body)
                assert response.status_code == 200, response.text

            for i in range(keys):
                await send(i, f"first {i}")
            await wait_titles(pipeline, {f"first {i}": 1 for i in range(keys)}, 180)
            await second.kill()  # its partitions, and their deliveries, move over
            for i in range(keys):
                await send(i, f"first {i}")  # the sender's retry
                await send(i, f"second {i}")  # a new payload for the same key
            await wait_titles(pipeline, {f"second {i}": 1 for i in range(keys)}, 240)
        await asyncio.sleep(2)  # a late duplicate would show up here
        found = await titles(pipeline)
        assert sum(found.values()) == 2 * keys and set(found.values()) == {1}, found
