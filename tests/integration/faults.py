"""What the fault tests share: a sender at a steady rate, the worker group's membership,
and what reached Elasticsearch, counted in full."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from elasticsearch import AsyncElasticsearch

from schemas.settings import Settings
from tests.integration.pipeline import Pipeline, WorkerProcess


async def at_rate(
    rate: float,
    send: Callable[[int], Awaitable[None]],
    stop: asyncio.Event | None = None,
    count: int | None = None,
) -> None:
    """Start send(0), send(1), ... `rate` times a second, none waiting for another, until
    `stop` is set or `count` were started; then wait for all of them. A sender that keeps
    its pace whatever the answers, as monitoring tools do."""
    pending: set[asyncio.Task[None]] = set()
    started = time.monotonic()
    i = 0
    while (stop is None or not stop.is_set()) and (count is None or i < count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(send(i))  # type: ignore[arg-type]
        pending.add(task)
        task.add_done_callback(pending.discard)
        i += 1
    await asyncio.gather(*pending)


async def indexed_keys(es: AsyncElasticsearch, index: str) -> Counter[str]:
    """Every indexed event_key with how many events carry it (search_after, in full)."""
    await es.indices.refresh(index=index)
    keys: Counter[str] = Counter()
    after = None
    while True:
        page = await es.search(
            index=index, size=5000, sort=[{"event_key": "asc"}, {"event_id": "asc"}],
            source=["event_key"], search_after=after,
        )  # fmt: skip
        hits = page["hits"]["hits"]
        if not hits:
            return keys
        keys.update(hit["_source"]["event_key"] for hit in hits)
        after = hits[-1]["sort"]


async def distinct_event_keys(pipeline: Pipeline) -> set[str]:
    """Every indexed event_key of the pipeline's events, read in full."""
    return set(await indexed_keys(pipeline.es, pipeline.settings.indices.events))


async def wait_indexed(pipeline: Pipeline, count: int, seconds: float) -> None:
    async def done() -> bool:
        return await pipeline.count_indexed() >= count

    await pipeline.wait_for(done, seconds, f"{count} indexed events")


async def group_members_are(settings: Settings, count: int) -> bool:
    """True when the worker group is stable with `count` members holding partitions."""
    admin = AIOKafkaAdminClient(**settings.kafka.client_options())
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([settings.ingest.worker_group])
    finally:
        await admin.close()
    _error, _group, state, _protocol_type, _protocol, members = response.groups[0]
    return state == "Stable" and len(members) == count


async def worker_joined(settings: Settings) -> bool:
    """One worker in the group; False while a fresh broker has no coordinator yet."""
    try:
        return await group_members_are(settings, 1)
    except KafkaError:
        return False


@contextlib.asynccontextmanager
async def second_worker(pipeline: Pipeline, tmp_path: Path) -> AsyncIterator[WorkerProcess]:
    """A second worker process beside the pipeline's, both in the group with partitions;
    stopped at the end (killing it is the test's to do)."""
    second = WorkerProcess(pipeline.worker.settings, tmp_path / "second-worker.log")
    await second.start()
    try:
        await pipeline.wait_for(
            lambda: group_members_are(pipeline.settings, 2), 120, "two workers in the group"
        )
        yield second
    finally:
        await second.stop()
